"""items.* read, create and delete ops, and the item access rule other ops share (visible_item)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, StrictBool, model_validator

from geopera_stac_ext.auth import guard
from geopera_stac_ext.core.errors import Forbidden, InvalidRequest, NotFound
from geopera_stac_ext.core.fields import (
    Limit,
    Offset,
    OkResult,
    Record,
    Uuid,
    bbox_of,
    polygon_of,
)
from geopera_stac_ext.domain.items import (
    TIME_COPIES,
    cloud_cover_of,
    PRIMARY_KEY,
    AssetIn,
    ItemsCreateParams,
    insert_assets,
    list_assets,
    list_items,
    locate_item,
    read_item,
    release_assets,
    target_collection,
)
from geopera_stac_ext.domain.records import (
    ITEM_COLUMNS,
    ITEM_JOIN,
    dumps,
    item_record,
    stac_content,
)
from geopera_stac_ext.domain.retention import initial_expiry
from geopera_stac_ext.domain.stac_feature import GEOJSON, stac_feature
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.pgstac import items as pgstac_items
from geopera_stac_ext.pgstac.partitions import lock_for_write
from geopera_stac_ext.storage.asset_tokens import href_signer


class ItemsGetParams(Params):
    item_id: Uuid


class ItemsListParams(Params):
    project_id: Uuid
    collection_id: Uuid | None = None
    uncollected: StrictBool = False
    limit: Limit = 50
    offset: Offset = 0

    @model_validator(mode="after")
    def _check(self) -> "ItemsListParams":
        if self.uncollected and self.collection_id is not None:
            raise ValueError("pass either collection_id or uncollected: true, not both")
        return self


class ItemRecord(Record):
    id: str
    project_id: str
    collection_id: str | None
    name: str | None
    type: str
    lifecycle_state: str


class ItemEnvelope(Record):
    item: ItemRecord


class ItemPage(Record):
    items: list[ItemRecord]
    total: int


# ------------------------------------------------------------------ shared helpers


async def visible_item(ctx: OpContext, item_id: str, scope: str = "items:read",
                       level: str = "read", *, for_update: bool = False) -> Any:
    """The guide's item rule: 404 when missing or deleted, 403 without project access."""
    ctx.require_scope(scope)
    row = await locate_item(ctx.conn, item_id, for_update=for_update)
    await ctx.authorize(scope, str(row["project_id"]), level)
    return row


# ------------------------------------------------------------------ operations


@op("items.create", params=ItemsCreateParams, result=ItemEnvelope, side_effect="compute",
    scope="items:write", purpose="Create an item in a project.",
    errors=(Forbidden, NotFound, InvalidRequest))
async def items_create(ctx: OpContext, p: ItemsCreateParams) -> dict[str, Any]:
    await ctx.authorize("items:write", p.project_id, "write")
    pgcol = await target_collection(ctx.conn, p.project_id, p.collection_id, lock=True)
    item_id = str(uuid.uuid4())
    now = ctx.now()
    geometry = p.geometry or polygon_of(p.bbox)  # type: ignore[arg-type]
    fields = p.model_dump()
    fields["geometry"] = geometry
    fields["bbox"] = p.bbox or bbox_of(geometry)
    fields["datetime"] = p.datetime or now
    org_id = await ctx.conn.fetchval("SELECT org_id FROM geopera.projects WHERE id = $1",
                                     p.project_id)
    expires_at = await initial_expiry(ctx.conn, ctx.settings, org_id, now)
    content = dumps(stac_content(item_id, pgcol, fields))
    # NOTE: pgstac's locks before the platform row's (partitions.lock_for_write: the order).
    await lock_for_write(ctx.conn, pgcol, content)
    await ctx.conn.execute(
        """
        INSERT INTO geopera.items (id, project_id, collection_id, pgstac_collection, type,
                                   created_at, updated_at, expires_at, cloud_cover,
                                   starts_at, ends_at)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, """ + TIME_COPIES.format(content="$9") + """)
        """,
        item_id, p.project_id, p.collection_id, pgcol, p.type, now, expires_at,
        cloud_cover_of(fields), content,
    )
    await pgstac_items.create_item(ctx.conn, pgcol, content, locked=True)
    await insert_assets(ctx, item_id, p.project_id, org_id, p.assets, "asset_created")
    if p.viz_profiles:
        await ctx.conn.executemany(
            # NOTE: the pool's jsonb codec encodes to bytes (orjson), which asyncpg rejects.
            "INSERT INTO geopera.viz_profiles (item_id, name, spec)"
            " VALUES ($1, $2, $3::text::jsonb)",
            [(item_id, name, dumps(spec)) for name, spec in p.viz_profiles.items()])
    await ctx.audit(item_id, p.project_id)
    record = await read_item(ctx.conn, item_id)
    record["viz_profiles"] = dict(p.viz_profiles)
    return {"item": record}


@op("items.get", params=ItemsGetParams, result=ItemEnvelope, side_effect="read",
    scope="items:read", purpose="Fetch a single item by id.", errors=(Forbidden, NotFound))
