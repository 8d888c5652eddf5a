-- An index of eo:cloud_cover as a number on every pgstac partition (present and future: it is
-- declared on the partitioned parent), for `filter=eo:cloud_cover<5`-style searches and their
-- exact counts, which otherwise read every item's content (benchmarks/search/README.md).
-- NOTE: the expression is exactly the one search/cql2sql.py writes for a declared numeric
-- property (a number, else NULL), so the planner matches it; strings and nulls are not indexed
-- values and compare as unknown there too.
CREATE INDEX IF NOT EXISTS items_eo_cloud_cover_num ON pgstac.items (
    (CASE WHEN jsonb_typeof(content->'properties'->'eo:cloud_cover') = 'number'
          THEN (content->'properties'->'eo:cloud_cover')::float8 END));
