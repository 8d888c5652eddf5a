-- `sortby updated` (either direction) walks an index of the platform rows instead of sorting
-- every live item of the project (issue 13 §2: orders stop at offset + limit).
-- NOTE: the twin of 0002's items_project_order_idx (created_at): a search ordered by a platform
-- field with no clause on pgstac's row picks its page from geopera.items alone
-- (search/engine.py _platform_first_page), the id tie-break sorted within equal timestamps.
-- Measured at 1M items in one project: 1.1 s -> see benchmarks/search/README.md.
CREATE INDEX IF NOT EXISTS items_project_updated_idx
    ON geopera.items (project_id, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
