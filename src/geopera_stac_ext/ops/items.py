"""items.create / items.get / items.list and the item helpers other ops share."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, model_validator

from geopera_stac_ext.errors import Forbidden, InvalidRequest, NotFound
from geopera_stac_ext.lifecycle.policy import initial_expiry
from geopera_stac_ext.models.common import (
    BBox,
    Geometry,
    Limit,
    Name,
    Offset,
    Record,
    Timestamp,
    Uuid,
    bbox_of,
    polygon_of,
)
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.records import (
    ITEM_COLUMNS,
    ITEM_JOIN,
    MAPPED_PROPERTIES,
    dumps,
    item_record,
    stac_content,
)
from geopera_stac_ext.storage.hrefs import check_href

PRIMARY_KEY = "data"


class AssetIn(Params):
    key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")
    href: str = Field(min_length=1, max_length=2048)
    media_type: str | None = Field(default=None, max_length=255)
    file_size_bytes: int | None = Field(default=None, ge=0)
    roles: list[str] = Field(default_factory=list, max_length=20)
    title: str | None = Field(default=None, max_length=500)


class ItemsCreateParams(Params):
    project_id: Uuid
    collection_id: Uuid | None = None
    name: Name
    description: str | None = Field(default=None, max_length=10_000)
    type: str = Field(default="image", min_length=1, max_length=100)
    geometry: Geometry | None = None
    bbox: BBox | None = None
    datetime: Timestamp | None = None
    cloud_cover: float | None = Field(default=None, ge=0, le=100)
    gsd: float | None = Field(default=None, gt=0)
    properties: dict[str, Any] = Field(default_factory=dict)
    assets: list[AssetIn] = Field(min_length=1, max_length=100)
    viz_profiles: dict[str, dict[str, Any]] = Field(default_factory=dict, max_length=50)

    @model_validator(mode="after")
    def _check(self) -> "ItemsCreateParams":
        if self.geometry is None and self.bbox is None:
            raise ValueError("geometry (or at least bbox) is required")
        keys = [a.key for a in self.assets]
        if len(set(keys)) != len(keys):
            raise ValueError("asset keys must be unique")
        if PRIMARY_KEY not in keys:
            raise ValueError("assets must include the primary `data` asset")
        clash = sorted(set(self.properties) & set(MAPPED_PROPERTIES.values()))
        if clash:
            raise ValueError(f"set {', '.join(clash)} through the item's own fields "
                             "(name, description, cloud_cover, gsd, datetime), not properties")
        return self


class ItemsGetParams(Params):
    item_id: Uuid


class ItemsListParams(Params):
    project_id: Uuid
    collection_id: Uuid | None = None
    uncollected: bool = False
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


async def locate_item(conn: Any, item_id: str, *, for_update: bool = False) -> Any:
    """The live platform row of an item (404 when missing or soft-deleted)."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        "SELECT i.*, p.org_id FROM geopera.items i JOIN geopera.projects p ON p.id = i.project_id"
        f" WHERE i.id = $1 AND i.deleted_at IS NULL{lock.replace('UPDATE', 'UPDATE OF i')}",
        item_id,
    )
    if row is None:
        raise NotFound(f"item {item_id} not found")
    return row


async def visible_item(ctx: OpContext, item_id: str, scope: str = "items:read",
                       level: str = "read", *, for_update: bool = False) -> Any:
    """The guide's item rule: 404 when missing or deleted, 403 without project access."""
    ctx.require_scope(scope)
    row = await locate_item(ctx.conn, item_id, for_update=for_update)
    await ctx.authorize(scope, str(row["project_id"]), level)
    return row


async def read_item(conn: Any, item_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {ITEM_COLUMNS} FROM {ITEM_JOIN} WHERE i.id = $1 AND i.deleted_at IS NULL",
        item_id)
    if row is None:
        raise NotFound(f"item {item_id} not found")
    return item_record(row)


async def viz_profiles(conn: Any, item_id: str) -> dict[str, Any]:
    rows = await conn.fetch(
        "SELECT name, spec FROM geopera.viz_profiles WHERE item_id = $1 ORDER BY name", item_id)
    return {r["name"]: r["spec"] for r in rows}


async def target_collection(conn: Any, project_id: str, collection_id: str | None,
                            *, lock: bool = False) -> str:
    """The pgstac collection an item of `project_id` goes to; the collection must be live and
    belong to that project. `lock` takes a share lock so a racing delete waits for us."""
    if collection_id is None:
        return await conn.fetchval(
            "SELECT inbox_collection FROM geopera.projects WHERE id = $1", project_id)
    suffix = " FOR SHARE" if lock else ""
    owner = await conn.fetchval(
        f"SELECT project_id FROM geopera.collections WHERE id = $1 AND deleted_at IS NULL{suffix}",
        collection_id)
    if owner is None or str(owner) != str(project_id):
        raise InvalidRequest(
            f"collection_id {collection_id} is not a collection of project {project_id}")
    return str(collection_id)


