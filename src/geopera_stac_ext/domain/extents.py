"""Collection extents that follow their live items, folded in lazily from noted changes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson

from geopera_stac_ext.db.pool import connection

# NOTE: first key of the advisory lock that serialises refreshes of one collection's extent
# (the second is hashtext(collection id)); writers never take it.
EXTENT_LOCK_CLASS = 0x67650002

PENDING_SQL = """
    SELECT DISTINCT collection_id::text AS id FROM geopera.collection_extent_changes
    WHERE collection_id = ANY($1::uuid[])
"""
TAKE_SQL = """
    WITH taken AS (DELETE FROM geopera.collection_extent_changes WHERE collection_id = $1
                   RETURNING grow_from)
    SELECT count(*) AS n, bool_or(grow_from IS NULL) AS recompute, min(grow_from) AS grow_from
    FROM taken
"""
EXTENT_SQL = """
    SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1, t0, t1
    FROM (SELECT ST_Extent(p.geometry) AS e, min(p.datetime) AS t0, max(p.end_datetime) AS t1
          FROM geopera.items i
          JOIN pgstac.items p ON p.id = i.id::text AND p.collection = i.pgstac_collection
          WHERE i.collection_id = $1 AND p.collection = $1::text AND i.deleted_at IS NULL
            AND ($2::timestamptz IS NULL OR i.created_at >= $2)) s
"""


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _extent(row: Any) -> dict[str, Any] | None:
    if row is None or row["x0"] is None:
        return None
    return {"spatial": {"bbox": [[row["x0"], row["y0"], row["x1"], row["y1"]]]},
            "temporal": {"interval": [[_iso(row["t0"]), _iso(row["t1"])]]}}


def union(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a["spatial"]["bbox"][0], b["spatial"]["bbox"][0]
    (at0, at1), (bt0, bt1) = a["temporal"]["interval"][0], b["temporal"]["interval"][0]
    return {"spatial": {"bbox": [[min(ax0, bx0), min(ay0, by0), max(ax1, bx1), max(ay1, by1)]]},
            "temporal": {"interval": [[min(at0, bt0), max(at1, bt1)]]}}


async def _refresh_one(conn: Any, cid: str) -> tuple[bool, dict[str, Any] | None]:
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", EXTENT_LOCK_CLASS, cid)
    taken = await conn.fetchrow(TAKE_SQL, cid)
    if not taken["n"]:
        return False, None  # NOTE: a concurrent reader folded them in already
    stored = await conn.fetchval("SELECT extent FROM geopera.collections WHERE id = $1", cid)
    if taken["recompute"]:
        extent = _extent(await conn.fetchrow(EXTENT_SQL, cid, None))
    else:
        grown = _extent(await conn.fetchrow(EXTENT_SQL, cid, taken["grow_from"]))
        extent = union(orjson.loads(stored) if isinstance(stored, str) else stored, grown)
    await conn.execute("UPDATE geopera.collections SET extent = $2::text::jsonb WHERE id = $1",
                       cid, None if extent is None else orjson.dumps(extent).decode())
    return True, extent


async def refresh_extents(app: Any, conn: Any, collection_ids: list[str]
                          ) -> dict[str, dict[str, Any] | None]:
    """Fold the noted item changes of these collections into their stored extents; returns
    the extents it recomputed (None = the collection has no live items)."""
    if not collection_ids:
        return {}
    pending = [r["id"] for r in await conn.fetch(PENDING_SQL, collection_ids)]
    out: dict[str, dict[str, Any] | None] = {}
    if not pending:
        return out
    async with connection(app, write=True) as wconn:
        for cid in pending:
            done, extent = await _refresh_one(wconn, cid)
            if done:
                out[cid] = extent
    return out


def apply_extent(doc: dict[str, Any], extent: Any) -> None:
    """The live extent replaces the one given at creation; without live items the collection
    keeps its declared extent."""
    if isinstance(extent, str):
        extent = orjson.loads(extent)
    if extent:
        doc["extent"] = extent
