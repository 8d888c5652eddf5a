"""items.* operations (all but search and download) and the item helpers other ops share."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, StrictBool, field_validator, model_validator

from geopera_stac_ext.auth import guard
from geopera_stac_ext.core.errors import Forbidden, Gone, InvalidRequest, NotFound
from geopera_stac_ext.domain.retention import first_transition, initial_expiry, org_plan
from geopera_stac_ext.core.fields import (
    BBox,
    Geometry,
    Limit,
    Name,
    Offset,
    OkResult,
    Record,
    Timestamp,
    Uuid,
    bbox_of,
    polygon_of,
)
from geopera_stac_ext.db.sql import Query
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.pgstac import items as pgstac_items
from geopera_stac_ext.domain.records import (
    ITEM_COLUMNS,
    ITEM_JOIN,
    MAPPED_PROPERTIES,
    asset_record,
    dumps,
    item_record,
    stac_content,
)
from geopera_stac_ext.domain.counts import count_live
from geopera_stac_ext.domain.stac_feature import GEOJSON, stac_feature
from geopera_stac_ext.storage.asset_tokens import href_signer
from geopera_stac_ext.storage.buckets import require_allowed
from geopera_stac_ext.storage.hrefs import check_href
from geopera_stac_ext.storage.media import check_media_type

PRIMARY_KEY = "data"


class AssetIn(Params):
    key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")
    href: str = Field(min_length=1, max_length=2048)
    media_type: str | None = Field(default=None, max_length=255)
    file_size_bytes: int | None = Field(default=None, ge=0)
    roles: list[str] = Field(default_factory=list, max_length=20)
    title: str | None = Field(default=None, max_length=500)

    @field_validator("media_type")
    @classmethod
    def _media_type(cls, v: str | None) -> str | None:
        return check_media_type(v)


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


def check_asset_href(storage_dir: Any, project_id: Any, href: str, field: str) -> None:
    """check_href with the field named in the 400 (detail and errors[])."""
    try:
        check_href(storage_dir, project_id, href)
    except InvalidRequest as e:
        raise InvalidRequest(f"{field}: {e.detail}",
                             extra={"errors": [{"field": field, "message": e.detail}]}) from None


async def insert_assets(ctx: OpContext, item_id: str, project_id: str, org_id: Any,
                        assets: list[AssetIn] | list[dict[str, Any]], reason: str) -> None:
    """Insert asset rows and their storage-ledger credits in the caller's transaction."""
    storage_dir = ctx.settings.resolved_storage_dir
    rows = []
    ledger = []
    assets = [a if isinstance(a, dict) else a.model_dump() for a in assets]
    for i, a in enumerate(assets):
        check_asset_href(storage_dir, project_id, a["href"], f"assets[{i}].href")
    await require_allowed(ctx.conn, project_id,
                          [(f"assets[{i}].href", a["href"]) for i, a in enumerate(assets)])
    for a in assets:
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
    await pgstac_items.create_item(ctx.conn, pgcol, dumps(stac_content(item_id, pgcol, fields)))
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


async def list_items(conn: Any, project_id: str, collection_id: str | None,
                     uncollected: bool, limit: int, offset: int) -> dict[str, Any]:
    """One page of live items in the documented order (newest first, then id) plus the total."""
    sql = Query()
    clauses = [f"i.project_id = {sql.bind(project_id, name='project')}", "i.deleted_at IS NULL"]
    if collection_id is not None:
        clauses.append(f"i.collection_id = {sql.bind(collection_id, name='collection')}")
    elif uncollected:
        clauses.append("i.collection_id IS NULL")
    cond = " AND ".join(clauses)
    # NOTE: the maintained counters (migration 0060): no scan of the project or collection.
    total = await count_live(conn, [project_id], uncollected=uncollected,
                             collections=[collection_id] if collection_id else None)
    text, args = sql.render(
        f"""
        WITH page AS (
            SELECT i.id FROM geopera.items i WHERE {cond}
            ORDER BY i.created_at DESC, i.id DESC
            LIMIT {sql.bind(limit, name='limit')} OFFSET {sql.bind(offset, name='offset')}
        )
        SELECT {ITEM_COLUMNS} FROM page JOIN {ITEM_JOIN} ON i.id = page.id
        ORDER BY i.created_at DESC, i.id DESC
        """)
    rows = await conn.fetch(text, *args)
    return {"items": [item_record(r) for r in rows], "total": total}


