"""assets.delete: remove one file from an item, with its storage-ledger debit."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.core.errors import Forbidden, InvalidRequest, NotFound
from geopera_stac_ext.core.fields import OkResult, Uuid
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.items import PRIMARY_KEY, release_assets, visible_item
from geopera_stac_ext.ops.registry import Params, op


class AssetsDeleteParams(Params):
    item_id: Uuid
    asset_id: Uuid


@op("assets.delete", params=AssetsDeleteParams, result=OkResult, side_effect="destructive",
    scope="items:write", purpose="Delete one file from an item.",
    errors=(Forbidden, NotFound, InvalidRequest))
async def assets_delete(ctx: OpContext, p: AssetsDeleteParams) -> dict[str, Any]:
    # NOTE: locking the item serialises asset deletes of one item (the last-`data` guard) and
    # makes them wait for a concurrent items.delete / items.duplicate of it.
    item = await visible_item(ctx, p.item_id, "items:write", "write", for_update=True)
    asset = await ctx.conn.fetchrow(
        "SELECT id, item_id, key FROM geopera.assets WHERE id = $1 AND deleted_at IS NULL",
        p.asset_id)
    if asset is None:
        raise NotFound(f"asset {p.asset_id} not found")
    if str(asset["item_id"]) != p.item_id:
        raise Forbidden(f"asset {p.asset_id} does not belong to item {p.item_id}")
    if asset["key"] == PRIMARY_KEY:
        # NOTE: asset keys are unique per item, so the `data` asset is always the last primary.
        raise InvalidRequest(
            f"asset {p.asset_id} is the item's last remaining primary `{PRIMARY_KEY}` asset and "
            "cannot be deleted; delete the item instead (items.delete)")
    now = ctx.now()
    await release_assets(ctx.conn, [asset["id"]], now, "asset_deleted")
    await ctx.conn.execute("UPDATE geopera.items SET updated_at = $2 WHERE id = $1",
                           p.item_id, now)
    await ctx.audit(p.asset_id, p.item_id, item["project_id"])
    return {"ok": True, "id": p.asset_id}
