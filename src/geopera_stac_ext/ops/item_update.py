"""items.update: patch an item's mutable metadata, move it between collections, archive/restore."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from geopera_stac_ext.core.errors import Forbidden, InvalidRequest, NotFound
from geopera_stac_ext.core.fields import (
    BBox,
    Geometry,
    Name,
    Timestamp,
    Uuid,
    bbox_of,
    time_span_error,
)
from geopera_stac_ext.domain.items import (
    TIME_COPIES,
    cloud_cover_of,
    locate_item,
    read_item,
    target_collection,
    viz_profiles,
)
from geopera_stac_ext.domain.records import (
    MAPPED_PROPERTIES,
    dumps,
    stac_content,
)
from geopera_stac_ext.domain.retention import first_transition, org_plan
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.pgstac import items as pgstac_items
from geopera_stac_ext.ops.items import ItemEnvelope, visible_item

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


def _patched_fields(current: dict[str, Any], p: ItemsUpdateParams) -> dict[str, Any]:
    """The item's STAC fields after the patch, checked: bbox holds the geometry, and a null
    datetime only with a start/end range."""
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
    if (problem := time_span_error(fields["properties"] or {})) is not None:
        raise InvalidRequest(problem)
    if fields["datetime"] is None and not (
            (fields["properties"] or {}).get("start_datetime")
            and (fields["properties"] or {}).get("end_datetime")):
        raise InvalidRequest("datetime can only be null when properties carry start_datetime "
                             "and end_datetime (STAC requires one or the other)")
    return fields


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
    fields = _patched_fields(current, p)
    old_pgcol = row["pgstac_collection"]
    pgcol = new_pgcol if moving else old_pgcol
    collection_id = p.collection_id if moving else row["collection_id"]
    content = dumps(stac_content(p.item_id, pgcol, fields))
    if pgcol == old_pgcol:
        await pgstac_items.update_item(ctx.conn, pgcol, content)
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
        " lifecycle_state = $4, expires_at = $5, updated_at = $6, cloud_cover = $7,"
        " (starts_at, ends_at) = (SELECT " + TIME_COPIES.format(content="$8") + ")"
        " WHERE id = $1",
        p.item_id, collection_id, pgcol, state, expires_at, ctx.now(), cloud_cover_of(fields),
        content)
    await ctx.audit(p.item_id, row["project_id"])
    record = await read_item(ctx.conn, p.item_id)
    record["viz_profiles"] = await viz_profiles(ctx.conn, p.item_id)
    return {"item": record}
