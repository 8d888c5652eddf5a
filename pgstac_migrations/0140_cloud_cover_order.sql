-- eo:cloud_cover as a number WITH the id tie-break, on every pgstac partition (present and
-- future: declared on the partitioned parent), replacing 0090's single-column index.
-- NOTE: `sortby eo:cloud_cover` orders by exactly this expression then the id (search/fields.py
-- CLOUD_COVER; NULLs, i.e. values that are not numbers, last), so each partition's index scan
-- delivers the order, a MergeAppend merges the partitions and the page stops at offset + limit
-- instead of sorting every visible row (benchmarks/search/README.md, issue 13). Filters on
-- eo:cloud_cover use it as they used 0090's (same leading expression), and an index-only scan
-- of it hands the guard the id without reading the item's content.
CREATE INDEX IF NOT EXISTS items_eo_cloud_cover_num_id ON pgstac.items (
    (CASE WHEN jsonb_typeof(content->'properties'->'eo:cloud_cover') = 'number'
          THEN (content->'properties'->'eo:cloud_cover')::float8 END), id);
DROP INDEX IF EXISTS pgstac.items_eo_cloud_cover_num;
