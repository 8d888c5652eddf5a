"""items.duplicate and items.lineage: copies of an item and the derived_from tree between them."""

from __future__ import annotations

import uuid
from typing import Any

from geopera_stac_ext.auth import guard
from geopera_stac_ext.core.errors import Forbidden, Gone, InvalidRequest, NotFound
from geopera_stac_ext.core.fields import (
    Name,
    Record,
    Uuid,
)
from geopera_stac_ext.domain.items import (
    TIME_COPIES,
    cloud_cover_of,
    lock_item_shared,
    read_item,
    target_collection,
    viz_profiles,
)
from geopera_stac_ext.domain.records import (
    ITEM_COLUMNS,
    ITEM_JOIN,
    dumps,
    item_record,
    stac_content,
)
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.pgstac import items as pgstac_items
from geopera_stac_ext.pgstac.partitions import lock_for_write
from geopera_stac_ext.storage.buckets import require_allowed
from geopera_stac_ext.ops.items import ItemEnvelope, ItemsGetParams, visible_item

class ItemsDuplicateParams(Params):
    item_id: Uuid
    new_name: Name | None = None
    target_collection_id: Uuid | None = None
    target_project_id: Uuid | None = None


class LineageNode(Record):
    depth: int
    hidden: bool


class Lineage(Record):
    item_id: str
    parents: list[LineageNode]
    children: list[LineageNode]


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
    content = dumps(stac_content(new_id, pgcol, fields))
    # NOTE: pgstac's locks before the platform row's (partitions.lock_for_write: the order).
    await lock_for_write(ctx.conn, pgcol, content)
    await ctx.conn.execute(
        """
        INSERT INTO geopera.items (id, project_id, collection_id, pgstac_collection, type,
                                   lifecycle_state, created_at, updated_at, expires_at,
                                   cloud_cover, starts_at, ends_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, """ + TIME_COPIES.format(content="$10")
        + """)
        """,
        new_id, target_project, target_cid, pgcol, src["type"], src["lifecycle_state"], now,
        src["expires_at"], cloud_cover_of(fields), content,
    )
    await pgstac_items.create_item(ctx.conn, pgcol, content, locked=True)
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
