-- Operator toolkit: when a key was last used, and what server-side recovery needs to know.

-- NOTE: written at most once a minute per key and process (auth.guard.touch_key), so listing
-- keys shows "last used" without a write per request.
ALTER TABLE geopera.api_keys ADD COLUMN IF NOT EXISTS last_used_at timestamptz;

-- The lifecycle state an item had when it was deleted, so a restore puts it back there (an
-- expired item stays expired). NULL for rows deleted before this migration: the restore then
-- reads geopera.lifecycle_events, else assumes active.
ALTER TABLE geopera.items ADD COLUMN IF NOT EXISTS state_before_delete text
    CHECK (state_before_delete IN ('active', 'expiring', 'expired', 'archived'));

-- Items a collections.delete unlinked, so `admin restore-collection --relink` can re-link
-- exactly those (and only while they are still uncollected).
CREATE TABLE IF NOT EXISTS geopera.collection_unlinks (
    collection_id uuid NOT NULL REFERENCES geopera.collections(id),
    item_id uuid NOT NULL REFERENCES geopera.items(id),
    unlinked_at timestamptz NOT NULL,
    PRIMARY KEY (collection_id, item_id)
);

-- `admin audit --project P`: rows naming a target id.
CREATE INDEX IF NOT EXISTS audit_log_targets_idx ON geopera.audit_log USING gin (target_ids);
