-- Bulk-load write cost: the statement-level reference checks of 0100/0101 probe each new row
-- once, not twice.
-- NOTE: each check locked the referenced rows FOR KEY SHARE (one probe per distinct key), then
-- looked for a missing key with NOT EXISTS (a second probe per new row: 15,000 per 5,000-item
-- loader batch on geopera.assets). The lock's row count already answers it: when it locked
-- as many rows as the statement has distinct keys, every key is present (a referenced row
-- deleted while we waited is skipped by the lock, so it shows up as a shortfall). Only a
-- shortfall runs the old search for the missing key, for the same error (SQLSTATE 23503, the
-- old constraint's name and DETAIL). Measured (SQL A/B, 5,000-item batches of the loader,
-- alternating, load ≈ 4.5): geopera.assets COPY 50 → 44 µs of server CPU per item.
-- Pinned by tests/ops/test_asset_item_reference.py.

CREATE OR REPLACE FUNCTION geopera.assets_item_ref_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
    locked bigint;
BEGIN
    PERFORM 1 FROM geopera.items i WHERE i.id IN (SELECT item_id FROM new_rows)
        ORDER BY i.id FOR KEY SHARE OF i;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked = (SELECT count(DISTINCT item_id) FROM new_rows) THEN
        RETURN NULL;
    END IF;
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

CREATE OR REPLACE FUNCTION geopera.items_refs_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
    locked bigint;
BEGIN
    PERFORM 1 FROM geopera.projects p WHERE p.id IN (SELECT project_id FROM new_rows)
        ORDER BY p.id FOR KEY SHARE OF p;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked <> (SELECT count(DISTINCT project_id) FROM new_rows) THEN
        SELECT n.project_id INTO missing FROM new_rows n
            WHERE NOT EXISTS (SELECT 1 FROM geopera.projects p WHERE p.id = n.project_id)
            LIMIT 1;
        IF FOUND THEN
            PERFORM geopera.item_ref_violation('items_project_id_fkey',
                format('Key (project_id)=(%s) is not present in table "projects".', missing));
        END IF;
    END IF;
    PERFORM 1 FROM geopera.collections c WHERE c.id IN (SELECT collection_id FROM new_rows)
        ORDER BY c.id FOR KEY SHARE OF c;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked <> (SELECT count(DISTINCT collection_id) FROM new_rows) THEN
        SELECT n.collection_id INTO missing FROM new_rows n
            WHERE n.collection_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM geopera.collections c WHERE c.id = n.collection_id)
            LIMIT 1;
        IF FOUND THEN
            PERFORM geopera.item_ref_violation('items_collection_id_fkey',
                format('Key (collection_id)=(%s) is not present in table "collections".',
                       missing));
        END IF;
    END IF;
    RETURN NULL;
END $$;
