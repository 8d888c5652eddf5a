-- Egress ledger (one row per signed-URL grant) and the lifecycle transition history.
-- Rate limits are computed from the ledger under a per-account advisory lock, so no separate
-- counter state is needed (see docs/downloads-lifecycle.md).

CREATE TABLE IF NOT EXISTS geopera.egress_ledger (
    -- NOTE: the grant id; it is also part of the signed local URL, tying a URL to its grant.
    id uuid PRIMARY KEY,
    at timestamptz NOT NULL,
    -- NOTE: the billing account: the organization, or the project when it has none.
    account_id uuid NOT NULL,
    org_id uuid,
    project_id uuid NOT NULL,
    principal_id uuid NOT NULL,
    api_key_id uuid,
    item_id uuid NOT NULL,
    asset_id uuid NOT NULL,
    bytes bigint NOT NULL CHECK (bytes >= 0)
);
-- The bandwidth breaker sums an account's bytes over a sliding window; INCLUDE keeps it index-only.
CREATE INDEX IF NOT EXISTS egress_ledger_account_at_idx
    ON geopera.egress_ledger (account_id, at) INCLUDE (bytes);
-- The per-asset rate limit counts an asset's grants over a sliding window.
CREATE INDEX IF NOT EXISTS egress_ledger_asset_at_idx ON geopera.egress_ledger (asset_id, at);

-- Every state change the lifecycle machinery (job or plan change) made, for audit and for
-- telling retention deletions (download → 410) from user deletions (download → 404).
CREATE TABLE IF NOT EXISTS geopera.lifecycle_events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    item_id uuid NOT NULL REFERENCES geopera.items(id),
    from_state text NOT NULL,
    to_state text NOT NULL,
    reason text NOT NULL
);
CREATE INDEX IF NOT EXISTS lifecycle_events_item_idx ON geopera.lifecycle_events (item_id, at);
