"""items.asset.download: access, lifecycle, subscription and egress checks, then a signed URL."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from geopera_stac_ext.core.errors import (
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    PaymentRequired,
    RateLimited,
)
from geopera_stac_ext.core.fields import Record, Uuid
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.items import visible_item
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.storage.buckets import require_allowed
from geopera_stac_ext.storage.hrefs import AREA_SQL, local_path, object_parts
from geopera_stac_ext.storage.signing import TTL_SECONDS, object_size, signed_url

# NOTE: first key of the two-int advisory lock that serialises one account's grants
# (the second key is hashtext(account id)); distinct from the lifecycle job's lock.
EGRESS_LOCK_CLASS = 0x67650001
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


class DownloadParams(Params):
    item_id: Uuid
    asset_id: Uuid


class DownloadResult(Record):
    url: str
    expires_in_seconds: int
    asset_id: str
    size_bytes: int | None
    media_type: str | None


async def _retention_deleted_item(ctx: OpContext, item_id: str) -> Any:
    """A soft-deleted item whose deletion the retention machinery made (→ 410, not 404)."""
    return await ctx.conn.fetchrow(
        """
        SELECT i.*, p.org_id FROM geopera.items i JOIN geopera.projects p ON p.id = i.project_id
        WHERE i.id = $1 AND i.lifecycle_state = 'deleted'
          AND EXISTS (SELECT 1 FROM geopera.lifecycle_events e
                      WHERE e.item_id = i.id AND e.to_state = 'deleted')
        """,
        item_id)


def _limit_headers(limit: int, window: float, retry: int) -> dict[str, str]:
    return {
        "Retry-After": str(retry),
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(retry),
        "RateLimit-Policy": f"{limit};w={int(window)}",
    }


def _seconds_until(moment: Any, now: Any) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


async def lock_account(ctx: OpContext, account_id: str) -> None:
    """Serialise one account's grants (in any API process) until the transaction ends."""
    await ctx.conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", EGRESS_LOCK_CLASS,
                           account_id)


async def check_limits(ctx: OpContext, *, account_id: str, asset_id: str, plan: str) -> None:
    """The per-asset rate limit, then the account's bandwidth breaker (429 when refused).

    Runs under a transaction-scoped advisory lock per account, so concurrent grants of one
    organization (in any API process) are checked and ledgered one at a time.
    """
    await lock_account(ctx, account_id)
    await check_asset_rate(ctx, asset_id=asset_id, plan=plan)
    await check_breaker(ctx, account_id=account_id, plan=plan)


async def check_asset_rate(ctx: OpContext, *, asset_id: str, plan: str) -> None:
    """429 once the asset was granted `limit` times in the sliding window (any caller)."""
    s = ctx.settings
    now = ctx.now()
    conn = ctx.conn
    limit = s.asset_download_limit_paid if plan == "paid" else s.asset_download_limit_free
    window = timedelta(seconds=s.asset_download_window_seconds)
    row = await conn.fetchrow(
        "SELECT count(*) AS n, min(at) AS oldest FROM geopera.egress_ledger"
        " WHERE asset_id = $1 AND at > $2", asset_id, now - window)
    if row["n"] >= limit:
        # NOTE: the oldest grant that still counts leaves the window first; to have room
        # again, n - limit + 1 grants must leave it.
        at = await conn.fetchval(
            "SELECT at FROM geopera.egress_ledger WHERE asset_id = $1 AND at > $2"
            " ORDER BY at OFFSET $3 LIMIT 1", asset_id, now - window, row["n"] - limit)
        retry = _seconds_until(at + window, now)
        raise RateLimited(
            f"this asset was granted {row['n']} times in the last "
            f"{int(window.total_seconds())} s (limit {limit} on the {plan} plan); retry in "
            f"{retry} s", headers=_limit_headers(limit, window.total_seconds(), retry),
            extra={"limit": "asset_rate"})