async def items_get(ctx: OpContext, p: ItemsGetParams) -> dict[str, Any]:
    # NOTE: visible_item + read_item + viz_profiles folded into one query (with the caller's
    # role on the item's project): the hot read path makes two round trips, not five; the
    # decision is still guard.decide's, in the same order (404, then 403).
    ctx.require_scope("items:read")
    row = await ctx.conn.fetchrow(
        f"""
        SELECT {ITEM_COLUMNS},
               {guard.MEMBER_RANK_SQL.format(user="$2", project="pr")} AS caller_rank,
               (SELECT coalesce(jsonb_object_agg(v.name, v.spec), '{{}}'::jsonb)
                  FROM geopera.viz_profiles v WHERE v.item_id = i.id) AS viz_profiles
        FROM {ITEM_JOIN} JOIN geopera.projects pr ON pr.id = i.project_id
        WHERE i.id = $1 AND i.deleted_at IS NULL
        """,
        p.item_id, ctx.principal.user_id)
    if row is None:
        raise NotFound(f"item {p.item_id} not found")
    guard.decide(str(row["project_id"]), True, guard.role_of_rank(row["caller_rank"]), "read")
    record = item_record(row)
    record["viz_profiles"] = dict(sorted(row["viz_profiles"].items()))
    return {"item": record}


@op("items.list", params=ItemsListParams, result=ItemPage, side_effect="read",
    scope="items:read", purpose="List a project's items, optionally filtered by collection.",
    errors=(Forbidden, NotFound))
async def items_list(ctx: OpContext, p: ItemsListParams) -> dict[str, Any]:
    await ctx.authorize("items:read", p.project_id)
    return await list_items(ctx.conn, p.project_id, p.collection_id, p.uncollected, p.limit,
                            p.offset)


class ItemsListByCollectionParams(Params):
    collection_id: Uuid
    limit: Limit = 50
    offset: Offset = 0


class ItemsGetStacParams(Params):
    item_id: Uuid
    base_url: str | None = Field(default=None, max_length=2048,
                                 pattern=r"^https?://[^\s?#]+$",
                                 description="absolute http(s) URL without query or fragment")


class AssetRecord(Record):
    id: str
    key: str
    media_type: str | None
    href: str
    file_size_bytes: int | None
    roles: list[str]


async def visible_parents(ctx: OpContext, item_id: str) -> list[str]:
    """Direct lineage parents the caller may see (live, in a project it can read)."""
    projects = await guard.visible_project_ids(ctx.conn, ctx.principal.user_id)
    rows = await ctx.conn.fetch(
        "SELECT l.parent_id FROM geopera.lineage l JOIN geopera.items i ON i.id = l.parent_id"
        " WHERE l.child_id = $1 AND i.deleted_at IS NULL AND i.project_id = ANY($2::uuid[])"
        " ORDER BY l.created_at, l.parent_id", item_id, projects)
    return [str(r["parent_id"]) for r in rows]


def _request_base(ctx: OpContext) -> str:
    if ctx.request is None:
        return "http://localhost"
    return str(ctx.request.base_url).rstrip("/")


@op("items.list_by_collection", params=ItemsListByCollectionParams, result=ItemPage,
    side_effect="read", scope="items:read", purpose="List items in one collection.",
    errors=(Forbidden, NotFound))
async def items_list_by_collection(ctx: OpContext, p: ItemsListByCollectionParams
                                   ) -> dict[str, Any]:
    ctx.require_scope("items:read")
    project_id = await ctx.conn.fetchval(
        "SELECT project_id FROM geopera.collections WHERE id = $1 AND deleted_at IS NULL",
        p.collection_id)
    if project_id is None:
        raise NotFound(f"collection {p.collection_id} not found")
    await ctx.authorize("items:read", str(project_id))
    return await list_items(ctx.conn, str(project_id), p.collection_id, False, p.limit,
                            p.offset)


@op("items.get_stac", params=ItemsGetStacParams, result=dict[str, Any], side_effect="read",
    scope="items:read", purpose="Fetch an item as a STAC 1.0.0 Feature with embedded assets.",
    errors=(Forbidden, NotFound), media_type=GEOJSON)
async def items_get_stac(ctx: OpContext, p: ItemsGetStacParams) -> dict[str, Any]:
    await visible_item(ctx, p.item_id)
    record = await read_item(ctx.conn, p.item_id)
    assets = await list_assets(ctx.conn, p.item_id)
    parents = await visible_parents(ctx, p.item_id)
    return stac_feature(record, assets, p.base_url or _request_base(ctx), derived_from=parents,
                        signer=href_signer(ctx.settings, ctx.principal, ctx.now().timestamp()))


@op("items.list_assets", params=ItemsGetParams, result=list[AssetRecord], side_effect="read",
    scope="items:read", purpose="List the files attached to an item.",
    errors=(Forbidden, NotFound))
async def items_list_assets(ctx: OpContext, p: ItemsGetParams) -> list[dict[str, Any]]:
    await visible_item(ctx, p.item_id)
    return await list_assets(ctx.conn, p.item_id)


@op("items.delete", params=ItemsGetParams, result=OkResult, side_effect="destructive",
    scope="items:write", purpose="Soft-delete an item.", errors=(Forbidden, NotFound))
async def items_delete(ctx: OpContext, p: ItemsGetParams) -> dict[str, Any]:
    # NOTE: the row lock makes a concurrent second delete wait, then re-check deleted_at: 404.
    row = await visible_item(ctx, p.item_id, "items:write", "write", for_update=True)
    now = ctx.now()
    await ctx.conn.execute(
        "UPDATE geopera.items SET deleted_at = $2, state_before_delete = lifecycle_state,"
        " lifecycle_state = 'deleted', updated_at = $2 WHERE id = $1", p.item_id, now)
    asset_ids = await ctx.conn.fetch(
        "SELECT id FROM geopera.assets WHERE item_id = $1 AND deleted_at IS NULL", p.item_id)
    await release_assets(ctx.conn, [r["id"] for r in asset_ids], now, "item_deleted")
    await ctx.audit(p.item_id, row["project_id"])
    return {"ok": True, "id": p.item_id}


__all__ = ["PRIMARY_KEY", "AssetIn", "ItemsCreateParams", "visible_item"]
