"""Shared field types for op params and results."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from uuid import UUID

import orjson

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from geopera_stac_ext.core.jsonsafe import check_json

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "GeometryCollection"}


def _uuid_str(v: Any) -> str:
    if isinstance(v, UUID):
        return str(v)
    if not isinstance(v, str):
        raise ValueError("must be a UUID string")
    try:
        return str(UUID(v))
    except ValueError:
        raise ValueError("must be a UUID") from None


def _color(v: str) -> str:
    if not COLOR_RE.match(v):
        raise ValueError("must be a #rrggbb hex colour, e.g. #2e7d32")
    return v.lower()


def _datetime(v: Any) -> datetime:
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be an RFC 3339 timestamp, e.g. 2026-05-18T10:30:00Z") from None
    else:
        raise ValueError("must be an RFC 3339 timestamp string")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise ValueError("must fall within years 1-9999 in UTC") from None


# An RFC 3339 time with a zone (groups: the whole seconds, the fraction's digits, the zone).
RFC3339_TIME = re.compile(
    r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)")


def pg_instant(text: str) -> datetime:
    """An RFC 3339 time (RFC3339_TIME) as PostgreSQL's timestamptz input reads it: the fraction
    rounded to microseconds half to even (its rint), where Python's fromisoformat truncates."""
    m = RFC3339_TIME.fullmatch(text)
    if m is None:
        raise ValueError("must be an RFC 3339 timestamp with a zone, e.g. 2026-05-18T10:30:00Z")
    whole = _datetime(m.group(1) + m.group(3))
    micros = round(float("0." + m.group(2)) * 1_000_000) if m.group(2) else 0
    try:
        return whole + timedelta(microseconds=micros)
    except OverflowError:
        raise ValueError("must fall within years 1-9999 in UTC") from None


def time_span_error(properties: dict[str, Any]) -> str | None:
    """Why an item's properties.start_datetime/end_datetime cannot be stored, or None.

    NOTE: pgstac reads both as timestamps when both are set and refuses a start after the end
    (an exception inside the item's write, which surfaced as a 500); the check reads them as
    PostgreSQL does (pg_instant)."""
    times = []
    for key in ("start_datetime", "end_datetime"):
        v = properties.get(key)
        if v is None:
            times.append(None)
            continue
        try:
            if not isinstance(v, str):
                raise ValueError("must be an RFC 3339 timestamp string")
            times.append(pg_instant(v))
        except ValueError as e:
            return f"properties.{key} {e}"
    if times[0] is not None and times[1] is not None and times[0] > times[1]:
        return "properties.start_datetime must not be after properties.end_datetime"
    return None


# NOTE: request geometries are bounded (issue 11, docs/security.md "Limits and fairness"): one
# 20,000-vertex `intersects` held a search connection for 30 s. Every geometry the service
# accepts (items.create/update, `intersects`, CQL2 spatial literals) passes through _geometry.
# create_app() applies GEOPERA_MAX_GEOMETRY_VERTICES / GEOPERA_MAX_GEOMETRY_BYTES.
GEOMETRY_LIMITS = {"vertices": 10_000, "bytes": 512 * 1024}


def configure_geometry_limits(vertices: int, size_bytes: int) -> None:
    GEOMETRY_LIMITS.update(vertices=vertices, bytes=size_bytes)


def finite_number(c: Any) -> bool:
    # NOTE: JSON allows 400-digit integers and Python keeps them exact; a coordinate must fit
    # a double (PostGIS), and NaN/Infinity are no coordinates.
    if isinstance(c, bool) or not isinstance(c, (int, float)):
        return False
    return math.isfinite(c) if isinstance(c, float) else abs(c) <= 1_000_000


NUMBER = (int, float)  # NOTE: exact types: type(True) is bool, not int


def _positions(coords: Any, depth: int, count: list[int]) -> None:
    if depth == 0:
        _points([coords], count)
        return
    if not isinstance(coords, list) or not coords:
        raise ValueError("coordinates are not nested as the geometry type requires")
    if depth == 1:
        _points(coords, count)
        return
    for c in coords:
        _positions(c, depth - 1, count)


def _points(points: list[Any], count: list[int]) -> None:
    """Check a list of positions and add them to count[0].

    NOTE: the hot loop of every geometry check (a 20,000-vertex search is 20,000 turns):
    exact type tests and the range comparisons, which also refuse NaN and ±Infinity (every
    comparison with NaN is false) and integers too large for a double.
    """
    for p in points:
        if type(p) is not list or not 2 <= len(p) <= 3:
            raise ValueError("a position must be [lon, lat] or [lon, lat, z] numbers")
        lon, lat = p[0], p[1]
        if type(lon) not in NUMBER or type(lat) not in NUMBER or (
                len(p) == 3 and not finite_number(p[2])):
            raise ValueError("a position must be [lon, lat] or [lon, lat, z] numbers")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            if not (finite_number(lon) and finite_number(lat)):
                raise ValueError("a position must be [lon, lat] or [lon, lat, z] numbers")
            raise ValueError("coordinates must be lon in [-180, 180], lat in [-90, 90]")
    count[0] += len(points)
    if count[0] > GEOMETRY_LIMITS["vertices"]:
        raise ValueError(f"geometry has more than {GEOMETRY_LIMITS['vertices']} vertices "
                         "(the limit GEOPERA_MAX_GEOMETRY_VERTICES); simplify it")


DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
         "MultiPolygon": 3}


def _one_geometry(v: Any, count: list[int], nested: bool) -> dict[str, Any]:
    if not isinstance(v, dict) or v.get("type") not in GEOMETRY_TYPES:
        raise ValueError(f"must be a GeoJSON geometry object with type one of "
                         f"{', '.join(sorted(GEOMETRY_TYPES))}")
    if v["type"] == "GeometryCollection":
        if nested:
            # NOTE: RFC 7946 §3.1.8: a GeometryCollection SHOULD NOT nest others; PostGIS'
            # GeoJSON reader fails on it, so it is refused here with the field named.
            raise ValueError("a GeometryCollection must not contain another GeometryCollection")
        geoms = v.get("geometries")
        if not isinstance(geoms, list) or not geoms:
            raise ValueError("a GeometryCollection needs a non-empty `geometries` list")
        return {"type": "GeometryCollection",
                "geometries": [_one_geometry(g, count, True) for g in geoms]}
    _positions(v.get("coordinates"), DEPTH[v["type"]], count)
    if v["type"] == "Polygon":
        for ring in v["coordinates"]:
            if len(ring) < 4 or ring[0] != ring[-1]:
                raise ValueError("each polygon ring needs ≥ 4 positions and must be closed")
    return {"type": v["type"], "coordinates": v["coordinates"]}


def _geometry(v: Any) -> dict[str, Any]:
    geom = _one_geometry(v, [0], False)
    size = len(orjson.dumps(geom))
    if size > GEOMETRY_LIMITS["bytes"]:
        raise ValueError(f"geometry is {size} bytes as GeoJSON, more than "
                         f"{GEOMETRY_LIMITS['bytes']} (the limit GEOPERA_MAX_GEOMETRY_BYTES)")
    return geom


def _bbox(v: Any) -> list[float]:
    if not isinstance(v, list) or len(v) != 4 or not all(finite_number(x) for x in v):
        raise ValueError("must be exactly four numbers [west, south, east, north]")
    w, s, e, n = (float(x) for x in v)
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise ValueError("latitudes must be within [-90, 90]")
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise ValueError("longitudes must be within [-180, 180]")
    if s > n:
        raise ValueError("south must not be greater than north")
    return [w, s, e, n]


Uuid = Annotated[str, BeforeValidator(_uuid_str),
                 WithJsonSchema({"type": "string", "format": "uuid"})]
Color = Annotated[str, AfterValidator(_color),
                  WithJsonSchema({"type": "string", "pattern": COLOR_RE.pattern})]
Timestamp = Annotated[datetime, BeforeValidator(_datetime)]
Geometry = Annotated[dict[str, Any], BeforeValidator(_geometry)]
BBox = Annotated[list[float], BeforeValidator(_bbox)]
Name = Annotated[str, Field(min_length=1, max_length=500)]
# NOTE: strict: lax mode would take `true` as 1 and "7" as 7; a wrong type is a 400.
Limit = Annotated[int, Field(ge=1, le=1000, strict=True)]
Offset = Annotated[int, Field(ge=0, strict=True)]


def bbox_of(geometry: dict[str, Any]) -> list[float]:
    """The [west, south, east, north] envelope of a GeoJSON geometry."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if c and isinstance(c[0], (int, float)):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        else:
            for x in c:
                walk(x)

    if geometry["type"] == "GeometryCollection":
        for g in geometry["geometries"]:
            walk(g["coordinates"])
    else:
        walk(geometry["coordinates"])
    return [min(xs), min(ys), max(xs), max(ys)]


def polygon_of(bbox: list[float]) -> dict[str, Any]:
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


class Params(BaseModel):
    """Base of every op's parameters: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_json(cls, data: Any) -> Any:
        # NOTE: every op body passes here first (core/jsonsafe.py): NUL and lone surrogates
        # in text, integers beyond 64 bits, NaN/Infinity and nesting too deep are refused,
        # naming where they are, instead of failing in orjson or the database after part of
        # the work was done.
        check_json(data)
        return data

    def given(self, name: str) -> bool:
        """True when the caller sent the field (even as null): patch-by-presence semantics."""
        return name in self.model_fields_set


class Record(BaseModel):
    """Open result model: documented fields plus whatever the record carries."""

    model_config = ConfigDict(extra="allow")


class OkResult(BaseModel):
    ok: bool
    id: str
