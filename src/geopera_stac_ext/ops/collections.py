"""collections.* operations."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, StrictBool, model_validator

from geopera_stac_ext.core.errors import Forbidden, NotFound
from geopera_stac_ext.core.fields import Color, Name, Record, Uuid
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.pgstac import collections as pgstac_collections
from geopera_stac_ext.pgstac.partitions import drop_stac_collection, lock_for_write
from geopera_stac_ext.domain.records import COLLECTION_COLUMNS, collection_record, dumps
from geopera_stac_ext.domain.records import stac_collection


class CollectionsCreateParams(Params):
    project_id: Uuid
    name: Name
    description: str | None = Field(default=None, max_length=10_000)
    color: Color | None = None
    show_on_map: StrictBool = True
    layer_order: int = Field(default=0, ge=-1_000_000, le=1_000_000)


class CollectionsListParams(Params):
    project_id: Uuid


class CollectionsGetParams(Params):
    project_id: Uuid
    collection_id: Uuid


class CollectionRecord(Record):
    id: str
    project_id: str
    name: str
    description: str | None
    color: str | None
    show_on_map: bool
    layer_order: int
    item_count: int


async def fetch_collection(conn: Any, collection_id: str, *, for_update: bool = False
                           ) -> dict[str, Any] | None:
    """A live (not deleted) collection record, or None."""
    lock = " FOR UPDATE OF c" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {COLLECTION_COLUMNS} FROM geopera.collections c "
        f"WHERE c.id = $1 AND c.deleted_at IS NULL{lock}",
        collection_id,
    )
    return collection_record(row) if row else None


@op("collections.create", params=CollectionsCreateParams, result=CollectionRecord,
    side_effect="compute", scope="collections:write",
    purpose="Create a collection in a project.", errors=(Forbidden, NotFound))
async def collections_create(ctx: OpContext, p: CollectionsCreateParams) -> dict[str, Any]:
    await ctx.authorize("collections:write", p.project_id, "write")
    cid = str(uuid.uuid4())
    row = await ctx.conn.fetchrow(
        """
        INSERT INTO geopera.collections (id, project_id, name, description, color, show_on_map,
                                         layer_order, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
        RETURNING id, project_id, name, description, color, show_on_map, layer_order,
                  created_at, updated_at, 0::bigint AS item_count
        """,
        cid, p.project_id, p.name, p.description, p.color, p.show_on_map, p.layer_order,
        ctx.now(),
    )
    await pgstac_collections.create_collection(
        ctx.conn, dumps(stac_collection(cid, p.name, p.description)))
    await ctx.audit(cid, p.project_id)
    return collection_record(row)


@op("collections.list", params=CollectionsListParams, result=list[CollectionRecord],
    side_effect="read", scope="collections:read",
    purpose="List a project's collections with item counts.", errors=(Forbidden, NotFound))
async def collections_list(ctx: OpContext, p: CollectionsListParams) -> list[dict[str, Any]]:
    await ctx.authorize("collections:read", p.project_id)
    rows = await ctx.conn.fetch(
        f"""
        SELECT {COLLECTION_COLUMNS} FROM geopera.collections c
        WHERE c.project_id = $1 AND c.deleted_at IS NULL
        ORDER BY c.layer_order, c.created_at, c.id
        """,
        p.project_id,
    )
    return [collection_record(r) for r in rows]


@op("collections.get", params=CollectionsGetParams, result=CollectionRecord,
    side_effect="read", scope="collections:read",
    purpose="Get one collection by id.", errors=(Forbidden, NotFound))
async def collections_get(ctx: OpContext, p: CollectionsGetParams) -> dict[str, Any]:
    await ctx.authorize("collections:read", p.project_id)
    record = await fetch_collection(ctx.conn, p.collection_id)
    # NOTE: belongs-to-project guard: another project's collection is "not found", not leaked.
    if record is None or record["project_id"] != p.project_id:
        raise NotFound(f"collection {p.collection_id} not found in project {p.project_id}")
    return record


COLLECTION_NOT_NULLABLE = ("name", "show_on_map", "layer_order")
COLLECTION_MUTABLE = ("name", "description", "color", "show_on_map", "layer_order")


class CollectionsUpdateParams(Params):
    collection_id: Uuid
    # NOTE: optional belongs-to-project guard, as collections.get: a mismatch is a 404.
    project_id: Uuid | None = None
    name: Name | None = None
    description: str | None = Field(default=None, max_length=10_000)
    color: Color | None = None
    show_on_map: bool | None = None
    layer_order: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)

    @model_validator(mode="after")
    def _check(self) -> "CollectionsUpdateParams":
        nulls = [f for f in COLLECTION_NOT_NULLABLE if self.given(f) and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (omit the field to keep it)")
        if not set(COLLECTION_MUTABLE) & self.model_fields_set:
            raise ValueError("nothing to update: send at least one of "
                             + ", ".join(COLLECTION_MUTABLE))
        return self


class CollectionsDeleteParams(Params):
    collection_id: Uuid
    project_id: Uuid | None = None


class CollectionDeleted(Record):
    ok: bool
    id: str
    unlinked_items: int


async def _addressed_collection(ctx: OpContext, scope: str, collection_id: str,
                                project_id: str | None, level: str) -> dict[str, Any]:
    """Scope (403) → collection live and in the named project (404) → role for `level` (403)."""
    ctx.require_scope(scope)
    record = await fetch_collection(ctx.conn, collection_id)
    if record is None or (project_id is not None and record["project_id"] != project_id):
        where = f" in project {project_id}" if project_id else ""
        raise NotFound(f"collection {collection_id} not found{where}")
    await ctx.authorize(scope, record["project_id"], level)
    return record


async def _locked_collection(ctx: OpContext, collection_id: str) -> dict[str, Any]:
    """The live collection row under FOR UPDATE (404 if a concurrent delete got there first)."""
    locked = await fetch_collection(ctx.conn, collection_id, for_update=True)
    if locked is None:
        raise NotFound(f"collection {collection_id} not found")
    return locked


@op("collections.update", params=CollectionsUpdateParams, result=CollectionRecord,
    side_effect="compute", scope="collections:write",
    purpose="Update a collection's metadata.", errors=(Forbidden, NotFound))
async def collections_update(ctx: OpContext, p: CollectionsUpdateParams) -> dict[str, Any]:
    record = await _addressed_collection(ctx, "collections:write", p.collection_id,
                                         p.project_id, "write")
    locked = await _locked_collection(ctx, p.collection_id)
    changes = {f: getattr(p, f) for f in COLLECTION_MUTABLE if p.given(f)}
    merged = {**locked, **changes}
    await ctx.conn.execute(
        """
        UPDATE geopera.collections SET name = $2, description = $3, color = $4,
               show_on_map = $5, layer_order = $6, updated_at = $7
        WHERE id = $1
        """,
        p.collection_id, merged["name"], merged["description"], merged["color"],
        merged["show_on_map"], merged["layer_order"], ctx.now())
    if "name" in changes or "description" in changes:
        await pgstac_collections.update_collection(
            ctx.conn, dumps(stac_collection(p.collection_id, merged["name"],
                                            merged["description"])))
    await ctx.audit(p.collection_id, record["project_id"])
    return await fetch_collection(ctx.conn, p.collection_id)  # type: ignore[return-value]


@op("collections.delete", params=CollectionsDeleteParams, result=CollectionDeleted,
    side_effect="destructive", scope="collections:write",
    purpose="Soft-delete a collection (unlinks its items).", errors=(Forbidden, NotFound))
async def collections_delete(ctx: OpContext, p: CollectionsDeleteParams) -> dict[str, Any]:
    record = await _addressed_collection(ctx, "collections:write", p.collection_id,
                                         p.project_id, "admin")
    # NOTE: FOR UPDATE waits for items.create/update holding FOR SHARE on it (moving an item
    # in), then re-checks deleted_at: a concurrent second delete gets 404 here.
    await _locked_collection(ctx, p.collection_id)
    now = ctx.now()
    inbox = await ctx.conn.fetchval(
        "SELECT inbox_collection FROM geopera.projects WHERE id = $1", record["project_id"])
    # NOTE: lock every item of the collection in one statement, before touching pgstac, so an
    # items.update moving one of them out cannot interleave with the set-based move below.
    await ctx.conn.execute(
        "SELECT 1 FROM geopera.items WHERE collection_id = $1 ORDER BY id FOR UPDATE",
        p.collection_id)
    # NOTE: before any partition lock (move_items alters the inbox partition): the parent
    # ACCESS EXCLUSIVE, then the inbox's range lock (partitions.lock_for_write says why).
    await lock_for_write(ctx.conn, inbox, exclusive=True)
    await pgstac_collections.move_items(ctx.conn, p.collection_id, inbox)
    unlinked = await ctx.conn.fetchval(
        """
        WITH moved AS (
            UPDATE geopera.items SET collection_id = NULL, pgstac_collection = $2, updated_at = $3
            WHERE collection_id = $1 RETURNING id, deleted_at
        ), recorded AS (
            -- NOTE: kept for `admin restore-collection --relink` (admin/recovery.py).
            INSERT INTO geopera.collection_unlinks (collection_id, item_id, unlinked_at)
            SELECT $1, id, $3 FROM moved ON CONFLICT DO NOTHING
        ) SELECT count(*) FILTER (WHERE deleted_at IS NULL) FROM moved
        """,
        p.collection_id, inbox, now)
    await drop_stac_collection(ctx.conn, p.collection_id)
    await ctx.conn.execute(
        "UPDATE geopera.collections SET deleted_at = $2, updated_at = $2 WHERE id = $1",
        p.collection_id, now)
    await ctx.audit(p.collection_id, record["project_id"])
    return {"ok": True, "id": p.collection_id, "unlinked_items": unlinked}
