-- Tenancy: organizations, projects, users, memberships and API keys.
-- Platform state lives in the `geopera` schema; pgstac's tables are never altered.

CREATE SCHEMA IF NOT EXISTS geopera;

CREATE TABLE IF NOT EXISTS geopera.organizations (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'paid')),
    subscription_status text NOT NULL DEFAULT 'active'
        CHECK (subscription_status IN ('active', 'past_due')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS geopera.projects (
    id uuid PRIMARY KEY,
    org_id uuid REFERENCES geopera.organizations(id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- NOTE: the pgstac collection that holds this project's uncollected items.
    inbox_collection text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS projects_org_idx ON geopera.projects (org_id);

CREATE TABLE IF NOT EXISTS geopera.users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_uq ON geopera.users (lower(email));

CREATE TABLE IF NOT EXISTS geopera.memberships (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES geopera.users(id),
    org_id uuid REFERENCES geopera.organizations(id),
    project_id uuid REFERENCES geopera.projects(id),
    role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin', 'owner')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((org_id IS NULL) <> (project_id IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS memberships_org_uq
    ON geopera.memberships (user_id, org_id) WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS memberships_project_uq
    ON geopera.memberships (user_id, project_id) WHERE project_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS geopera.api_keys (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES geopera.users(id),
    -- NOTE: SHA-256 of the full key. Keys carry 256 bits of entropy, so a fast hash is
    -- sufficient (no dictionary to attack) and keeps per-request verification cheap.
    key_hash bytea NOT NULL UNIQUE,
    prefix text NOT NULL,
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_user_idx ON geopera.api_keys (user_id);

-- Effective role of a user per project: the strongest of its project and organization grants.
CREATE OR REPLACE FUNCTION geopera.role_rank(role text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE role WHEN 'viewer' THEN 1 WHEN 'editor' THEN 2 WHEN 'admin' THEN 3
                     WHEN 'owner' THEN 4 ELSE 0 END
$$;

CREATE OR REPLACE VIEW geopera.project_roles AS
SELECT m.user_id, p.id AS project_id, max(geopera.role_rank(m.role)) AS rank
FROM geopera.memberships m
JOIN geopera.projects p ON p.id = m.project_id OR (m.org_id IS NOT NULL AND p.org_id = m.org_id)
GROUP BY m.user_id, p.id;
