-- Asset hrefs fetched with the API key (GET /v1/assets/...) reuse one grant per (key, asset)
-- for the signed-URL lifetime and add the bytes they serve to it; `via` tells them apart from
-- the grants items.asset.download issues (which count the asset's full size up front).
ALTER TABLE geopera.egress_ledger ADD COLUMN IF NOT EXISTS via text NOT NULL DEFAULT 'url';
DO $$ BEGIN
    ALTER TABLE geopera.egress_ledger ADD CONSTRAINT egress_ledger_via_check
        CHECK (via IN ('url', 'href'));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
-- The href route looks up a key's live grant of an asset on every ranged read.
CREATE INDEX IF NOT EXISTS egress_ledger_href_grant_idx
    ON geopera.egress_ledger (api_key_id, asset_id, at) WHERE via = 'href';
