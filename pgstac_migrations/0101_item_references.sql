-- Bulk-load write cost: items → projects and items → collections checked once per statement.
-- NOTE: as in 0100 for assets: each foreign key checked every inserted item with its own query,
-- ≈ 50 µs per item for the two together (SQL A/B, 20,000 item rows, load ≈ 10: 2.2–2.3 s with
-- them vs 1.2–1.3 s without), nearly half of an item row's insert cost. One statement-level
-- trigger per INSERT locks the referenced projects and collections FOR KEY SHARE (as the
-- foreign keys do, so a concurrent delete of one waits) and fails with SQLSTATE 23503 and the
-- old constraint's name when one is missing. Row-level checks for the rare paths: an item's
-- project or collection changed, a project or collection deleted or re-keyed while items still
-- refer to it (NO ACTION). Pinned by tests/ops/test_asset_item_reference.py.

CREATE OR REPLACE FUNCTION geopera.item_ref_violation(constraint_name text, detail text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "items" violates foreign key constraint "%"',
        constraint_name
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = constraint_name,
              SCHEMA = 'geopera', TABLE = 'items', DETAIL = detail;
END $$;

CREATE OR REPLACE FUNCTION geopera.items_refs_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
BEGIN
    PERFORM 1 FROM geopera.projects p WHERE p.id IN (SELECT project_id FROM new_rows)
        ORDER BY p.id FOR KEY SHARE OF p;
    SELECT n.project_id INTO missing FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM geopera.projects p WHERE p.id = n.project_id) LIMIT 1;
    IF FOUND THEN
        PERFORM geopera.item_ref_violation('items_project_id_fkey',
            format('Key (project_id)=(%s) is not present in table "projects".', missing));
    END IF;
    PERFORM 1 FROM geopera.collections c WHERE c.id IN (SELECT collection_id FROM new_rows)
        ORDER BY c.id FOR KEY SHARE OF c;
    SELECT n.collection_id INTO missing FROM new_rows n
        WHERE n.collection_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM geopera.collections c WHERE c.id = n.collection_id)
        LIMIT 1;
    IF FOUND THEN
        PERFORM geopera.item_ref_violation('items_collection_id_fkey',
            format('Key (collection_id)=(%s) is not present in table "collections".', missing));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.items_refs_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.project_id IS DISTINCT FROM OLD.project_id THEN
        PERFORM 1 FROM geopera.projects p WHERE p.id = NEW.project_id FOR KEY SHARE OF p;
        IF NOT FOUND THEN
            PERFORM geopera.item_ref_violation('items_project_id_fkey',
                format('Key (project_id)=(%s) is not present in table "projects".',
                       NEW.project_id));
        END IF;
    END IF;
    IF NEW.collection_id IS NOT NULL AND NEW.collection_id IS DISTINCT FROM OLD.collection_id THEN
        PERFORM 1 FROM geopera.collections c WHERE c.id = NEW.collection_id FOR KEY SHARE OF c;
        IF NOT FOUND THEN
            PERFORM geopera.item_ref_violation('items_collection_id_fkey',
                format('Key (collection_id)=(%s) is not present in table "collections".',
                       NEW.collection_id));
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.item_parent_ref_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    referenced boolean;
    fkey text := CASE TG_TABLE_NAME WHEN 'projects' THEN 'items_project_id_fkey'
                                    ELSE 'items_collection_id_fkey' END;
BEGIN
    IF TG_TABLE_NAME = 'projects' THEN
        referenced := EXISTS (SELECT 1 FROM geopera.items i WHERE i.project_id = OLD.id);
    ELSE
        referenced := EXISTS (SELECT 1 FROM geopera.items i WHERE i.collection_id = OLD.id);
    END IF;
    IF referenced THEN
        RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "items"',
            TG_TABLE_NAME, fkey
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = fkey, SCHEMA = 'geopera',
                  TABLE = TG_TABLE_NAME,
                  DETAIL = format('Key (id)=(%s) is still referenced from table "items".', OLD.id);
    END IF;
    RETURN NULL;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'items_refs_insert_trg') THEN
        -- NOTE: no row may slip in between dropping the constraints and the triggers.
        LOCK TABLE geopera.items, geopera.projects, geopera.collections
            IN SHARE ROW EXCLUSIVE MODE;
        ALTER TABLE geopera.items DROP CONSTRAINT IF EXISTS items_project_id_fkey;
        ALTER TABLE geopera.items DROP CONSTRAINT IF EXISTS items_collection_id_fkey;
        CREATE TRIGGER items_refs_insert_trg AFTER INSERT ON geopera.items
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.items_refs_insert();
        CREATE TRIGGER items_refs_update_trg AFTER UPDATE OF project_id, collection_id
            ON geopera.items FOR EACH ROW
            WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id
                  OR OLD.collection_id IS DISTINCT FROM NEW.collection_id)
            EXECUTE FUNCTION geopera.items_refs_update();
        CREATE TRIGGER projects_item_ref_delete_trg AFTER DELETE ON geopera.projects
            FOR EACH ROW EXECUTE FUNCTION geopera.item_parent_ref_check();
        CREATE TRIGGER projects_item_ref_update_trg AFTER UPDATE OF id ON geopera.projects
            FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
            EXECUTE FUNCTION geopera.item_parent_ref_check();
        CREATE TRIGGER collections_item_ref_delete_trg AFTER DELETE ON geopera.collections
            FOR EACH ROW EXECUTE FUNCTION geopera.item_parent_ref_check();
        CREATE TRIGGER collections_item_ref_update_trg AFTER UPDATE OF id ON geopera.collections
            FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
            EXECUTE FUNCTION geopera.item_parent_ref_check();
    END IF;
END $$;
