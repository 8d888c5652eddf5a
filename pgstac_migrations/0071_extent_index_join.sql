-- Extent upkeep (0070) on large writes: find the platform rows of a statement's pgstac rows
-- through the items primary key, never a scan of geopera.items.
-- NOTE: joined on an expression of the transition table, the planner hashed the whole of
-- geopera.items for each bulk-load batch (cost growing with the catalog: the loader measured
-- 12 % slower with the upkeep on at 65k items). The added `i.id = ANY(<the batch's ids>)` is
-- an index condition, so each statement costs its own rows only.
CREATE OR REPLACE FUNCTION geopera.extent_stac_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO geopera.collection_extent_pending AS x (collection_id, x0, y0, x1, y1, t0, t1)
    SELECT i.collection_id, min(ST_XMin(n.geometry)), min(ST_YMin(n.geometry)),
           max(ST_XMax(n.geometry)), max(ST_YMax(n.geometry)), min(n.datetime),
           max(n.end_datetime)
    FROM new_rows n JOIN geopera.items i ON i.id = geopera.item_uuid(n.id)
    WHERE i.id = ANY (ARRAY(SELECT geopera.item_uuid(id) FROM new_rows))
      AND i.collection_id::text = n.collection AND i.deleted_at IS NULL
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
    WHERE i.id = ANY (ARRAY(SELECT geopera.item_uuid(id) FROM old_rows))
      AND i.collection_id::text = o.collection AND i.deleted_at IS NULL
      AND geopera.extent_edge(c, o.geometry, o.datetime, o.end_datetime)
    ORDER BY 1
    ON CONFLICT (collection_id, xid) DO UPDATE SET recompute = true;
    RETURN NULL;
END $$;