async def check_breaker(ctx: OpContext, *, account_id: str, plan: str) -> None:
    """429 while the account's bytes in the sliding window reach the budget.

    The grant that crosses the budget still passes, so an asset larger than the budget stays
    downloadable.
    """
    s = ctx.settings
    now = ctx.now()
    conn = ctx.conn
    budget = s.egress_budget_bytes_paid if plan == "paid" else s.egress_budget_bytes_free
    bwindow = timedelta(seconds=s.egress_window_seconds)
    used = await conn.fetchval(
        "SELECT coalesce(sum(bytes), 0) FROM geopera.egress_ledger"
        " WHERE account_id = $1 AND at > $2", account_id, now - bwindow)
    if used >= budget:
        # NOTE: the breaker closes when enough of the window's grants age out that the sum
        # drops below the budget: the first row whose running total leaves < budget behind.
        at = await conn.fetchval(
            """
            SELECT at FROM (
                SELECT at, sum(bytes) OVER (ORDER BY at, id ROWS UNBOUNDED PRECEDING) AS gone
                FROM geopera.egress_ledger WHERE account_id = $1 AND at > $2
            ) w WHERE $3 - gone < $4 ORDER BY at LIMIT 1
            """,
            account_id, now - bwindow, used, budget)
        retry = _seconds_until(at + bwindow, now)
        raise RateLimited(
            f"the organization's download bandwidth breaker is open: {used} bytes granted in "
            f"the last {int(bwindow.total_seconds())} s (budget {budget} on the {plan} plan); "
            f"retry in {retry} s",
            headers=_limit_headers(budget, bwindow.total_seconds(), retry),
            extra={"limit": "org_bandwidth"})


@dataclass(frozen=True)
class AssetAccess:
    """An asset the caller may fetch now: every check but the rate limits has passed."""

    item: Any
    asset: Any
    plan: str
    account_id: str
    size: int | None
    path: Path | None  # the local file, None for s3/gs/http hrefs


async def check_access(ctx: OpContext, item_id: str, asset_id: str) -> AssetAccess:
    """The checks of items.asset.download, in its order: 404/403 (item), 404 (asset),
    410 (retention), 402 (subscription), 404 (file missing). Writes nothing."""
    try:
        item = await visible_item(ctx, item_id)
    except NotFound:
        item = await _retention_deleted_item(ctx, item_id)
        if item is None:
            raise
        await ctx.authorize("items:read", str(item["project_id"]))
    # NOTE: a retention deletion soft-deletes the item's assets at the item's deleted_at; they
    # still "belong" to it so the caller gets the 410 naming the state, not a 404.
    asset = await ctx.conn.fetchrow(
        f"SELECT a.id, a.href, a.media_type, a.file_size_bytes, {AREA_SQL}"
        " WHERE a.id = $1 AND a.item_id = $2"
        " AND (a.deleted_at IS NULL OR a.deleted_at = $3::timestamptz)",
        asset_id, item_id, item["deleted_at"])
    if asset is None:
        raise NotFound(f"asset {asset_id} is not an asset of item {item_id}")
    state = item["lifecycle_state"]
    if state in ("expired", "deleted"):
        raise Gone(f"item {item_id} is {state} under the retention policy and its imagery is "
                   "no longer served; upgrading the organization's plan restores expired items",
                   extra={"lifecycle_state": state})
    plan, status = "free", "active"
    if item["org_id"] is not None:
        org = await ctx.conn.fetchrow(
            "SELECT plan, subscription_status FROM geopera.organizations WHERE id = $1",
            item["org_id"])
        plan, status = org["plan"], org["subscription_status"]
    if status == "past_due":
        raise PaymentRequired("the organization's subscription is past due; downloads resume "
                              "once billing is settled")
    size, path = await _real_size(ctx, item, asset)
    return AssetAccess(item, asset, plan, str(item["org_id"] or item["project_id"]), size, path)


