-- An item's datetime and end_datetime on its platform row, so the exact count of a datetime
-- window (with or without eo:cloud_cover comparisons, whose copy migration 0150 added) is an
-- index-only scan of the platform rows instead of a heap visit per candidate pgstac row.
-- NOTE: measured at 1M items (benchmarks/search/README.md): a 6-day window with
-- `eo:cloud_cover < 20` (1,122 matches among ~5,500 rows of the window) counted in 20-35 ms
-- from pgstac's rows (~3.5 us per heap visit, one page per row) and the cloud-cover bitmap.
-- The values are pgstac's own (pgstac.stac_datetime / stac_end_datetime of the content, or the
-- loader's COPY text of the same row), written with the content by every path that writes it
-- (tests/conftest.py UNPAIRED checks every write path).
ALTER TABLE geopera.items ADD COLUMN IF NOT EXISTS starts_at timestamptz;
ALTER TABLE geopera.items ADD COLUMN IF NOT EXISTS ends_at timestamptz;

-- NOTE: as in 0150: no counter, extent or reference changes; other writers wait.
LOCK TABLE geopera.items IN SHARE ROW EXCLUSIVE MODE;
ALTER TABLE geopera.items DISABLE TRIGGER item_counts_upd_trg;
ALTER TABLE geopera.items DISABLE TRIGGER extent_items_update_trg;
UPDATE geopera.items i
   SET starts_at = p.datetime, ends_at = p.end_datetime
  FROM pgstac.items p
 WHERE p.id = i.id::text AND p.collection = i.pgstac_collection
   AND (i.starts_at IS DISTINCT FROM p.datetime OR i.ends_at IS DISTINCT FROM p.end_datetime);
ALTER TABLE geopera.items ENABLE TRIGGER item_counts_upd_trg;
ALTER TABLE geopera.items ENABLE TRIGGER extent_items_update_trg;

-- A window [lo, hi] matches `starts_at <= hi AND ends_at >= lo`; instants (ends_at =
-- starts_at, most imagery) come from the bounded range [lo, hi] of the first index, spanned
-- rows from the second (empty for a catalog of instants): search/where.py datetime_clauses.
CREATE INDEX IF NOT EXISTS items_starts_at_idx
    ON geopera.items (project_id, starts_at DESC) INCLUDE (ends_at, cloud_cover, collection_id)
    WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS items_span_idx
    ON geopera.items (project_id, starts_at DESC) INCLUDE (ends_at, cloud_cover, collection_id)
    WHERE deleted_at IS NULL AND ends_at <> starts_at;
