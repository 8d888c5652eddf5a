-- Bucket authority: the object-store buckets (and key prefixes) an account may reference.
-- An s3:// or gs:// asset href is accepted (items.create, items.duplicate, the loader) and
-- signed (items.asset.download) only when a grant of the item's billing account covers it:
-- the organization's, or the project's own when it has no organization. Operators manage the
-- grants with `geopera-stac admin allow-bucket / list-buckets / disallow-bucket`.

CREATE TABLE IF NOT EXISTS geopera.bucket_grants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid REFERENCES geopera.organizations(id),
    project_id uuid REFERENCES geopera.projects(id),
    scheme text NOT NULL CHECK (scheme IN ('s3', 'gs')),
    bucket text NOT NULL CHECK (length(bucket) BETWEEN 1 AND 255),
    -- NOTE: '' (the whole bucket) or a key prefix ending in '/', so 'a/' never covers 'ab/'.
    prefix text NOT NULL DEFAULT '' CHECK (prefix = '' OR right(prefix, 1) = '/'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((org_id IS NULL) <> (project_id IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS bucket_grants_uq
    ON geopera.bucket_grants (coalesce(org_id, project_id), scheme, bucket, prefix);
