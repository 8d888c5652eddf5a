-- Search engine index (docs/search.md has the EXPLAIN ANALYZE numbers behind it).
-- NOTE: the guard join probes geopera.items by its primary key (i.id = p.id::uuid) and a page's
-- assets come from assets_item_key_uq (item_id, key), so neither needs a new index.

-- Platform-only searches (type / collection / lifecycle filters, or none) count from
-- geopera.items alone with an index-only scan: 0.1 ms for `type = 'dem'` over 200k items
-- where the heap scan took 97 ms.
CREATE INDEX IF NOT EXISTS items_search_project_idx
    ON geopera.items (project_id, type, lifecycle_state)
    INCLUDE (collection_id)
    WHERE deleted_at IS NULL;
