"""Item rules and rows shared by ops, the lifecycle job and the loader: create params, reads, assets."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, field_validator, model_validator

from geopera_stac_ext.core.errors import InvalidRequest, NotFound
from geopera_stac_ext.core.fields import (
    BBox,
    Geometry,
    Name,
    Params,
    Timestamp,
    Uuid,
    time_span_error,
)
from geopera_stac_ext.db.sql import Query
from geopera_stac_ext.domain.counts import count_live
from geopera_stac_ext.domain.records import (
    ITEM_COLUMNS,
    ITEM_JOIN,
    MAPPED_PROPERTIES,
    asset_record,
    item_record,
)
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
        if (problem := time_span_error(self.properties)) is not None:
            raise ValueError(problem)
        return self



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


# geopera.items (starts_at, ends_at) for an item's content text (the `content` parameter): the
# datetime and end_datetime pgstac stores for that content, by pgstac's own functions
# (migration 0154: the platform copies datetime-window counts read).
TIME_COPIES = ("pgstac.stac_datetime({content}::text::jsonb),"
               " pgstac.stac_end_datetime({content}::text::jsonb)")


def cloud_cover_of(fields: dict[str, Any]) -> float | None:
    """geopera.items.cloud_cover for an item's record fields: the number stac_content() stores
    as `eo:cloud_cover` (migration 0150: the platform copy its counts and filters read)."""
    value = fields.get("cloud_cover")
    return None if value is None else float(value)


def check_asset_href(storage_dir: Any, project_id: Any, href: str, field: str) -> None:
    """check_href with the field named in the 400 (detail and errors[])."""
    try:
        check_href(storage_dir, project_id, href)
    except InvalidRequest as e:
        raise InvalidRequest(f"{field}: {e.detail}",
                             extra={"errors": [{"field": field, "message": e.detail}]}) from None


async def insert_assets(ctx: Any, item_id: str, project_id: str, org_id: Any,
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
