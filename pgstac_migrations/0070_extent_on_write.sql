-- Collection extents maintained on write (replaces 0011's fold-on-read): the numbers live in
-- geopera.collection_extents, reads only format them.
-- NOTE: how each write keeps them exact, cheaply:
--  * an item's footprint/time enter a collection when its pgstac row is inserted while the
--    platform row says "live in this collection" (create, duplicate, bulk load, a re-created
--    row on update: every writer inserts geopera.items first), or when the platform row
--    becomes live in it (restore, move in, relink): the bounds are unioned in, O(rows written);
--  * they leave it when the pgstac row is deleted (update, move) or the platform row stops
--    being live there (delete, lifecycle, move out, unlink): only a leaving row that touches
--    the stored extent's edge can shrink it, and only then is the collection recomputed from
--    its live items (once per transaction, whatever the number of statements);
--  * statement triggers note the change per (collection, transaction) in
--    collection_extent_pending; a deferred trigger applies it at commit, so the extent row is
--    locked only while committing (concurrent writers of one collection wait for each other's
--    commit, not for each other's whole transaction).
-- NOTE: a table of its own, not columns of geopera.collections, and no foreign key: writers
-- hold FOR SHARE on their collection row for their whole transaction (items.create), so a
-- commit-time lock on that row would deadlock two concurrent creates.
CREATE TABLE IF NOT EXISTS geopera.collection_extents (
    collection_id uuid PRIMARY KEY,
    extent_bbox float8[],
    extent_start timestamptz,
    extent_end timestamptz
);

CREATE TABLE IF NOT EXISTS geopera.collection_extent_pending (
    collection_id uuid NOT NULL,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    x0 float8, y0 float8, x1 float8, y1 float8, t0 timestamptz, t1 timestamptz,
    recompute boolean NOT NULL DEFAULT false,
    PRIMARY KEY (collection_id, xid)
);

-- NOTE: the trigger functions run as their owner (SECURITY DEFINER, fixed search_path): pgstac's
-- own SECURITY DEFINER functions (delete_collection, …) write pgstac.items as a role that may
-- not read the geopera schema.

-- A pgstac item id as the platform's uuid, NULL for ids we did not write (never an error).
CREATE OR REPLACE FUNCTION geopera.item_uuid(id text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN id::uuid END
$$;

-- Whether an item's bounds reach the collection's stored extent (then removing it may shrink
-- the extent); an unknown extent always counts.
CREATE OR REPLACE FUNCTION geopera.extent_edge(c geopera.collection_extents, g geometry,
                                               t0 timestamptz, t1 timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT c IS NULL OR c.extent_bbox IS NULL OR g IS NULL
        OR ST_XMin(g) <= c.extent_bbox[1] OR ST_YMin(g) <= c.extent_bbox[2]
        OR ST_XMax(g) >= c.extent_bbox[3] OR ST_YMax(g) >= c.extent_bbox[4]
        OR t0 <= c.extent_start OR t1 >= c.extent_end
$$;

CREATE OR REPLACE FUNCTION geopera.extent_stac_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO geopera.collection_extent_pending AS x (collection_id, x0, y0, x1, y1, t0, t1)
    SELECT i.collection_id, min(ST_XMin(n.geometry)), min(ST_YMin(n.geometry)),
           max(ST_XMax(n.geometry)), max(ST_YMax(n.geometry)), min(n.datetime),
           max(n.end_datetime)
    FROM new_rows n JOIN geopera.items i ON i.id = geopera.item_uuid(n.id)
    WHERE i.collection_id::text = n.collection AND i.deleted_at IS NULL
    GROUP BY i.collection_id ORDER BY 1
    ON CONFLICT (collection_id, xid) DO UPDATE SET
        x0 = least(x.x0, EXCLUDED.x0), y0 = least(x.y0, EXCLUDED.y0),
        x1 = greatest(x.x1, EXCLUDED.x1), y1 = greatest(x.y1, EXCLUDED.y1),
        t0 = least(x.t0, EXCLUDED.t0), t1 = greatest(x.t1, EXCLUDED.t1);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.extent_stac_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
        RETURN NULL;
    END IF;
    INSERT INTO geopera.collection_extent_pending AS x (collection_id, recompute)
    SELECT DISTINCT i.collection_id, true
    FROM old_rows o JOIN geopera.items i ON i.id = geopera.item_uuid(o.id)
    LEFT JOIN geopera.collection_extents c ON c.collection_id = i.collection_id
    WHERE i.collection_id::text = o.collection AND i.deleted_at IS NULL
      AND geopera.extent_edge(c, o.geometry, o.datetime, o.end_datetime)
    ORDER BY 1
    ON CONFLICT (collection_id, xid) DO UPDATE SET recompute = true;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.extent_items_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    -- NOTE: most updates (names, properties, updated_at) change no membership: nothing to do.
    -- Live in a collection now and not before: restore, move in, relink.
    INSERT INTO geopera.collection_extent_pending AS x (collection_id, x0, y0, x1, y1, t0, t1)
    SELECT n.collection_id, min(ST_XMin(p.geometry)), min(ST_YMin(p.geometry)),
           max(ST_XMax(p.geometry)), max(ST_YMax(p.geometry)), min(p.datetime),
           max(p.end_datetime)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    JOIN pgstac.items p ON p.id = n.id::text AND p.collection = n.pgstac_collection
    WHERE n.collection_id IS NOT NULL AND n.deleted_at IS NULL
      AND (o.deleted_at IS NOT NULL OR o.collection_id IS DISTINCT FROM n.collection_id)
    GROUP BY n.collection_id ORDER BY 1
    ON CONFLICT (collection_id, xid) DO UPDATE SET
        x0 = least(x.x0, EXCLUDED.x0), y0 = least(x.y0, EXCLUDED.y0),
        x1 = greatest(x.x1, EXCLUDED.x1), y1 = greatest(x.y1, EXCLUDED.y1),
        t0 = least(x.t0, EXCLUDED.t0), t1 = greatest(x.t1, EXCLUDED.t1);
    -- Live in a collection before and not now: delete, lifecycle, move out, unlink.
    INSERT INTO geopera.collection_extent_pending AS x (collection_id, recompute)
    SELECT DISTINCT o.collection_id, true
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    LEFT JOIN geopera.collection_extents c ON c.collection_id = o.collection_id
    LEFT JOIN pgstac.items p ON p.id = n.id::text AND p.collection = n.pgstac_collection
    WHERE o.deleted_at IS NULL AND o.collection_id IS NOT NULL
      AND (n.deleted_at IS NOT NULL OR n.collection_id IS DISTINCT FROM o.collection_id)
      AND geopera.extent_edge(c, p.geometry, p.datetime, p.end_datetime)
    ORDER BY 1
    ON CONFLICT (collection_id, xid) DO UPDATE SET recompute = true;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.extent_items_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO geopera.collection_extent_pending AS x (collection_id, recompute)
    SELECT DISTINCT collection_id, true FROM old_rows
    WHERE collection_id IS NOT NULL AND deleted_at IS NULL
    ORDER BY 1
    ON CONFLICT (collection_id, xid) DO UPDATE SET recompute = true;
    RETURN NULL;
END $$;

-- The live items' extent of one collection (the recompute; proportional to its size).
CREATE OR REPLACE FUNCTION geopera.extent_recompute(cid uuid) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO geopera.collection_extents AS c (collection_id, extent_bbox, extent_start,
                                                extent_end)
    SELECT cid, CASE WHEN s.x0 IS NULL THEN NULL ELSE ARRAY[s.x0, s.y0, s.x1, s.y1] END,
           s.t0, s.t1
    FROM (SELECT min(ST_XMin(p.geometry)) AS x0, min(ST_YMin(p.geometry)) AS y0,
                 max(ST_XMax(p.geometry)) AS x1, max(ST_YMax(p.geometry)) AS y1,
                 min(p.datetime) AS t0, max(p.end_datetime) AS t1
          FROM geopera.items i
          JOIN pgstac.items p ON p.id = i.id::text AND p.collection = i.pgstac_collection
          WHERE i.collection_id = cid AND p.collection = cid::text AND i.deleted_at IS NULL) s
    ON CONFLICT (collection_id) DO UPDATE SET extent_bbox = EXCLUDED.extent_bbox,
        extent_start = EXCLUDED.extent_start, extent_end = EXCLUDED.extent_end
$$;

-- At commit, once per transaction: every noted collection of this transaction, in id order
-- (two committing writers lock extent rows in the same order: no deadlock).
CREATE OR REPLACE FUNCTION geopera.extent_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    p geopera.collection_extent_pending;
BEGIN
    FOR p IN SELECT * FROM geopera.collection_extent_pending
             WHERE xid = pg_current_xact_id() ORDER BY collection_id LOOP
        -- NOTE: every applier locks, grow-only ones too: a grow checked against the extent
        -- while another transaction recomputes it (from a snapshot without this one's rows)
        -- would be lost. The lock is held from here to the end of this commit only.
        INSERT INTO geopera.collection_extents (collection_id) VALUES (p.collection_id)
            ON CONFLICT (collection_id) DO NOTHING;
        PERFORM 1 FROM geopera.collection_extents WHERE collection_id = p.collection_id
            FOR NO KEY UPDATE;
        IF p.recompute THEN
            -- NOTE: a new statement, so its snapshot sees what the writer we waited for
            -- committed.
            PERFORM geopera.extent_recompute(p.collection_id);
        ELSE
            -- NOTE: a new row version only when the bounds reach outside the stored extent.
            UPDATE geopera.collection_extents SET
                extent_bbox = ARRAY[least(extent_bbox[1], p.x0), least(extent_bbox[2], p.y0),
                                    greatest(extent_bbox[3], p.x1),
                                    greatest(extent_bbox[4], p.y1)],
                extent_start = least(extent_start, p.t0),
                extent_end = greatest(extent_end, p.t1)
            WHERE collection_id = p.collection_id
              AND (extent_bbox IS NULL OR extent_start IS NULL OR p.x0 < extent_bbox[1]
                   OR p.y0 < extent_bbox[2] OR p.x1 > extent_bbox[3] OR p.y1 > extent_bbox[4]
                   OR p.t0 < extent_start OR p.t1 > extent_end);
        END IF;
    END LOOP;
    DELETE FROM geopera.collection_extent_pending WHERE xid = pg_current_xact_id();
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS items_extent_insert ON geopera.items;
DROP TRIGGER IF EXISTS items_extent_update ON geopera.items;
DROP TRIGGER IF EXISTS items_extent_delete ON geopera.items;
DROP FUNCTION IF EXISTS geopera.note_extent_insert();
DROP FUNCTION IF EXISTS geopera.note_extent_update();
DROP FUNCTION IF EXISTS geopera.note_extent_delete();
DROP TABLE IF EXISTS geopera.collection_extent_changes;
ALTER TABLE geopera.collections DROP COLUMN IF EXISTS extent;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'extent_stac_insert_trg') THEN
        -- NOTE: no write may slip between the backfill and the triggers.
        LOCK TABLE geopera.items, pgstac.items IN SHARE ROW EXCLUSIVE MODE;
        PERFORM geopera.extent_recompute(id) FROM geopera.collections;
        CREATE TRIGGER extent_stac_insert_trg AFTER INSERT ON pgstac.items
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.extent_stac_insert();
        CREATE TRIGGER extent_stac_delete_trg AFTER DELETE ON pgstac.items
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.extent_stac_delete();
        CREATE TRIGGER extent_items_update_trg AFTER UPDATE ON geopera.items
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.extent_items_update();
        CREATE TRIGGER extent_items_delete_trg AFTER DELETE ON geopera.items
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.extent_items_delete();
        CREATE CONSTRAINT TRIGGER extent_apply_trg AFTER INSERT
            ON geopera.collection_extent_pending DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION geopera.extent_apply();
    END IF;
END $$;
