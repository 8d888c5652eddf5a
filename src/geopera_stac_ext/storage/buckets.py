"""Bucket authority: which s3:// and gs:// buckets (and key prefixes) an account may reference."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlparse

from geopera_stac_ext.core.errors import InvalidRequest, NotFound
from geopera_stac_ext.storage.hrefs import SIGNED_SCHEMES, object_parts

# NOTE: S3 and GCS bucket names: lowercase letters, digits, '.', '-', '_' (GCS); S3-compatible
# servers accept shorter names than AWS's 3, so only the character set is enforced.
_BUCKET = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,220}[a-z0-9])?$")
Grant = tuple[str, str, str]  # (scheme, bucket, prefix)

GRANTS_SQL = """
SELECT g.scheme, g.bucket, g.prefix FROM geopera.bucket_grants g
WHERE g.project_id = $1
   OR g.org_id = (SELECT p.org_id FROM geopera.projects p WHERE p.id = $1)
"""


def parse_grant_url(url: str) -> Grant:
    """(scheme, bucket, prefix) of `s3://bucket[/prefix/]`; the prefix always ends in '/'."""
    u = urlparse((url or "").strip())
    if u.scheme not in SIGNED_SCHEMES or not _BUCKET.match(u.netloc or "") or u.query \
            or u.fragment:
        raise InvalidRequest(f"--url must be s3://bucket[/prefix/] or gs://bucket[/prefix/] "
                             f"with a valid bucket name, got {url!r}")
    prefix = u.path.lstrip("/")
    if any(seg in ("", ".", "..") for seg in prefix.rstrip("/").split("/")) and prefix:
        raise InvalidRequest(f"--url prefix {prefix!r} has an empty, '.' or '..' segment")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return u.scheme, u.netloc, prefix


def covers(grants: list[Grant] | list[Any], scheme: str, bucket: str, key: str) -> bool:
    return any(g[0] == scheme and g[1] == bucket and key.startswith(g[2]) for g in grants)


async def account_grants(conn: Any, project_id: Any) -> list[Grant]:
    return [(r["scheme"], r["bucket"], r["prefix"])
            for r in await conn.fetch(GRANTS_SQL, uuid.UUID(str(project_id)))]


def check_grants(grants: list[Grant], href: str, field: str = "href") -> None:
    """400 naming `field` when `href` is an object-store URL no grant covers."""
    parts = object_parts(href)
    if parts is None:
        return
    if not covers(grants, *parts):
        scheme, bucket, _ = parts
        raise InvalidRequest(
            f"{field}: bucket {scheme}://{bucket}/ (at this key) is not allowed for this "
            "organization; an operator grants buckets with `geopera-stac admin allow-bucket`",
            extra={"errors": [{"field": field, "message": "bucket not allowed"}]})


async def require_allowed(conn: Any, project_id: Any, hrefs: list[tuple[str, str]]) -> None:
    """Check (field, href) pairs of a project against its account's grants (one query)."""
    if not any(object_parts(h) for _, h in hrefs):
        return
    grants = await account_grants(conn, project_id)
    for field, href in hrefs:
        check_grants(grants, href, field)


# ------------------------------------------------------------------ operator commands


async def _owner(conn: Any, org: str | None, project: str | None) -> tuple[Any, Any]:
    if (org is None) == (project is None):
        raise InvalidRequest("pass exactly one of --org or --project")
    table, value = ("organizations", org) if org is not None else ("projects", project)
    try:
        oid = uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest(f"{table[:-1]} must be a UUID, got {value!r}") from None
    if await conn.fetchval(f"SELECT 1 FROM geopera.{table} WHERE id = $1", oid) is None:
        raise NotFound(f"{table[:-1]} {value} not found")
    return (oid, None) if org is not None else (None, oid)


def _row(r: Any) -> dict[str, Any]:
    return {"id": str(r["id"]), "org_id": r["org_id"] and str(r["org_id"]),
            "project_id": r["project_id"] and str(r["project_id"]),
            "url": f"{r['scheme']}://{r['bucket']}/{r['prefix']}",
            "created_at": r["created_at"].isoformat()}


async def allow_bucket(conn: Any, org: str | None, project: str | None, url: str
                       ) -> dict[str, Any]:
    org_id, project_id = await _owner(conn, org, project)
    scheme, bucket, prefix = parse_grant_url(url)
    row = await conn.fetchrow(
        """
        INSERT INTO geopera.bucket_grants (org_id, project_id, scheme, bucket, prefix)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (coalesce(org_id, project_id), scheme, bucket, prefix)
        DO UPDATE SET scheme = EXCLUDED.scheme RETURNING *
        """, org_id, project_id, scheme, bucket, prefix)
    return _row(row)


async def list_buckets(conn: Any, org: str | None, project: str | None) -> list[dict[str, Any]]:
    if org is None and project is None:
        rows = await conn.fetch("SELECT * FROM geopera.bucket_grants ORDER BY created_at, id")
    else:
        org_id, project_id = await _owner(conn, org, project)
        rows = await conn.fetch(
            "SELECT * FROM geopera.bucket_grants WHERE org_id = $1 OR project_id = $2"
            " ORDER BY created_at, id", org_id, project_id)
    return [_row(r) for r in rows]


async def disallow_bucket(conn: Any, org: str | None, project: str | None, url: str
                          ) -> dict[str, Any]:
    org_id, project_id = await _owner(conn, org, project)
    scheme, bucket, prefix = parse_grant_url(url)
    n = await conn.fetchval(
        """
        WITH d AS (DELETE FROM geopera.bucket_grants
                   WHERE coalesce(org_id, project_id) = coalesce($1::uuid, $2::uuid)
                     AND scheme = $3 AND bucket = $4 AND prefix = $5 RETURNING 1)
        SELECT count(*) FROM d
        """, org_id, project_id, scheme, bucket, prefix)
    if n == 0:
        raise NotFound(f"no grant of {scheme}://{bucket}/{prefix} for this account")
    return {"removed": n, "url": f"{scheme}://{bucket}/{prefix}"}
