-- Collection extents that follow their live items. Every statement that writes geopera.items
-- (create, duplicate, bulk load, update, move, delete, lifecycle) notes the collections it
-- touched in collection_extent_changes (an INSERT: no row lock on the collection, so concurrent
-- writers never wait on each other); the STAC collection endpoints fold the noted changes into
-- geopera.collections.extent when they next read the collection.
ALTER TABLE geopera.collections ADD COLUMN IF NOT EXISTS extent jsonb;

CREATE TABLE IF NOT EXISTS geopera.collection_extent_changes (
    collection_id uuid NOT NULL,
    -- NOTE: inserts only grow an extent: the items created at or after grow_from are folded
    -- into the stored extent (an index range). NULL (update, move, delete) = recompute.
    grow_from timestamptz
);
CREATE INDEX IF NOT EXISTS collection_extent_changes_idx
    ON geopera.collection_extent_changes (collection_id);

CREATE OR REPLACE FUNCTION geopera.note_extent_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO geopera.collection_extent_changes (collection_id, grow_from)
    SELECT collection_id, min(created_at) FROM new_rows
    WHERE collection_id IS NOT NULL GROUP BY collection_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.note_extent_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO geopera.collection_extent_changes (collection_id, grow_from)
    SELECT DISTINCT collection_id, NULL::timestamptz FROM (
        SELECT collection_id FROM old_rows UNION SELECT collection_id FROM new_rows) c
    WHERE collection_id IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION geopera.note_extent_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO geopera.collection_extent_changes (collection_id, grow_from)
    SELECT DISTINCT collection_id, NULL::timestamptz FROM old_rows
    WHERE collection_id IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER items_extent_insert AFTER INSERT ON geopera.items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION geopera.note_extent_insert();
CREATE OR REPLACE TRIGGER items_extent_update AFTER UPDATE ON geopera.items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION geopera.note_extent_update();
CREATE OR REPLACE TRIGGER items_extent_delete AFTER DELETE ON geopera.items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION geopera.note_extent_delete();

-- Collections that already have items start with a recompute.
INSERT INTO geopera.collection_extent_changes (collection_id, grow_from)
SELECT DISTINCT collection_id, NULL::timestamptz FROM geopera.items
WHERE collection_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM geopera.collection_extent_changes);
