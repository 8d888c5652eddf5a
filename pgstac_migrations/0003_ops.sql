-- Op surface: shared-file tracking for duplicated assets, ledger lookups, acyclic lineage.

-- NOTE: a duplicated asset re-points at its source's stored file. `origin_id` names the asset
-- that owns the file (always the first, never a copy: chains are flattened), so the storage
-- ledger can credit and debit each underlying file exactly once.
ALTER TABLE geopera.assets ADD COLUMN IF NOT EXISTS origin_id uuid REFERENCES geopera.assets(id);
CREATE INDEX IF NOT EXISTS assets_origin_idx ON geopera.assets (origin_id) WHERE origin_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS assets_item_idx ON geopera.assets (item_id);
CREATE INDEX IF NOT EXISTS storage_ledger_asset_idx ON geopera.storage_ledger (asset_id);
CREATE INDEX IF NOT EXISTS lineage_parent_idx ON geopera.lineage (parent_id);
-- NOTE: collections.delete unlinks by collection_id including rows the partial index skips.
CREATE INDEX IF NOT EXISTS items_collection_idx ON geopera.items (collection_id)
    WHERE collection_id IS NOT NULL;

-- Lineage must stay a DAG: refuse an edge whose parent is already reachable from its child.
CREATE OR REPLACE FUNCTION geopera.lineage_no_cycle() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- NOTE: serialise edge inserts so two concurrent inserts cannot close a cycle together.
    PERFORM pg_advisory_xact_lock(hashtext('geopera.lineage'));
    IF EXISTS (
        WITH RECURSIVE down(id) AS (
            SELECT NEW.child_id
            UNION
            SELECT l.child_id FROM geopera.lineage l JOIN down d ON l.parent_id = d.id
        )
        SELECT 1 FROM down WHERE id = NEW.parent_id
    ) THEN
        RAISE EXCEPTION 'lineage edge % -> % would create a cycle', NEW.parent_id, NEW.child_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lineage_acyclic';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS lineage_no_cycle ON geopera.lineage;
CREATE TRIGGER lineage_no_cycle BEFORE INSERT OR UPDATE ON geopera.lineage
    FOR EACH ROW EXECUTE FUNCTION geopera.lineage_no_cycle();
