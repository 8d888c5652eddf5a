"""items.asset.download: access, lifecycle, subscription and egress checks, then a signed URL."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from geopera_stac_ext.errors import (
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    PaymentRequired,
    RateLimited,
)
from geopera_stac_ext.models.common import Record, Uuid
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


async def _real_size(ctx: OpContext, item: Any, asset: Any) -> int | None:
    """The bytes a grant will serve: stat for local files, a HEAD against the store for
    s3:// and gs:// objects (never the client-declared size), the declared size for http(s)."""
    href = asset["href"]
    try:
        path = local_path(ctx.settings.resolved_storage_dir, asset["area"], href)
    except InvalidRequest:
        raise Forbidden(f"the file of asset {asset['id']} is outside its project's storage "
                        "area") from None
    if path is not None:
        try:
            return path.stat().st_size
        except OSError:
            raise NotFound(f"the file of asset {asset['id']} is missing from storage") from None
    parts = object_parts(href)
    if parts is None:
        return asset["file_size_bytes"]
    await require_allowed(ctx.conn, item["project_id"], [("href", href)])
    return await object_size(ctx.settings, href, ctx.now())


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


async def check_limits(ctx: OpContext, *, account_id: str, asset_id: str, plan: str) -> None:
    """The per-asset rate limit, then the account's bandwidth breaker (429 when refused).

    The breaker opens once the bytes granted in its sliding window reach the budget (the grant
    that crosses it still passes, so an asset larger than the budget stays downloadable).

    Runs under a transaction-scoped advisory lock per account, so concurrent grants of one
    organization (in any API process) are checked and ledgered one at a time.
    """
    s = ctx.settings
    now = ctx.now()
    conn = ctx.conn
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", EGRESS_LOCK_CLASS,
                       account_id)
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


@op("items.asset.download", params=DownloadParams, result=DownloadResult,
    side_effect="share_export", scope="items:read",
    purpose="Issue a signed download URL for an asset.",
    errors=(InvalidRequest, Forbidden, NotFound, Gone, PaymentRequired, RateLimited))
async def items_asset_download(ctx: OpContext, p: DownloadParams) -> dict[str, Any]:
    try:
        item = await visible_item(ctx, p.item_id)
    except NotFound:
        item = await _retention_deleted_item(ctx, p.item_id)
        if item is None:
            raise
        await ctx.authorize("items:read", str(item["project_id"]))
    # NOTE: a retention deletion soft-deletes the item's assets at the item's deleted_at; they
    # still "belong" to it so the caller gets the 410 naming the state, not a 404.
    asset = await ctx.conn.fetchrow(
        f"SELECT a.id, a.href, a.media_type, a.file_size_bytes, {AREA_SQL}"
        " WHERE a.id = $1 AND a.item_id = $2"
        " AND (a.deleted_at IS NULL OR a.deleted_at = $3::timestamptz)",
        p.asset_id, p.item_id, item["deleted_at"])
    if asset is None:
        raise NotFound(f"asset {p.asset_id} is not an asset of item {p.item_id}")
    state = item["lifecycle_state"]
    if state in ("expired", "deleted"):
        raise Gone(f"item {p.item_id} is {state} under the retention policy and its imagery is "
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
    size = await _real_size(ctx, item, asset)
    account_id = str(item["org_id"] or item["project_id"])
    await check_limits(ctx, account_id=account_id, asset_id=p.asset_id, plan=plan)
    now = ctx.now()
    grant_id = uuid.uuid4()
    await ctx.conn.execute(
        """
        INSERT INTO geopera.egress_ledger (id, at, account_id, org_id, project_id, principal_id,
                                           api_key_id, item_id, asset_id, bytes)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        grant_id, now, account_id, item["org_id"], item["project_id"], ctx.principal.user_id,
        ctx.principal.key_id, p.item_id, p.asset_id, size or 0)
    base = ctx.settings.public_url or (str(ctx.request.base_url) if ctx.request is not None
                                       else DEFAULT_PUBLIC_URL)
    url = signed_url(ctx.settings, asset["href"], asset_id=p.asset_id, grant_id=str(grant_id),
                     now=now, base_url=base)
    return {"url": url, "expires_in_seconds": TTL_SECONDS, "asset_id": p.asset_id,
            "size_bytes": size, "media_type": asset["media_type"]}
