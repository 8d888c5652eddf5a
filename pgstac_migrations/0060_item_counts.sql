-- Exact item counts without a scan: live items per (project, collection, type, lifecycle state),
-- kept by statement-level triggers in the same transaction as every write to geopera.items.
-- NOTE: every write path (ops, the bulk loader's COPY, lifecycle, deletes, moves, duplicates,
-- restores) changes geopera.items, so one set of triggers keeps the counters exact for all of
-- them; a write path added later cannot forget them. Uncollected items count under the nil
-- UUID. Each counter is split into `slot`s chosen by the writing backend so that two writers
-- of the same collection (the loader's parallel writers, concurrent items.create) rarely wait
-- on the same row; a count is the sum over the slots.

CREATE TABLE IF NOT EXISTS geopera.item_counts (
    project_id uuid NOT NULL,
    collection_id uuid NOT NULL,
    type text NOT NULL,
    lifecycle_state text NOT NULL,
    slot smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (project_id, collection_id, type, lifecycle_state, slot)
);

CREATE OR REPLACE FUNCTION geopera.item_counts_ins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO geopera.item_counts AS c (project_id, collection_id, type, lifecycle_state,
                                          slot, n)
    SELECT project_id, coalesce(collection_id, '00000000-0000-0000-0000-000000000000'),
           type, lifecycle_state, pg_backend_pid() % 16, count(*)
    FROM new_rows WHERE deleted_at IS NULL
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (project_id, collection_id, type, lifecycle_state, slot)
    DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.item_counts_upd() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- NOTE: most updates (names, geometry, updated_at) move no counter: the deltas cancel and
    -- HAVING drops them, so no counter row is locked.
    INSERT INTO geopera.item_counts AS c (project_id, collection_id, type, lifecycle_state,
                                          slot, n)
    SELECT project_id, coalesce(collection_id, '00000000-0000-0000-0000-000000000000'),
           type, lifecycle_state, pg_backend_pid() % 16, sum(d)
    FROM (SELECT project_id, collection_id, type, lifecycle_state, 1 AS d
          FROM new_rows WHERE deleted_at IS NULL
          UNION ALL
          SELECT project_id, collection_id, type, lifecycle_state, -1
          FROM old_rows WHERE deleted_at IS NULL) x
    GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4
    ON CONFLICT (project_id, collection_id, type, lifecycle_state, slot)
    DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.item_counts_del() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO geopera.item_counts AS c (project_id, collection_id, type, lifecycle_state,
                                          slot, n)
    SELECT project_id, coalesce(collection_id, '00000000-0000-0000-0000-000000000000'),
           type, lifecycle_state, pg_backend_pid() % 16, -count(*)
    FROM old_rows WHERE deleted_at IS NULL
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (project_id, collection_id, type, lifecycle_state, slot)
    DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'item_counts_ins_trg') THEN
        -- NOTE: no write may slip between the backfill and the triggers.
        LOCK TABLE geopera.items IN SHARE ROW EXCLUSIVE MODE;
        DELETE FROM geopera.item_counts;
        INSERT INTO geopera.item_counts
        SELECT project_id, coalesce(collection_id, '00000000-0000-0000-0000-000000000000'),
               type, lifecycle_state, 0, count(*)
        FROM geopera.items WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4;
        CREATE TRIGGER item_counts_ins_trg AFTER INSERT ON geopera.items
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.item_counts_ins();
        CREATE TRIGGER item_counts_upd_trg AFTER UPDATE ON geopera.items
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.item_counts_upd();
        CREATE TRIGGER item_counts_del_trg AFTER DELETE ON geopera.items
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geopera.item_counts_del();
    END IF;
END $$;
