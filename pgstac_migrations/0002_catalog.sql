-- Catalog platform state: collections, items and assets beside pgstac's STAC content.
-- A Geopera collection is the pgstac collection with the same id; an uncollected item lives in
-- its project's inbox pgstac collection (geopera.projects.inbox_collection).

CREATE TABLE IF NOT EXISTS geopera.collections (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES geopera.projects(id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
    description text,
    color text CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
    show_on_map boolean NOT NULL DEFAULT true,
    layer_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX IF NOT EXISTS collections_project_idx
    ON geopera.collections (project_id, layer_order, created_at) WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS geopera.items (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES geopera.projects(id),
    collection_id uuid REFERENCES geopera.collections(id),
    -- NOTE: where the STAC content lives now: the collection's id, or the project's inbox.
    pgstac_collection text NOT NULL,
    type text NOT NULL DEFAULT 'image' CHECK (length(type) BETWEEN 1 AND 100),
    lifecycle_state text NOT NULL DEFAULT 'active'
        CHECK (lifecycle_state IN ('active', 'expiring', 'expired', 'archived', 'deleted')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    deleted_at timestamptz,
    CHECK ((deleted_at IS NULL) = (lifecycle_state <> 'deleted'))
);
-- The documented listing order: newest first, id as the tie-breaker (stable under paging).
CREATE INDEX IF NOT EXISTS items_project_order_idx
    ON geopera.items (project_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS items_collection_order_idx
    ON geopera.items (collection_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS items_expiry_idx
    ON geopera.items (expires_at) WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS geopera.assets (
    id uuid PRIMARY KEY,
    item_id uuid NOT NULL REFERENCES geopera.items(id),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    href text NOT NULL,
    media_type text,
    file_size_bytes bigint CHECK (file_size_bytes >= 0),
    roles text[] NOT NULL DEFAULT '{}',
    title text,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS assets_item_key_uq
    ON geopera.assets (item_id, key) WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS geopera.viz_profiles (
    item_id uuid NOT NULL REFERENCES geopera.items(id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    spec jsonb NOT NULL,
    PRIMARY KEY (item_id, name)
);

-- Lineage edges: child was derived from parent.
CREATE TABLE IF NOT EXISTS geopera.lineage (
    parent_id uuid NOT NULL REFERENCES geopera.items(id),
    child_id uuid NOT NULL REFERENCES geopera.items(id),
    relation text NOT NULL DEFAULT 'derived_from',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (parent_id, child_id),
    CHECK (parent_id <> child_id)
);
CREATE INDEX IF NOT EXISTS lineage_child_idx ON geopera.lineage (child_id);

-- One row per compute/destructive op, written in the same transaction as its change.
CREATE TABLE IF NOT EXISTS geopera.audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    principal_id uuid,
    api_key_id uuid,
    operation text NOT NULL,
    target_ids text[] NOT NULL DEFAULT '{}',
    request_id text
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON geopera.audit_log (at);

-- Storage billing: +bytes when an asset is created, -bytes when it is deleted.
CREATE TABLE IF NOT EXISTS geopera.storage_ledger (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    org_id uuid,
    project_id uuid NOT NULL,
    item_id uuid NOT NULL,
    asset_id uuid NOT NULL,
    delta_bytes bigint NOT NULL,
    reason text NOT NULL
);
CREATE INDEX IF NOT EXISTS storage_ledger_org_idx ON geopera.storage_ledger (org_id, at);
