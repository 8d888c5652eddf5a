-- Searches that do not probe the platform row per candidate (issue 13: counts and deep pages at
-- 1M items).
--
-- 1. The hidden set. Every pgstac row of a project's partitions is written by this service in
--    the same transaction as its platform row (items.create/update/duplicate, the loader, moves,
--    collections.delete, recovery), and an item's pgstac row stays when it is soft-deleted. So
--    the rows of a caller's visible partitions that a search must NOT show are exactly the
--    soft-deleted platform rows of those partitions. This partial index finds them (usually
--    none, or a few) without touching the live rows; the search engine excludes them with one
--    hashed subplan instead of probing geopera.items for each candidate row
--    (search/engine.py, "unguarded" plans). Live rows never enter it: the loader's COPY of live
--    items does not maintain it.
CREATE INDEX IF NOT EXISTS items_hidden_idx
    ON geopera.items (pgstac_collection, id) WHERE deleted_at IS NOT NULL;

-- 2. eo:cloud_cover on the platform row, so an exact count of a cloud-cover filter is an
--    index-only scan of the platform rows instead of a heap visit per matching pgstac row
--    (PostgreSQL cannot answer a filter on an expression index of pgstac's `content` from the
--    index alone: 49,600 matches of `eo:cloud_cover < 5` at 1M items read ~36,000 heap pages).
--    The value is the item's validated `cloud_cover` (a number 0-100, or absent), written by
--    every path that writes the pgstac content; it equals what search/fields.py num_of() reads
--    from that content (tests/search/test_unguarded_search.py checks every write path).
ALTER TABLE geopera.items ADD COLUMN IF NOT EXISTS cloud_cover float8;

-- NOTE: the backfill changes no counter, extent or reference: those triggers are switched off
-- for it, under a lock that keeps every other writer out until the migration commits.
LOCK TABLE geopera.items IN SHARE ROW EXCLUSIVE MODE;
ALTER TABLE geopera.items DISABLE TRIGGER item_counts_upd_trg;
ALTER TABLE geopera.items DISABLE TRIGGER extent_items_update_trg;
UPDATE geopera.items i
   SET cloud_cover = (p.content->'properties'->'eo:cloud_cover')::float8
  FROM pgstac.items p
 WHERE p.id = i.id::text AND p.collection = i.pgstac_collection
   AND jsonb_typeof(p.content->'properties'->'eo:cloud_cover') = 'number'
   AND i.cloud_cover IS NULL;
ALTER TABLE geopera.items ENABLE TRIGGER item_counts_upd_trg;
ALTER TABLE geopera.items ENABLE TRIGGER extent_items_update_trg;

CREATE INDEX IF NOT EXISTS items_cloud_cover_idx
    ON geopera.items (project_id, cloud_cover) INCLUDE (collection_id)
    WHERE deleted_at IS NULL;
