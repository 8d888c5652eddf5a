-- Bulk-load write cost: drop an index no query uses.
-- NOTE: every read of assets by item filters `deleted_at IS NULL` and is served by the partial
-- unique index assets_item_key_uq (item_id, key). assets_item_idx only ever sped up foreign-key
-- checks for deleting or re-keying a geopera.items row, which never happens (items are
-- soft-deleted). It cost ≈ 5 µs per loaded item (3 asset rows each).
DROP INDEX IF EXISTS geopera.assets_item_idx;