async def _real_size(ctx: OpContext, item: Any, asset: Any) -> tuple[int | None, Path | None]:
    """(bytes a grant will serve, local file): stat for local files (confined to the asset's
    project area), a HEAD against the store for s3:// and gs:// objects in a granted bucket
    (never the client-declared size), the declared size for public http(s) hrefs."""
    href = asset["href"]
    try:
        path = local_path(ctx.settings.resolved_storage_dir, asset["area"], href)
    except InvalidRequest:
        raise Forbidden(f"the file of asset {asset['id']} is outside its project's storage "
                        "area") from None
    if path is not None:
        try:
            return path.stat().st_size, path
        except OSError:
            raise NotFound(f"the file of asset {asset['id']} is missing from storage") from None
    if object_parts(href) is None:
        return asset["file_size_bytes"], None
    await require_allowed(ctx.conn, item["project_id"], [("href", href)])
    return await object_size(ctx.settings, href, ctx.now()), None


async def record_grant(ctx: OpContext, access: AssetAccess, nbytes: int, *,
                       via: str = "url") -> uuid.UUID:
    """One egress ledger row (a grant) of `nbytes`; `via` tells signed-URL and href grants apart."""
    grant_id = uuid.uuid4()
    item = access.item
    await ctx.conn.execute(
        """
        INSERT INTO geopera.egress_ledger (id, at, account_id, org_id, project_id, principal_id,
                                           api_key_id, item_id, asset_id, bytes, via)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        grant_id, ctx.now(), access.account_id, item["org_id"], item["project_id"],
        ctx.principal.user_id, ctx.principal.key_id, item["id"], access.asset["id"], nbytes, via)
    return grant_id


async def href_grant(ctx: OpContext, access: AssetAccess, *, first_bytes: int,
                     more_bytes: int) -> uuid.UUID:
    """The grant an asset-href read runs under: the caller's key's live href grant of this
    asset (younger than a signed URL's lifetime), else a new one after the rate limits.

    A reused grant skips the per-asset count (it was counted when issued) but not the
    bandwidth breaker, and adds `more_bytes` to its egress; a new one records `first_bytes`.
    """
    await lock_account(ctx, access.account_id)
    now = ctx.now()
    grant = await ctx.conn.fetchval(
        "SELECT id FROM geopera.egress_ledger WHERE api_key_id = $1 AND asset_id = $2"
        " AND via = 'href' AND at > $3 ORDER BY at DESC LIMIT 1",
        ctx.principal.key_id, access.asset["id"], now - timedelta(seconds=TTL_SECONDS))
    if grant is not None:
        await check_breaker(ctx, account_id=access.account_id, plan=access.plan)
        if more_bytes:
            await ctx.conn.execute(
                "UPDATE geopera.egress_ledger SET bytes = bytes + $2 WHERE id = $1",
                grant, more_bytes)
        return grant
    await check_asset_rate(ctx, asset_id=str(access.asset["id"]), plan=access.plan)
    await check_breaker(ctx, account_id=access.account_id, plan=access.plan)
    return await record_grant(ctx, access, first_bytes, via="href")


def public_base(ctx: OpContext) -> str:
    return ctx.settings.public_url or (str(ctx.request.base_url) if ctx.request is not None
                                       else DEFAULT_PUBLIC_URL)


@op("items.asset.download", params=DownloadParams, result=DownloadResult,
    side_effect="share_export", scope="items:read",
    purpose="Issue a signed download URL for an asset.",
    errors=(InvalidRequest, Forbidden, NotFound, Gone, PaymentRequired, RateLimited))
async def items_asset_download(ctx: OpContext, p: DownloadParams) -> dict[str, Any]:
    access = await check_access(ctx, p.item_id, p.asset_id)
    await check_limits(ctx, account_id=access.account_id, asset_id=p.asset_id, plan=access.plan)
    grant_id = await record_grant(ctx, access, access.size or 0)
    url = signed_url(ctx.settings, access.asset["href"], asset_id=p.asset_id,
                     grant_id=str(grant_id), now=ctx.now(), base_url=public_base(ctx))
    return {"url": url, "expires_in_seconds": TTL_SECONDS, "asset_id": p.asset_id,
            "size_bytes": access.size, "media_type": access.asset["media_type"]}
