-- Bulk-load write cost: the assets → items reference checked once per statement, not per row.
-- NOTE: a foreign key checks each inserted asset with its own query (≈ 23 µs per row on the
-- busy bench machine, 55% of an asset row's insert cost; three asset rows per loaded item).
-- The same rule, set-based: one statement-level trigger per INSERT on assets locks the
-- referenced items FOR KEY SHARE (as the foreign key does, so a concurrent delete of one waits
-- for the inserting transaction) and fails with SQLSTATE 23503 (foreign_key_violation, what
-- db/pool.translate maps) when one is missing. The rare paths keep row-level checks: an
-- asset's item_id changed, an item deleted or its id changed while assets still refer to it
-- (the foreign key's NO ACTION). Pinned by tests/ops/test_asset_item_reference.py.

CREATE OR REPLACE FUNCTION geopera.assets_item_ref_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
BEGIN
    PERFORM 1 FROM geopera.items i WHERE i.id IN (SELECT item_id FROM new_rows)
        ORDER BY i.id FOR KEY SHARE OF i;
    SELECT n.item_id INTO missing FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM geopera.items i WHERE i.id = n.item_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "assets" violates foreign key constraint "assets_item_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'assets_item_id_fkey',
                  SCHEMA = 'geopera', TABLE = 'assets',
                  DETAIL = format('Key (item_id)=(%s) is not present in table "items".', missing);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.assets_item_ref_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM geopera.items i WHERE i.id = NEW.item_id FOR KEY SHARE OF i;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insert or update on table "assets" violates foreign key constraint "assets_item_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'assets_item_id_fkey',
                  SCHEMA = 'geopera', TABLE = 'assets',
                  DETAIL = format('Key (item_id)=(%s) is not present in table "items".', NEW.item_id);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.items_asset_ref_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM geopera.assets a WHERE a.item_id = OLD.id) THEN
        RAISE EXCEPTION 'update or delete on table "items" violates foreign key constraint "assets_item_id_fkey" on table "assets"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'assets_item_id_fkey',
                  SCHEMA = 'geopera', TABLE = 'items',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "assets".', OLD.id);
    END IF;
    RETURN NULL;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'assets_item_ref_insert_trg') THEN
        -- NOTE: no asset row may slip in between dropping the constraint and the triggers.
        LOCK TABLE geopera.assets, geopera.items IN SHARE ROW EXCLUSIVE MODE;
        ALTER TABLE geopera.assets DROP CONSTRAINT IF EXISTS assets_item_id_fkey;
        CREATE TRIGGER assets_item_ref_insert_trg AFTER INSERT ON geopera.assets
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.assets_item_ref_insert();
        CREATE TRIGGER assets_item_ref_update_trg AFTER UPDATE OF item_id ON geopera.assets
            FOR EACH ROW WHEN (OLD.item_id IS DISTINCT FROM NEW.item_id)
            EXECUTE FUNCTION geopera.assets_item_ref_update();
        CREATE TRIGGER items_asset_ref_delete_trg AFTER DELETE ON geopera.items
            FOR EACH ROW EXECUTE FUNCTION geopera.items_asset_ref_check();
        CREATE TRIGGER items_asset_ref_update_trg AFTER UPDATE OF id ON geopera.items
            FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
            EXECUTE FUNCTION geopera.items_asset_ref_check();
    END IF;
END $$;
