"""collections.* operations."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from geopera_stac_ext.errors import Forbidden, NotFound
from geopera_stac_ext.models.common import Color, Name, Record, Uuid
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.records import COLLECTION_COLUMNS, collection_record, dumps
from geopera_stac_ext.tenancy import stac_collection


class CollectionsCreateParams(Params):
    project_id: Uuid
    name: Name
    description: str | None = Field(default=None, max_length=10_000)
    color: Color | None = None
    show_on_map: bool = True
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
    await ctx.conn.execute("SELECT pgstac.create_collection($1::text::jsonb)",
                           dumps(stac_collection(cid, p.name, p.description)))
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