async def insert_assets(ctx: OpContext, item_id: str, project_id: str, org_id: Any,
                        assets: list[AssetIn] | list[dict[str, Any]], reason: str) -> None:
    """Insert asset rows and their storage-ledger credits in the caller's transaction."""
    storage_dir = ctx.settings.resolved_storage_dir
    rows = []
    ledger = []
    for a in assets:
        a = a if isinstance(a, dict) else a.model_dump()
        check_href(storage_dir, a["href"])
        aid = uuid.uuid4()
        rows.append((aid, item_id, a["key"], a["href"], a.get("media_type"),
                     a.get("file_size_bytes"), a.get("roles") or [], a.get("title")))
        if reason == "asset_created" and a.get("file_size_bytes"):
            ledger.append((org_id, project_id, item_id, aid, a["file_size_bytes"], reason))
    await ctx.conn.executemany(
        "INSERT INTO geopera.assets (id, item_id, key, href, media_type, file_size_bytes, roles,"
        " title) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", rows)
    if ledger:
        await ctx.conn.executemany(
            "INSERT INTO geopera.storage_ledger (org_id, project_id, item_id, asset_id,"
            " delta_bytes, reason) VALUES ($1, $2, $3, $4, $5, $6)", ledger)


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
    await ctx.conn.execute(
        """
        INSERT INTO geopera.items (id, project_id, collection_id, pgstac_collection, type,
                                   created_at, updated_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
        """,
        item_id, p.project_id, p.collection_id, pgcol, p.type, now, expires_at,
    )
    await ctx.conn.execute("SELECT pgstac.create_item($1::text::jsonb)",
                           dumps(stac_content(item_id, pgcol, fields)))
    await insert_assets(ctx, item_id, p.project_id, org_id, p.assets, "asset_created")
    if p.viz_profiles:
        await ctx.conn.executemany(
            "INSERT INTO geopera.viz_profiles (item_id, name, spec) VALUES ($1, $2, $3)",
            [(item_id, name, spec) for name, spec in p.viz_profiles.items()])
    await ctx.audit(item_id, p.project_id)
    record = await read_item(ctx.conn, item_id)
    record["viz_profiles"] = dict(p.viz_profiles)
    return {"item": record}


@op("items.get", params=ItemsGetParams, result=ItemEnvelope, side_effect="read",
    scope="items:read", purpose="Fetch a single item by id.", errors=(Forbidden, NotFound))
async def items_get(ctx: OpContext, p: ItemsGetParams) -> dict[str, Any]:
    await visible_item(ctx, p.item_id)
    record = await read_item(ctx.conn, p.item_id)
    record["viz_profiles"] = await viz_profiles(ctx.conn, p.item_id)
    return {"item": record}


@op("items.list", params=ItemsListParams, result=ItemPage, side_effect="read",
    scope="items:read", purpose="List a project's items, optionally filtered by collection.",
    errors=(Forbidden, NotFound))
async def items_list(ctx: OpContext, p: ItemsListParams) -> dict[str, Any]:
    await ctx.authorize("items:read", p.project_id)
    return await list_items(ctx.conn, "i.project_id = $1", [p.project_id], p.collection_id,
                            p.uncollected, p.limit, p.offset)


async def list_items(conn: Any, where: str, args: list[Any], collection_id: str | None,
                     uncollected: bool, limit: int, offset: int) -> dict[str, Any]:
    """One page of live items in the documented order (newest first, then id) plus the total."""
    clauses = [where, "i.deleted_at IS NULL"]
    if collection_id is not None:
        args = [*args, collection_id]
        clauses.append(f"i.collection_id = ${len(args)}")
    elif uncollected:
        clauses.append("i.collection_id IS NULL")
    cond = " AND ".join(clauses)
    total = await conn.fetchval(f"SELECT count(*) FROM geopera.items i WHERE {cond}", *args)
    n = len(args)
    rows = await conn.fetch(
        f"""
        WITH page AS (
            SELECT i.id FROM geopera.items i WHERE {cond}
            ORDER BY i.created_at DESC, i.id DESC LIMIT ${n + 1} OFFSET ${n + 2}
        )
        SELECT {ITEM_COLUMNS} FROM page JOIN {ITEM_JOIN} ON i.id = page.id
        ORDER BY i.created_at DESC, i.id DESC
        """,
        *args, limit, offset,
    )
    return {"items": [item_record(r) for r in rows], "total": total}
