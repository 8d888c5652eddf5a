"""CQL2 operators as SQL templates, and the typed values the translator passes around."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from geopera_stac_ext.db.sql import Query
from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.search.fields import num_of, text_of  # noqa: F401 (re-exported)
from geopera_stac_ext.search.params import parse_instant

KINDS = {"timestamp": "ts", "text": "text", "geometry": "geom"}
COMPARISONS = {"=", "<>", "<", "<=", ">", ">="}
SPATIAL = {"s_intersects": "ST_Intersects", "intersects": "ST_Intersects",
           "s_within": "ST_Within", "s_contains": "ST_Contains", "s_equals": "ST_Equals",
           "s_touches": "ST_Touches", "s_overlaps": "ST_Overlaps", "s_crosses": "ST_Crosses",
           "s_disjoint": "ST_Disjoint"}
# NOTE: pgstac's temporal_op_query templates; l/r = first/second operand, l/h = low/high end.
TEMPORAL = {
    "t_before": "lh < rl", "t_after": "ll > rh", "t_meets": "lh = rl", "t_metby": "ll = rh",
    "t_overlaps": "ll < rl AND lh > rl AND lh < rh",
    "t_overlappedby": "ll > rl AND ll < rh AND lh > rh",
    "t_starts": "ll = rl AND lh < rh", "t_startedby": "ll = rl AND lh > rh",
    "t_during": "ll > rl AND lh < rh", "t_contains": "ll < rl AND lh > rh",
    "t_finishes": "ll > rl AND lh = rh", "t_finishedby": "ll < rl AND lh = rh",
    "t_equals": "ll = rl AND lh = rh", "t_disjoint": "NOT (ll <= rh AND lh >= rl)",
    "t_intersects": "ll <= rh AND lh >= rl", "anyinteracts": "ll <= rh AND lh >= rl",
}
ARRAY = {"a_equals": "=", "a_contains": "@>", "a_containedby": "<@", "a_contained_by": "<@",
         "a_overlaps": "&&"}
ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/"}
TEXT_FUNCTIONS = {"casei": "upper", "upper": "upper", "lower": "lower",
                  "accenti": "geopera.cql2_unaccent"}
SUPPORTED = ("and, or, not, =, <>, <, <=, >, >=, like, between, in, isNull, casei, accenti, "
             "upper, lower, +, -, *, /, " + ", ".join(sorted({*SPATIAL, *TEMPORAL, *ARRAY})))
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
# NOTE: exactly the classes tests/search pass on both front doors (GET, POST, op API).
CQL2_CONFORMANCE = [CQL2 + c for c in (
    "cql2-text", "cql2-json", "basic-cql2", "advanced-comparison-operators",
    "case-insensitive-comparison", "accent-insensitive-comparison", "basic-spatial-functions",
    "basic-spatial-functions-plus", "spatial-functions", "temporal-functions",
    "array-functions", "property-property", "arithmetic")]
MAX_DEPTH = 50
MAX_NODES = 2000
NO_VALUE = object()
MINUS_INF, PLUS_INF = "'-infinity'::timestamptz", "'infinity'::timestamptz"


@dataclass(frozen=True)
class Val:
    """A translated value: its SQL, its kind (num, text, bool, ts, geom, array, json), the
    jsonb of a content property (json: type unknown until compared) and a literal's value."""

    sql: str
    kind: str
    j: str | None = None
    lit: Any = NO_VALUE


def numeric_string(value: str) -> float | None:
    try:
        f = float(value)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def literal_end(node: Any, side: int) -> datetime | None:
    """A literal temporal operand's low (side 0) or high (side 1) instant; None otherwise."""
    if isinstance(node, dict) and "date" in node and set(node) == {"date"}:
        raw, whole_day = node["date"], True
    elif isinstance(node, dict) and set(node) == {"timestamp"}:
        raw, whole_day = node["timestamp"], False
    elif isinstance(node, str):
        if node in ("..", ""):
            return None
        raw, whole_day = node, len(node.strip()) == 10
    else:
        return None
    if isinstance(raw, str) and raw.strip().upper().startswith("P"):
        raise InvalidRequest("filter: durations (P…) in intervals are not supported; give "
                             "both ends")
    when = parse_instant(raw, "filter temporal operand")
    if whole_day and side == 1:
        return when + timedelta(days=1) - timedelta(microseconds=1)
    return when


def kind_name(kind: str) -> str:
    return {"num": "number", "text": "string", "bool": "boolean", "ts": "timestamp",
            "geom": "geometry", "list": "list", "json": "property"}.get(kind, kind)


def lit_suffix(v: Val) -> str:
    return f" {show(v.lit)}" if v.lit is not NO_VALUE and not isinstance(v.lit, datetime) else ""


def show(node: Any) -> str:
    try:
        return orjson.dumps(node).decode()[:120]
    except (TypeError, orjson.JSONEncodeError):
        return repr(node)[:120]


def bbox_geometry_sql(sql: Query, bbox: list[float]) -> str:
    """An envelope; one crossing the antimeridian (west > east) is split in two."""
    w, s, e, n = bbox
    if w <= e:
        return (f"ST_MakeEnvelope({sql.bind(w)}::float8, {sql.bind(s)}::float8, "
                f"{sql.bind(e)}::float8, {sql.bind(n)}::float8, 4326)")
    return (f"ST_Collect(ST_MakeEnvelope({sql.bind(w)}::float8, {sql.bind(s)}::float8, 180, "
            f"{sql.bind(n)}::float8, 4326), ST_MakeEnvelope(-180, {sql.bind(s)}::float8, "
            f"{sql.bind(e)}::float8, {sql.bind(n)}::float8, 4326))")
