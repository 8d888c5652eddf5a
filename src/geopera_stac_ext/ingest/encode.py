"""A validated line as COPY text rows: geopera.items, assets, storage ledger and pgstac.items."""

from __future__ import annotations

import os
import struct
import time
from array import array
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Callable
from typing import Any

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.ingest.validate import Asset
from geopera_stac_ext.pgstac.bulk import Note

NULL = "\\N"  # COPY text format's NULL
COPY_STATEMENTS = (
    "COPY geopera.items (id, project_id, collection_id, pgstac_collection, type,"
    " created_at, updated_at, expires_at, cloud_cover, starts_at, ends_at) FROM STDIN",
    "COPY geopera.assets (id, item_id, key, href, media_type, file_size_bytes,"
    " roles, title, created_at) FROM STDIN",
    "COPY geopera.storage_ledger (asset_id, org_id, project_id, item_id,"
    " delta_bytes, reason, at) FROM STDIN",
)
# NOTE: the pgstac rows go last (bulk.copy_rows): pgstac's partition-stats upkeep locks the
# partitions' partition_stats rows until commit; written last, a batch holds them for a moment
# instead of while its other COPYs run, so two writers do not queue on each other.


def esc(v: Any) -> str:
    """A value in COPY text format (NULL is \\N; backslash, tab, newline, CR escaped)."""
    if v is None:
        return NULL
    s = v if isinstance(v, str) else str(v)
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def pg_array(values: list[str]) -> str:
    """A text[] literal."""
    return "{" + ",".join('"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for x in values) + "}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 9562 variant 10xx


def new_uuids(n: int) -> list[str]:
    """n time-ordered UUIDs (version 7, RFC 9562): 48-bit Unix milliseconds, then random;
    in ascending order.

    NOTE: new asset ids land at the right edge of the primary-key index instead of a random
    page of it (random version 4 ids made each index insert touch a different leaf). Sorted:
    ids of one millisecond differ only in their random bits, and inserted in random order
    they split the index's last pages in the middle (see AssetIds).
    """
    ms = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{ms[:8]}-{ms[8:12]}-7"
    r = os.urandom(10 * n).hex()
    return sorted([f"{head}{r[i + 1:i + 4]}-{_VARIANT[r[i + 4]]}{r[i + 5:i + 8]}-{r[i + 8:i + 20]}"
                   for i in range(0, 20 * n, 20)])


class AssetIds:
    """Asset ids for the rows of a load, made a few thousand at a time, handed out in
    ascending order.

    NOTE: measured: one os.urandom and one time stamp per line (three ids) cost about as much
    as formatting the line's three asset rows; drawn from a block they cost half. A block's
    ids share its millisecond; sorted and handed out in order (payloads() numbers a batch's
    rows in the order they are COPYed), the primary key and the ledger's asset index are
    filled left to right, through PostgreSQL's rightmost-leaf fast path (no descent) and with
    90/10 page splits, instead of at random inside the block's range. Measured on the busy
    machine (SQL A/B of one batch's COPY, 3 alternations): inside the noise (24–36 vs 28–42
    µs/item for the assets); kept because it cannot cost more.
    """

    BLOCK = 4096

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.pos = 0

    def take(self, n: int) -> list[str]:
        if len(self.ids) - self.pos < n:
            self.ids = self.ids[self.pos:] + new_uuids(max(self.BLOCK, n))
            self.pos = 0
        out = self.ids[self.pos:self.pos + n]
        self.pos += n
        return out


_EWKB_SRID = 0x20000000  # EWKB's "SRID follows" flag
_EWKB_HEAD = {t: struct.pack("<BII", 1, code | _EWKB_SRID, 4326)
              for t, code in (("Point", 1), ("LineString", 2), ("Polygon", 3),
                              ("MultiPolygon", 6))}
_WKB_POLYGON = struct.pack("<BI", 1, 3)  # a MultiPolygon's member (no SRID of its own)


def _points(coords: list[Any], seen: array) -> bytes:
    """A WKB point list: the count, then x y doubles (2-D positions only); the doubles are
    also added to `seen`."""
    flat = array("d")
    for c in coords:
        if len(c) != 2:
            raise ValueError("not 2-D")
        flat.extend(c)
    seen.extend(flat)
    return struct.pack("<I", len(coords)) + flat.tobytes()


def _rings(rings: list[Any], seen: array) -> bytes:
    return struct.pack("<I", len(rings)) + b"".join(_points(r, seen) for r in rings)


Bounds = tuple[float, float, float, float]


def ewkb_bounds(g: dict[str, Any]) -> tuple[str, Bounds] | None:
    """(hex EWKB (SRID 4326) as pypgstac's plpygis writes it, geometry_bounds(g)) of a 2-D
    GeoJSON geometry, or None to fall back to plpygis and geometry_bounds.

    NOTE: measured: plpygis' encoding was ~40% of pypgstac's per-item cost; this is ≈ 2 µs
    for a 5-point polygon, and PostGIS reads hex EWKB faster than WKT text. The bounds come
    from the same doubles (a second walk over the coordinates cost ≈ 2 µs per line).
    """
    t, c = g["type"], g.get("coordinates")
    seen = array("d")
    try:
        if t == "Point":
            if len(c) != 2:
                return None
            seen.extend(c)
            body = seen.tobytes()
        elif t == "LineString":
            body = _points(c, seen)
        elif t == "Polygon":
            body = _rings(c, seen)
        elif t == "MultiPolygon":
            body = struct.pack("<I", len(c)) + b"".join(_WKB_POLYGON + _rings(p, seen)
                                                        for p in c)
        else:
            return None
    except (TypeError, ValueError, struct.error):
        return None
    if not seen:
        return None
    xs, ys = seen[0::2], seen[1::2]
    return (_EWKB_HEAD[t] + body).hex(), (min(xs), min(ys), max(xs), max(ys))


def ewkb(g: dict[str, Any]) -> str | None:
    """Hex EWKB (SRID 4326) of a 2-D GeoJSON geometry, or None (see ewkb_bounds)."""
    both = ewkb_bounds(g)
    return None if both is None else both[0]


def geometry_ewkb(geometry: dict[str, Any]) -> str:
    """Hex EWKB of any GeoJSON geometry items.create accepts."""
    return encode_geometry(geometry)[0]


def encode_geometry(geometry: dict[str, Any]) -> tuple[str, Bounds]:
    """(hex EWKB, geometry_bounds) of any GeoJSON geometry items.create accepts."""
    both = ewkb_bounds(geometry)
    if both is not None:
        return both
    # 3-D, multi-points/lines, collections: pypgstac's own encoder
    from plpygis import Geometry

    encoded = Geometry.from_geojson(geometry)
    if encoded is None:
        raise InvalidRequest("geometry could not be encoded for pgstac")
    return str(encoded.ewkb), geometry_bounds(geometry)


@dataclass(slots=True)
class Prepared:
    """One validated input line, formatted for COPY."""

    lineno: int
    item_id: str
    cid: str | None  # the Geopera collection (None: uncollected)
    pgcol: str  # the pgstac collection: cid, or the project's inbox
    low: datetime
    high: datetime
    pg_tail: str  # "\tdatetime\tend_datetime\tgeometry\tcontent\tprivate\n"
    item_tail: str  # "\ttype\tcreated_at\tupdated_at\texpires_at\tcloud_cover\n"
    asset_lines: list[str]  # each asset's geopera.assets row after its id: "\titem_id\t…\n"
    ledger_lines: list[str | None]  # per asset: its ledger credit after the id, None: no size
    bounds: tuple[float, float, float, float]  # the geometry's x0 y0 x1 y1 (ST_XMin, ...)
    exact_times: bool  # low/high are what PostgreSQL reads from the row's datetime texts


# NOTE: roles repeat from line to line (["data"], ["thumbnail"], ...): their COPY text is
# kept, bounded so that a file of ever-new roles cannot grow the loader's memory.
_ROLES: dict[tuple[str, ...], str] = {}


def roles_text(roles: list[str]) -> str:
    """esc(pg_array(roles)), remembered for the first few hundred distinct role lists."""
    key = tuple(roles)
    text = _ROLES.get(key)
    if text is None:
        text = esc(pg_array(roles))
        if len(_ROLES) < 512:
            _ROLES[key] = text
    return text


def asset_rows(item_id: str, assets: list[Asset], stamp: str, org: str,
               project_id: str) -> tuple[list[str], list[str | None]]:
    """Per asset: its geopera.assets row and its ledger credit (None: no size), each without
    the asset's id, which payloads() puts in front when it numbers the batch's rows."""
    asset_lines: list[str] = []
    ledger_lines: list[str | None] = []
    for key, href, media, size, roles, title in assets:
        asset_lines.append(
            f"\t{item_id}\t{key}\t{esc(href)}\t{esc(media)}\t"
            f"{NULL if size is None else size}\t{roles_text(roles)}\t{esc(title)}"
            f"\t{stamp}\n")
        ledger_lines.append(f"\t{org}\t{project_id}\t{item_id}\t{size}\tasset_created"
                            f"\t{stamp}\n" if size else None)
    return asset_lines, ledger_lines


def geometry_bounds(g: dict[str, Any]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a validated GeoJSON geometry: PostGIS' ST_XMin, ST_YMin, ST_XMax,
    ST_YMax of it (every position counts, z aside; the same doubles the EWKB carries)."""
    t, c = g["type"], g.get("coordinates")
    if t == "Polygon" or t == "MultiLineString":
        pts = [p for part in c for p in part]
    elif t == "Point":
        pts = [c]
    elif t == "LineString" or t == "MultiPoint":
        pts = c
    elif t == "MultiPolygon":
        pts = [p for poly in c for ring in poly for p in ring]
    else:  # GeometryCollection (validation refuses empty ones)
        parts = [geometry_bounds(m) for m in g["geometries"]]
        return (min(b[0] for b in parts), min(b[1] for b in parts),
                max(b[2] for b in parts), max(b[3] for b in parts))
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))


def _item_id(p: Prepared) -> str:
    return p.item_id


@dataclass(slots=True)
class Payloads:
    """A batch's COPY text: the platform tables' (statement, rows), then pgstac's rows per
    pgstac collection and, per collection, what the pgstac triggers note (bulk.copy_rows)."""

    platform: list[tuple[str, str]]
    stac: dict[str, str]
    notes: list[Note]


def payloads(items: list[Prepared], project_id: str,
             new_ids: Callable[[int], list[str]] = new_uuids) -> Payloads:
    """The batch's COPY payloads, rows in item-id order; `new_ids(n)`: n new asset ids in
    ascending order (AssetIds.take).

    NOTE: rows in id order: each index keyed by item id (pgstac's and ours, the asset
    foreign-key probes) is then filled and probed left to right, not at random pages
    (≈ 7 µs/item less for the assets alone); the asset ids are given in that same order, so
    the indexes keyed by asset id are filled left to right too.
    """
    items = sorted(items, key=_item_id)
    ids = iter(new_ids(sum(len(b.asset_lines) for b in items)))
    assets: list[str] = []
    ledger: list[str] = []
    for b in items:
        for row, credit in zip(b.asset_lines, b.ledger_lines):
            aid = next(ids)
            assets.append(aid)
            assets.append(row)
            if credit is not None:
                ledger.append(aid)
                ledger.append(credit)
    stac: dict[str, list[str]] = {}
    notes: dict[str, list[Any]] = {}
    for b in items:
        stac.setdefault(b.pgcol, []).append(f"{b.item_id}\t{b.pgcol}{b.pg_tail}")
        x0, y0, x1, y1 = b.bounds
        n = notes.get(b.pgcol)
        if n is None:
            notes[b.pgcol] = [b.pgcol, x0, y0, x1, y1, b.low, b.high, not b.exact_times]
            continue
        if x0 < n[1]:
            n[1] = x0
        if y0 < n[2]:
            n[2] = y0
        if x1 > n[3]:
            n[3] = x1
        if y1 > n[4]:
            n[4] = y1
        if b.low < n[5]:
            n[5] = b.low
        if b.high > n[6]:
            n[6] = b.high
        if not b.exact_times:
            n[7] = True
    return Payloads(
        list(zip(COPY_STATEMENTS, (
            "".join([f"{b.item_id}\t{project_id}\t{b.cid or NULL}\t{b.pgcol}{b.item_tail}"
                     for b in items]),
            "".join(assets), "".join(ledger)))),
        {col: "".join(rows) for col, rows in stac.items()},
        [tuple(n) for _, n in sorted(notes.items())])  # type: ignore[misc]
