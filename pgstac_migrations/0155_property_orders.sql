-- The remaining sortable fields as index walks on every pgstac partition (present and future:
-- declared on the partitioned parent), like 0140 for eo:cloud_cover and 0152 for datetime.
-- NOTE: `sortby gsd`, `sortby title` (`name`) and `sortby end_datetime` sorted every visible
-- row (1M items: 1.8 s, 2.5 s and 1.3 s for a page of 10). gsd sorts as a number and title as
-- text (search/fields.py GSD, TITLE; a value of another type sorts with the missing ones,
-- last), each with the id tie-break, so a page walks each partition's index in order, merges
-- the partitions and stops at offset + limit; their keyset tokens resume inside the index.
-- Filters on gsd and title (declared queryables) use the same expressions.
CREATE INDEX IF NOT EXISTS items_gsd_num_id ON pgstac.items (
    (CASE WHEN jsonb_typeof(content->'properties'->'gsd') = 'number'
          THEN (content->'properties'->'gsd')::float8 END), id);
CREATE INDEX IF NOT EXISTS items_title_text_id ON pgstac.items (
    (CASE WHEN jsonb_typeof(content->'properties'->'title') = 'string'
          THEN content->'properties'->'title' #>> '{}' END), id);
CREATE INDEX IF NOT EXISTS items_end_datetime_id ON pgstac.items (end_datetime, id);