# ------------------------------------------------------------------ the rest of the item surface

# NOTE: who may move lifecycle_state where. The retention machinery owns expiring/expired/deleted;
# a client may only archive (paid plan) and restore an archived item. Same-state is a no-op.
CLIENT_TRANSITIONS = {("active", "archived"), ("archived", "active")}
ITEM_MUTABLE = ("collection_id", "name", "description", "geometry", "bbox", "datetime",
                "cloud_cover", "gsd", "properties", "lifecycle_state")
# Fields a caller might try to patch that are fixed once the item exists.
ITEM_IMMUTABLE = ("id", "project_id", "type", "created_at", "updated_at", "expires_at",
                  "deleted_at", "assets", "viz_profiles", "pgstac_collection")
NOT_NULLABLE = ("name", "geometry", "lifecycle_state")


class ItemsUpdateParams(Params):
    item_id: Uuid
    collection_id: Uuid | None = None
    name: Name | None = None
    description: str | None = Field(default=None, max_length=10_000)
    geometry: Geometry | None = None
    bbox: BBox | None = None
    datetime: Timestamp | None = None
    cloud_cover: float | None = Field(default=None, ge=0, le=100)
    gsd: float | None = Field(default=None, gt=0)
    properties: dict[str, Any] | None = None
    lifecycle_state: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _immutable(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fixed = [k for k in ITEM_IMMUTABLE if k in data and k != "id"]
            if "id" in data:
                fixed.insert(0, "id")
            if fixed:
                raise ValueError(
                    f"{', '.join(fixed)} cannot be changed by items.update (immutable); "
                    f"mutable fields are: {', '.join(ITEM_MUTABLE)}")
        return data

    @model_validator(mode="after")
    def _check(self) -> "ItemsUpdateParams":
        nulls = [f for f in NOT_NULLABLE if self.given(f) and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (omit the field to keep it)")
        if self.lifecycle_state is not None and self.lifecycle_state not in (
                "active", "expiring", "expired", "archived", "deleted"):
            raise ValueError("lifecycle_state must be one of active, archived (clients may "
                             "archive and restore; the platform sets the other states)")
        if self.properties:
            clash = sorted(set(self.properties) & set(MAPPED_PROPERTIES.values()))
            if clash:
                raise ValueError(f"set {', '.join(clash)} through the item's own fields "
                                 "(name, description, cloud_cover, gsd, datetime), not properties")
        if len(set(ITEM_MUTABLE) & self.model_fields_set) == 0:
            raise ValueError(f"nothing to update: send at least one of {', '.join(ITEM_MUTABLE)}")
        return self


class ItemsListByCollectionParams(Params):
    collection_id: Uuid
    limit: Limit = 50
    offset: Offset = 0


class ItemsGetStacParams(Params):
    item_id: Uuid
    base_url: str | None = Field(default=None, max_length=2048,
                                 pattern=r"^https?://[^\s?#]+$",
                                 description="absolute http(s) URL without query or fragment")


class ItemsDuplicateParams(Params):
    item_id: Uuid
    new_name: Name | None = None
    target_collection_id: Uuid | None = None
    target_project_id: Uuid | None = None


class AssetRecord(Record):
    id: str
    key: str
    media_type: str | None
    href: str
    file_size_bytes: int | None
    roles: list[str]


class LineageNode(Record):
    depth: int
    hidden: bool


class Lineage(Record):
    item_id: str
    parents: list[LineageNode]
    children: list[LineageNode]


async def lock_item_shared(conn: Any, item_id: str) -> Any:
    """Share-lock a live item so it cannot be deleted while we read it (items.duplicate)."""
    row = await conn.fetchrow(
        "SELECT i.*, p.org_id FROM geopera.items i JOIN geopera.projects p ON p.id = i.project_id"
        " WHERE i.id = $1 AND i.deleted_at IS NULL FOR SHARE OF i", item_id)
    if row is None:
        raise NotFound(f"item {item_id} not found")
    return row


async def list_assets(conn: Any, item_id: str) -> list[dict[str, Any]]:
    """Live assets of an item, the primary `data` first, then by key."""
    rows = await conn.fetch(
        "SELECT * FROM geopera.assets WHERE item_id = $1 AND deleted_at IS NULL"
        " ORDER BY key <> 'data', key", item_id)
    return [asset_record(r) for r in rows]


async def release_assets(conn: Any, asset_ids: list[Any], now: Any, reason: str) -> int:
    """Soft-delete assets and debit storage once per underlying stored file.

    The rule (docs/operations.md): an asset and every duplicate of it share one stored file,
    grouped by `coalesce(origin_id, id)`. The file's bytes were credited once, when its first
    asset was created. They are debited once, when the last live asset of the group goes (by
    the net of everything the group was ever credited/debited, so the ledger nets to zero).
    Returns the number of debit rows written.
    """
    if not asset_ids:
        return 0
    rows = await conn.fetch(
        "SELECT a.id, a.item_id, coalesce(a.origin_id, a.id) AS grp, i.project_id, p.org_id"
        " FROM geopera.assets a JOIN geopera.items i ON i.id = a.item_id"
        " JOIN geopera.projects p ON p.id = i.project_id"
        " WHERE a.id = ANY($1::uuid[]) AND a.deleted_at IS NULL", list(asset_ids))
    if not rows:
        return 0
    groups = sorted({r["grp"] for r in rows})
    # NOTE: lock each group's owning asset row (in a fixed order: no deadlocks) so two deletes
    # of the last two copies of a file cannot both believe the other copy still lives.
    await conn.execute(
        "SELECT 1 FROM geopera.assets WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
        groups)
    await conn.execute(
        "UPDATE geopera.assets SET deleted_at = $2 WHERE id = ANY($1::uuid[])",
        [r["id"] for r in rows], now)
    # NOTE: the debit goes to the account(s) the group's bytes were credited to, net per
    # (org, project), not to the org of whoever deletes the last copy (maybe another org).
    debits = await conn.fetch(
        """
        WITH g AS (SELECT unnest($1::uuid[]) AS grp),
        alive AS (
            SELECT g.grp FROM g WHERE EXISTS (
                SELECT 1 FROM geopera.assets a JOIN geopera.items i ON i.id = a.item_id
                WHERE (a.id = g.grp OR a.origin_id = g.grp)
                  AND a.deleted_at IS NULL AND i.deleted_at IS NULL)
        )
        SELECT g.grp, l.org_id, l.project_id, sum(l.delta_bytes) AS net
        FROM g JOIN geopera.assets a ON a.id = g.grp OR a.origin_id = g.grp
        JOIN geopera.storage_ledger l ON l.asset_id = a.id
        WHERE g.grp NOT IN (SELECT grp FROM alive)
        GROUP BY g.grp, l.org_id, l.project_id
        ORDER BY g.grp, l.project_id
        """,
        groups)
    # NOTE: the row names the asset whose release freed the file (what was deleted).
    by_group = {r["grp"]: r for r in rows}
    ledger = [(d["org_id"], d["project_id"], by_group[d["grp"]]["item_id"],
               by_group[d["grp"]]["id"], -int(d["net"]), reason) for d in debits if d["net"] > 0]
    if ledger:
        await conn.executemany(
            "INSERT INTO geopera.storage_ledger (org_id, project_id, item_id, asset_id,"
            " delta_bytes, reason) VALUES ($1, $2, $3, $4, $5, $6)", ledger)
    return len(ledger)


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


def _cid(row: Any) -> str | None:
    return str(row["collection_id"]) if row["collection_id"] else None


def _contains(outer: list[float], inner: list[float], eps: float = 1e-9) -> bool:
    return (outer[0] <= inner[0] + eps and outer[1] <= inner[1] + eps
            and outer[2] >= inner[2] - eps and outer[3] >= inner[3] - eps)


async def _check_transition(ctx: OpContext, row: Any, new_state: str) -> None:
    old = row["lifecycle_state"]
    if new_state == old:
        return
    if (old, new_state) not in CLIENT_TRANSITIONS:
        hint = ("an expired item is restored by upgrading the organization's plan"
                if old in ("expired", "expiring") else
                "clients may only archive an active item (paid plan) or restore an archived one")
        raise InvalidRequest(f"lifecycle_state cannot move from {old} to {new_state}: {hint}")
    if new_state == "archived" and await org_plan(ctx.conn, row["org_id"]) != "paid":
        raise InvalidRequest("archiving is a paid-plan state; upgrade the organization's plan "
                             "to archive items")


@op("items.update", params=ItemsUpdateParams, result=ItemEnvelope, side_effect="compute",
    scope="items:write", purpose="Patch an item's mutable metadata.",
    errors=(Forbidden, NotFound, InvalidRequest))
async def items_update(ctx: OpContext, p: ItemsUpdateParams) -> dict[str, Any]:
    # NOTE: 404/403 first without locks; then lock the target collection before the item row,
    # the same order collections.delete uses (collection, then its items): no deadlock.
    first = await visible_item(ctx, p.item_id, "items:write", "write")
    if p.given("collection_id") and _cid(first) != p.collection_id:
        await target_collection(ctx.conn, str(first["project_id"]), p.collection_id, lock=True)
    row = await locate_item(ctx.conn, p.item_id, for_update=True)
    moving = p.given("collection_id") and _cid(row) != p.collection_id
    if moving:
        new_pgcol = await target_collection(ctx.conn, str(row["project_id"]), p.collection_id,
                                            lock=True)
    if p.given("lifecycle_state"):
        await _check_transition(ctx, row, p.lifecycle_state)  # type: ignore[arg-type]
    current = await read_item(ctx.conn, p.item_id)
    fields = {k: current[k] for k in ("name", "description", "geometry", "bbox", "datetime",
                                      "cloud_cover", "gsd", "properties")}
    for k in ("name", "description", "datetime", "cloud_cover", "gsd"):
        if p.given(k):
            fields[k] = getattr(p, k)
    if p.given("properties"):
        fields["properties"] = p.properties or {}
    if p.given("geometry"):
        fields["geometry"] = p.geometry
    if p.given("bbox") and p.bbox is not None:
        fields["bbox"] = p.bbox
    elif p.given("geometry") or p.given("bbox"):
        # NOTE: a new geometry without a bbox, or bbox: null, re-derives the envelope.
        fields["bbox"] = bbox_of(fields["geometry"])
    if not _contains(fields["bbox"], bbox_of(fields["geometry"])):
        raise InvalidRequest(
            f"bbox {fields['bbox']} does not contain the geometry's extent "
            f"{bbox_of(fields['geometry'])}; send a matching bbox, or omit it to derive it")
    if fields["datetime"] is None and not (
            (fields["properties"] or {}).get("start_datetime")
            and (fields["properties"] or {}).get("end_datetime")):
        raise InvalidRequest("datetime can only be null when properties carry start_datetime "
                             "and end_datetime (STAC requires one or the other)")
    old_pgcol = row["pgstac_collection"]
    pgcol = new_pgcol if moving else old_pgcol
    collection_id = p.collection_id if moving else row["collection_id"]
    content = dumps(stac_content(p.item_id, pgcol, fields))
    if pgcol == old_pgcol:
        await pgstac_items.update_item(ctx.conn, content)
    else:
        await pgstac_items.move_item(ctx.conn, p.item_id, old_pgcol, pgcol, content)
    state = p.lifecycle_state if p.given("lifecycle_state") else row["lifecycle_state"]
    expires_at = row["expires_at"]
    if state == "active" and row["lifecycle_state"] == "archived":
        # NOTE: a restored item starts a fresh retention window under the org's current plan.
        expires_at = first_transition(ctx.settings, await org_plan(ctx.conn, row["org_id"]),
                                      ctx.now())
    await ctx.conn.execute(
        "UPDATE geopera.items SET collection_id = $2, pgstac_collection = $3,"
        " lifecycle_state = $4, expires_at = $5, updated_at = $6 WHERE id = $1",
        p.item_id, collection_id, pgcol, state, expires_at, ctx.now())
    await ctx.audit(p.item_id, row["project_id"])
    record = await read_item(ctx.conn, p.item_id)
    record["viz_profiles"] = await viz_profiles(ctx.conn, p.item_id)
    return {"item": record}


@op("items.duplicate", params=ItemsDuplicateParams, result=ItemEnvelope, side_effect="compute",
    scope="items:write", purpose="Copy an item with its assets and viz profiles.",
    errors=(Forbidden, NotFound, InvalidRequest, Gone))
async def items_duplicate(ctx: OpContext, p: ItemsDuplicateParams) -> dict[str, Any]:
    ctx.require_scope("items:write")
    first = await visible_item(ctx, p.item_id, "items:write", "read")
    target_project = p.target_project_id or str(first["project_id"])
    await ctx.authorize("items:write", target_project, "write")
    if p.given("target_collection_id"):
        target_cid = p.target_collection_id
    elif target_project == str(first["project_id"]) and first["collection_id"]:
        target_cid = str(first["collection_id"])
    else:
        target_cid = None
    pgcol = await target_collection(ctx.conn, target_project, target_cid, lock=True)
    src = await lock_item_shared(ctx.conn, p.item_id)
    if src["lifecycle_state"] == "expired":
        raise Gone("an expired item cannot be duplicated; upgrade the organization's plan to "
                   "restore it first")
    # NOTE: a copy in another organization signs with the platform's credentials for that
    # organization's users: its buckets must be granted to the target account too.
    hrefs = await ctx.conn.fetch(
        "SELECT key, href FROM geopera.assets WHERE item_id = $1 AND deleted_at IS NULL"
        " ORDER BY key", p.item_id)
    await require_allowed(ctx.conn, target_project,
                          [(f"assets.{r['key']}.href", r["href"]) for r in hrefs])
    record = await read_item(ctx.conn, p.item_id)
    new_id = str(uuid.uuid4())
    now = ctx.now()
    fields = dict(record)
    fields["name"] = p.new_name or f"{record['name']} (copy)"[:500]
    await ctx.conn.execute(
        """
        INSERT INTO geopera.items (id, project_id, collection_id, pgstac_collection, type,
                                   lifecycle_state, created_at, updated_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
        """,
        new_id, target_project, target_cid, pgcol, src["type"], src["lifecycle_state"], now,
        src["expires_at"],
    )
    await pgstac_items.create_item(ctx.conn, pgcol, dumps(stac_content(new_id, pgcol, fields)))
    # NOTE: copies re-point at the same stored files: no ledger credit (origin_id groups them).
    await ctx.conn.execute(
        """
        INSERT INTO geopera.assets (id, item_id, key, href, media_type, file_size_bytes, roles,
                                    title, created_at, origin_id)
        SELECT gen_random_uuid(), $2, key, href, media_type, file_size_bytes, roles, title, $3,
               coalesce(origin_id, id)
        FROM geopera.assets WHERE item_id = $1 AND deleted_at IS NULL
        """,
        p.item_id, new_id, now)
    await ctx.conn.execute(
        "INSERT INTO geopera.viz_profiles (item_id, name, spec)"
        " SELECT $2, name, spec FROM geopera.viz_profiles WHERE item_id = $1", p.item_id, new_id)
    await ctx.conn.execute(
        "INSERT INTO geopera.lineage (parent_id, child_id, relation, created_at)"
        " VALUES ($1, $2, 'derived_from', $3)", p.item_id, new_id, now)
    await ctx.audit(new_id, p.item_id, target_project)
    out = await read_item(ctx.conn, new_id)
    out["viz_profiles"] = await viz_profiles(ctx.conn, new_id)
    return {"item": out}


LINEAGE_WALK = """
WITH RECURSIVE walk(node, other, relation, depth, path) AS (
    SELECT {near}, {far}, l.relation, 1, ARRAY[l.{near_col}, l.{far_col}]
    FROM geopera.lineage l JOIN geopera.items x ON x.id = l.{far_col} AND x.deleted_at IS NULL
    WHERE l.{near_col} = $1
    UNION ALL
    SELECT l.{near_col}, l.{far_col}, l.relation, w.depth + 1, w.path || l.{far_col}
    FROM walk w JOIN geopera.lineage l ON l.{near_col} = w.other
    JOIN geopera.items x ON x.id = l.{far_col} AND x.deleted_at IS NULL
    WHERE NOT l.{far_col} = ANY(w.path) AND w.depth < 10000
)
SELECT DISTINCT w.node, w.other, w.relation, w.depth, x.project_id,
       x.project_id = ANY($2::uuid[]) AS visible
FROM walk w JOIN geopera.items x ON x.id = w.other
"""


async def _walk(ctx: OpContext, item_id: str, direction: str, projects: list[str]
                ) -> list[dict[str, Any]]:
    near_col, far_col = ("child_id", "parent_id") if direction == "parents" else (
        "parent_id", "child_id")
    sql = LINEAGE_WALK.format(near=f"l.{near_col}", far=f"l.{far_col}", near_col=near_col,
                              far_col=far_col)
    edges = await ctx.conn.fetch(sql, item_id, projects)
    visible_ids = sorted({e["other"] for e in edges if e["visible"]})
    details: dict[Any, dict[str, Any]] = {}
    if visible_ids:
        rows = await ctx.conn.fetch(
            f"SELECT {ITEM_COLUMNS} FROM {ITEM_JOIN} WHERE i.id = ANY($1::uuid[])", visible_ids)
        for r in rows:
            rec = item_record(r)
            details[r["id"]] = {k: rec[k] for k in (
                "id", "project_id", "collection_id", "name", "type", "lifecycle_state",
                "created_at")}
    by_near: dict[Any, list[Any]] = {}
    seen = set()
    for e in sorted(edges, key=lambda e: (e["depth"], str(e["other"]))):
        key = (e["node"], e["other"])
        if key in seen:
            continue
        seen.add(key)
        by_near.setdefault(e["node"], []).append(e)

    def build(node: Any, depth: int, trail: frozenset) -> list[dict[str, Any]]:
        out = []
        for e in by_near.get(node, []):
            if e["other"] in trail:
                continue
            entry: dict[str, Any] = (dict(details[e["other"]], hidden=False)
                                     if e["visible"] and e["other"] in details
                                     else {"hidden": True})
            entry["relation"] = e["relation"]
            entry["depth"] = depth
            entry[direction] = build(e["other"], depth + 1, trail | {e["other"]})
            out.append(entry)
        return out

    root = uuid.UUID(item_id)
    return build(root, 1, frozenset({root}))


@op("items.lineage", params=ItemsGetParams, result=Lineage, side_effect="read",
    scope="items:read", purpose="Get an item's parent/child lineage tree.",
    errors=(Forbidden, NotFound))
async def items_lineage(ctx: OpContext, p: ItemsGetParams) -> dict[str, Any]:
    await visible_item(ctx, p.item_id)
    projects = await guard.visible_project_ids(ctx.conn, ctx.principal.user_id)
    return {"item_id": p.item_id,
            "parents": await _walk(ctx, p.item_id, "parents", projects),
            "children": await _walk(ctx, p.item_id, "children", projects)}


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
