"""CQL2 JSON (and the STAC query extension) → SQL over pgstac.items `p` + geopera.items `i`, every value bound."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.fields import _geometry

# Item record names → their STAC property names (record.py's MAPPED_PROPERTIES, plus eo:).
RECORD_TO_STAC = {"name": "title", "cloud_cover": "eo:cloud_cover"}


@dataclass(frozen=True)
class Column:
    """A searchable field stored in a real column (not in pgstac's JSON content)."""

    sql: str
    kind: str  # text | timestamp | geometry


# NOTE: platform state lives in geopera.items (i), STAC columns in pgstac.items (p). The
# `geopera:*`, `created` and `updated` names are what stac_feature() shows STAC clients.
COLUMNS: dict[str, Column] = {
    "id": Column("p.id", "text"),
    "collection": Column("i.collection_id::text", "text"),
    "collection_id": Column("i.collection_id::text", "text"),
    "project_id": Column("i.project_id::text", "text"),
    "geopera:project_id": Column("i.project_id::text", "text"),
    "type": Column("i.type", "text"),
    "geopera:type": Column("i.type", "text"),
    "lifecycle_state": Column("i.lifecycle_state", "text"),
    "geopera:lifecycle_state": Column("i.lifecycle_state", "text"),
    "created_at": Column("i.created_at", "timestamp"),
    "created": Column("i.created_at", "timestamp"),
    "updated_at": Column("i.updated_at", "timestamp"),
    "updated": Column("i.updated_at", "timestamp"),
    "expires_at": Column("i.expires_at", "timestamp"),
    "geopera:expires_at": Column("i.expires_at", "timestamp"),
    "datetime": Column("p.datetime", "timestamp"),
    "start_datetime": Column("p.datetime", "timestamp"),
    "end_datetime": Column("p.end_datetime", "timestamp"),
    "geometry": Column("p.geometry", "geometry"),
}

# NOTE: content properties with a declared type (the ones /queryables advertises with a type)
# are read as that type whatever the literal, as pgstac reads a registered queryable: a numeric
# string such as pystac-client's query `eo:cloud_cover<10` ("10") compares as the number 10.
TYPED_PROPERTIES = {"eo:cloud_cover": "num", "gsd": "num", "title": "text",
                    "description": "text"}
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
TOKEN = re.compile("\x00(\\d+)\x00")
MINUS_INF, PLUS_INF = "'-infinity'::timestamptz", "'infinity'::timestamptz"


def stac_name(name: str) -> str:
    """A record name (cloud_cover, name) as the STAC property it is stored under."""
    return RECORD_TO_STAC.get(name, name)


def parse_instant(value: Any, what: str) -> datetime:
    """An RFC 3339 timestamp (or a full date) as an aware UTC datetime; 400 otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{what}: expected an RFC 3339 timestamp string, got {value!r}")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{what}: {value!r} is not an RFC 3339 timestamp (e.g. 2026-05-18T10:30:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise InvalidRequest(f"{what}: {value!r} is outside years 1-9999 in UTC") from None


class SqlBuilder:
    """Accumulates bound parameters; `bind(v)` returns the placeholder for v."""

    def __init__(self, params: list[Any] | None = None) -> None:
        self.params: list[Any] = params if params is not None else []

    def bind(self, value: Any, cast: str = "") -> str:
        self.params.append(value)
        return f"${len(self.params)}{cast}"


@dataclass(frozen=True)
class Val:
    """A translated value: its SQL, its kind (num, text, bool, ts, geom, array, json), the
    jsonb of a content property (json: type unknown until compared) and a literal's value."""

    sql: str
    kind: str
    j: str | None = None
    lit: Any = NO_VALUE


def _num_of(j: str) -> str:
    return f"(CASE WHEN jsonb_typeof({j}) = 'number' THEN ({j})::float8 END)"


def _text_of(j: str) -> str:
    return f"(CASE WHEN jsonb_typeof({j}) = 'string' THEN {j} #>> '{{}}' END)"


def _numeric_string(value: str) -> float | None:
    try:
        f = float(value)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


class Translator:
    """Translate one CQL2 JSON expression. Every literal and property key is a bound parameter,
    placed through a token that becomes `$n` only if the final SQL still contains it, so a
    parameter can never be left unused (PostgreSQL could not type it: 500)."""

    def __init__(self, sql: SqlBuilder) -> None:
        self.sql = sql
        self.nodes = 0
        self._values: list[Any] = []

    def bind(self, value: Any, cast: str = "") -> str:
        self._values.append(value)
        return f"\x00{len(self._values) - 1}\x00{cast}"

    def where(self, node: Any) -> str:
        """The WHERE condition for a CQL2 JSON filter (NULL = unknown, as in CQL2)."""
        body = self.cond(node, 0)
        placed: dict[int, str] = {}

        def place(m: re.Match[str]) -> str:
            i = int(m.group(1))
            if i not in placed:
                placed[i] = self.sql.bind(self._values[i])
            return placed[i]

        return TOKEN.sub(place, body)

    # -------------------------------------------------------------- conditions
    def _enter(self, depth: int) -> None:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise InvalidRequest(f"filter: expression is too deeply nested or too large "
                                 f"(limits: {MAX_DEPTH} levels, {MAX_NODES} nodes)")

    def _op(self, node: Any) -> tuple[str, list[Any]]:
        op, args = node["op"], node.get("args")
        if not isinstance(op, str):
            raise InvalidRequest("filter: `op` must be a string")
        if not isinstance(args, list):
            raise InvalidRequest(f"filter: `{op}` needs an `args` array")
        return op.lower(), args

    def cond(self, node: Any, depth: int) -> str:
        self._enter(depth)
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        if not isinstance(node, dict) or "op" not in node:
            raise InvalidRequest("filter: expected an object with `op` and `args` "
                                 f"(CQL2 JSON), got {_show(node)}")
        op, args = self._op(node)
        d = depth + 1
        if op in ("and", "or"):
            if not args:
                raise InvalidRequest(f"filter: `{op}` needs at least one argument")
            return "(" + f" {op.upper()} ".join(self.cond(a, d) for a in args) + ")"
        if op == "not":
            self._arity(op, args, 1)
            return f"(NOT {self.cond(args[0], d)})"
        if op in COMPARISONS:
            self._arity(op, args, 2)
            return self.compare(op, self.value(args[0], d), self.value(args[1], d))
        if op == "like":
            self._arity(op, args, 2)
            a, b = (self.as_kind(self.value(x, d), "text", op) for x in args)
            return f"({a.sql} LIKE {b.sql})"
        if op == "between":
            if len(args) == 2 and isinstance(args[1], list) and len(args[1]) == 2:
                args = [args[0], *args[1]]  # NOTE: the older draft's form, still sent by clients
            self._arity(op, args, 3)
            v, lo, hi = (self.value(x, d) for x in args)
            return f"({self.compare('>=', v, lo)} AND {self.compare('<=', v, hi)})"
        if op == "in":
            return self.in_(args, d)
        if op == "isnull":
            self._arity("isNull", args, 1)
            v = self.value(args[0], d)
            if v.j is not None:
                return f"({v.j} IS NULL OR jsonb_typeof({v.j}) = 'null')"
            return f"({v.sql} IS NULL)"
        if op in SPATIAL:
            self._arity(op, args, 2)
            a, b = (self.as_kind(self.value(x, d), "geom", op) for x in args)
            return f"{SPATIAL[op]}({a.sql}, {b.sql})"
        if op in TEMPORAL:
            return self.temporal(op, args, d)
        if op in ARRAY:
            self._arity(op, args, 2)
            a, b = (self.array(x, d) for x in args)
            return f"({a} {ARRAY[op]} {b})"
        if op in ARITHMETIC or op in TEXT_FUNCTIONS:
            raise InvalidRequest(f"filter: `{op}` gives a value, not a condition; compare it")
        raise InvalidRequest(f"filter: unsupported operator `{op}`; supported: {SUPPORTED}")

    @staticmethod
    def _arity(op: str, args: list[Any], n: int) -> None:
        if len(args) != n:
            raise InvalidRequest(f"filter: `{op}` takes exactly {n} argument"
                                 f"{'s' if n > 1 else ''}, got {len(args)}")

    # -------------------------------------------------------------- values
    def prop(self, name: Any) -> Val:
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise InvalidRequest("filter: a property name must be a non-empty string of at most "
                                 "256 characters")
        # NOTE: STAC clients write `properties.eo:cloud_cover` as sortby and fields accept it.
        if name.startswith("properties.") and len(name) > len("properties."):
            name = name[len("properties."):]
        col = COLUMNS.get(name)
        if col is not None:
            return Val(col.sql, KINDS[col.kind])
        key = stac_name(name)
        j = f"(p.content->'properties'->{self.bind(key, '::text')})"
        declared = TYPED_PROPERTIES.get(key)
        if declared == "num":
            return Val(_num_of(j), "num", j)
        if declared == "text":
            return Val(_text_of(j), "text", j)
        return Val(j, "json", j)

    def value(self, node: Any, depth: int) -> Val:
        self._enter(depth)
        if isinstance(node, bool):
            return Val(self.bind(node, "::boolean"), "bool", lit=node)
        if isinstance(node, (int, float)):
            if not math.isfinite(node):
                raise InvalidRequest("filter: numbers must be finite")
            return Val(self.bind(float(node), "::float8"), "num", lit=float(node))
        if isinstance(node, str):
            return Val(self.bind(node, "::text"), "text", lit=node)
        if isinstance(node, list):
            return Val("", "list", lit=node)
        if not isinstance(node, dict):
            raise InvalidRequest(f"filter: unsupported value {_show(node)}")
        if set(node) == {"property"}:
            return self.prop(node["property"])
        if "timestamp" in node or "date" in node:
            raw = node.get("timestamp", node.get("date"))
            when = parse_instant(raw, "filter timestamp")
            return Val(self.bind(when, "::timestamptz"), "ts", lit=when)
        if "interval" in node:
            raise InvalidRequest("filter: an INTERVAL is compared with temporal operators "
                                 "(t_intersects, t_during, …), not with =, <, …")
        if set(node) == {"bbox"}:
            return Val(self.envelope(node["bbox"]), "geom")
        if "type" in node and "op" not in node:
            try:
                geom = _geometry(node)
            except ValueError as e:
                raise InvalidRequest(f"filter: invalid geometry: {e}") from None
            # NOTE: a scalar subquery (InitPlan) parses the GeoJSON once per query, not per
            # candidate row (a 10,000-vertex polygon: 1 s -> 0.1 s over 30 rows).
            return Val(f"(SELECT ST_SetSRID(ST_GeomFromGeoJSON("
                       f"{self.bind(orjson.dumps(geom).decode())}::text), 4326))", "geom")
        if "op" not in node:
            raise InvalidRequest(f"filter: unsupported value {_show(node)}")
        op, args = self._op(node)
        if op in ARITHMETIC:
            self._arity(op, args, 2)
            a, b = (self.as_kind(self.value(x, depth + 1), "num", op) for x in args)
            if op == "/":
                # NOTE: x / 0 is unknown for that item instead of failing the whole search.
                return Val(f"({a.sql} / NULLIF({b.sql}, 0))", "num")
            return Val(f"({a.sql} {op} {b.sql})", "num")
        if op in TEXT_FUNCTIONS:
            self._arity(op, args, 1)
            a = self.as_kind(self.value(args[0], depth + 1), "text", op)
            return Val(f"{TEXT_FUNCTIONS[op]}({a.sql})", "text")
        if op in ("%", "div", "^", "mod"):
            raise InvalidRequest(f"filter: arithmetic `{op}` is not supported (pgstac has none "
                                 "either); use +, -, * and /")
        # NOTE: a condition used as a value, e.g. (a = 1) = true.
        return Val(self.cond(node, depth), "bool")

    def envelope(self, bbox: Any) -> str:
        from geopera_stac_ext.search.engine import parse_bbox

        if isinstance(bbox, list) and len(bbox) == 6:
            bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
        return bbox_geometry_sql(self, parse_bbox(bbox, "filter bbox"))

    def as_kind(self, v: Val, kind: str, op: str) -> Val:
        """v read as `kind`: a content property takes the kind it is compared with; a string
        literal becomes a number or timestamp when compared with one (as pgstac casts)."""
        if v.kind == kind:
            return v
        if v.kind == "json" and v.j is not None:
            if kind == "num":
                return Val(_num_of(v.j), "num", v.j)
            if kind == "text":
                return Val(_text_of(v.j), "text", v.j)
            if kind == "bool":
                return Val(f"(CASE WHEN jsonb_typeof({v.j}) = 'boolean' THEN ({v.j})::boolean "
                           "END)", "bool", v.j)
            if kind == "ts":
                return Val(f"geopera.cql2_tstz({v.j})", "ts", v.j)
        if v.kind == "text" and isinstance(v.lit, str):
            if kind == "num":
                f = _numeric_string(v.lit)
                if f is not None:
                    return Val(self.bind(f, "::float8"), "num", lit=f)
            if kind == "ts":
                when = parse_instant(v.lit, f"filter `{op}`")
                return Val(self.bind(when, "::timestamptz"), "ts", lit=when)
        if v.kind == "ts" and kind == "text" and v.lit is not NO_VALUE:
            iso = v.lit.isoformat().replace("+00:00", "Z")
            return Val(self.bind(iso, "::text"), "text", lit=iso)
        names = {"num": "a number", "text": "a string", "bool": "a boolean", "ts": "a timestamp",
                 "geom": "a geometry", "list": "a list", "json": "a property"}
        raise InvalidRequest(f"filter: `{op}` needs {names[kind]} here, got "
                             f"{names.get(v.kind, v.kind)}{_lit(v)}")

    def compare(self, op: str, a: Val, b: Val) -> str:
        if a.kind == "json" and b.kind == "json":
            # NOTE: two properties of unknown type compare only when their JSON types agree.
            return (f"(CASE WHEN jsonb_typeof({a.j}) = jsonb_typeof({b.j}) AND jsonb_typeof("
                    f"{a.j}) IN ('number', 'string', 'boolean') THEN {a.j} {op} {b.j} END)")
        kind = self._unify(a, b, op)
        if kind in ("geom", "list") or (kind == "bool" and op not in ("=", "<>")):
            raise InvalidRequest(f"filter: `{op}` cannot compare {kind_name(kind)} values")
        a, b = self.as_kind(a, kind, op), self.as_kind(b, kind, op)
        return f"({a.sql} {op} {b.sql})"

    @staticmethod
    def _unify(a: Val, b: Val, op: str) -> str:
        if a.kind == b.kind:
            return a.kind
        if a.kind == "json":
            return b.kind
        if b.kind == "json":
            return a.kind
        # NOTE: a string literal beside a number or timestamp is read as one.
        for x, y in ((a, b), (b, a)):
            if x.kind == "text" and isinstance(x.lit, str) and y.kind in ("num", "ts"):
                return y.kind
        # NOTE: a timestamp literal beside a text property compares as its RFC 3339 text.
        for x, y in ((a, b), (b, a)):
            if x.kind == "ts" and x.lit is not NO_VALUE and y.kind == "text":
                return "text"
        raise InvalidRequest(f"filter: `{op}` cannot compare {kind_name(a.kind)}{_lit(a)} "
                             f"with {kind_name(b.kind)}{_lit(b)}")

    def in_(self, args: list[Any], depth: int) -> str:
        if len(args) != 2 or not isinstance(args[1], list):
            raise InvalidRequest("filter: `in` takes a value and a list of values")
        v, items = self.value(args[0], depth + 1), args[1]
        if not items:
            return "FALSE"
        vals = [self.value(x, depth + 1) for x in items]
        lits = [x.lit for x in vals]
        if all(x.kind == vals[0].kind and x.lit is not NO_VALUE for x in vals) and \
                vals[0].kind in ("num", "text"):
            kind = self._unify(v, vals[0], "in")
            if kind == vals[0].kind:
                left = self.as_kind(v, kind, "in")
                cast = "::float8[]" if kind == "num" else "::text[]"
                return f"({left.sql} = ANY({self.bind(lits, cast)}))"
        return "(" + " OR ".join(self.compare("=", v, x) for x in vals) + ")"

    # -------------------------------------------------------------- temporal
    def temporal(self, op: str, args: list[Any], depth: int) -> str:
        self._arity(op, args, 2)
        (ll, lh), (rl, rh) = (self.period(a, depth + 1) for a in args)
        ends = {"ll": ll, "lh": lh, "rl": rl, "rh": rh}
        # NOTE: tokens are replaced in one pass, so an end's SQL is never rescanned.
        return "(" + re.sub(r"\b(ll|lh|rl|rh)\b", lambda m: ends[m.group(1)], TEMPORAL[op]) + ")"

    def period(self, node: Any, depth: int) -> tuple[str, str]:
        """A temporal operand as its closed [low, high] ends: an instant is [t, t], a date its
        whole day, an interval its two ends (`..` open), a property its instant."""
        self._enter(depth)
        if isinstance(node, dict) and "interval" in node:
            node = node["interval"]
        if isinstance(node, str) and "/" in node:
            node = node.split("/")
        if isinstance(node, list):
            if len(node) != 2:
                raise InvalidRequest("filter: an interval has exactly two ends")
            lo_end, hi_end = node
            lo = MINUS_INF if lo_end in ("..", "") else self.period(lo_end, depth + 1)[0]
            hi = PLUS_INF if hi_end in ("..", "") else self.period(hi_end, depth + 1)[1]
            lo_t, hi_t = _literal_end(lo_end, 0), _literal_end(hi_end, 1)
            if lo_t is not None and hi_t is not None and lo_t > hi_t:
                raise InvalidRequest("filter: an interval ends before it starts")
            return lo, hi
        if isinstance(node, dict) and set(node) == {"property"}:
            v = self.as_kind(self.prop(node["property"]), "ts", "temporal operator")
            return v.sql, v.sql
        lo_t, hi_t = _literal_end(node, 0), _literal_end(node, 1)
        if lo_t is None or hi_t is None:
            raise InvalidRequest(f"filter: a temporal operand is a timestamp, date, interval or "
                                 f"timestamp property, got {_show(node)}")
        low = self.bind(lo_t, "::timestamptz")
        return low, low if hi_t == lo_t else self.bind(hi_t, "::timestamptz")

    # -------------------------------------------------------------- arrays
    def array(self, node: Any, depth: int) -> str:
        """An array operand as text[] (pgstac's to_text_array: a scalar is a 1-element array)."""
        v = self.value(node, depth + 1)
        if v.kind == "list":
            items = [x if isinstance(x, str) else orjson.dumps(x).decode() for x in v.lit]
            return self.bind(items, "::text[]")
        if v.j is not None:
            # NOTE: a missing property is unknown (NULL), not a one-element array.
            return (f"(CASE WHEN jsonb_typeof({v.j}) = 'array' THEN ARRAY(SELECT "
                    f"jsonb_array_elements_text({v.j})) WHEN {v.j} IS NOT NULL "
                    f"THEN ARRAY[{v.j} #>> '{{}}'] END)")
        if v.kind in ("text", "num", "bool", "ts") and v.lit is not NO_VALUE:
            x = v.lit if isinstance(v.lit, str) else orjson.dumps(v.lit).decode()
            return self.bind([x], "::text[]")
        if v.kind == "text":
            return f"ARRAY[{v.sql}]"
        raise InvalidRequest(f"filter: an array operator needs arrays, got {kind_name(v.kind)}")


def _literal_end(node: Any, side: int) -> datetime | None:
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


def _lit(v: Val) -> str:
    return f" {_show(v.lit)}" if v.lit is not NO_VALUE and not isinstance(v.lit, datetime) else ""


def _show(node: Any) -> str:
    try:
        return orjson.dumps(node).decode()[:120]
    except (TypeError, orjson.JSONEncodeError):
        return repr(node)[:120]


def bbox_geometry_sql(sql: SqlBuilder, bbox: list[float]) -> str:
    """An envelope; one crossing the antimeridian (west > east) is split in two."""
    w, s, e, n = bbox
    if w <= e:
        return (f"ST_MakeEnvelope({sql.bind(w)}::float8, {sql.bind(s)}::float8, "
                f"{sql.bind(e)}::float8, {sql.bind(n)}::float8, 4326)")
    return (f"ST_Collect(ST_MakeEnvelope({sql.bind(w)}::float8, {sql.bind(s)}::float8, 180, "
            f"{sql.bind(n)}::float8, 4326), ST_MakeEnvelope(-180, {sql.bind(s)}::float8, "
            f"{sql.bind(e)}::float8, {sql.bind(n)}::float8, 4326))")


QUERY_OPS = ("eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "endsWith", "contains", "in")
QUERY_TO_CQL2 = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def query_to_cql2(query: Any) -> list[dict[str, Any]]:
    """STAC query extension {"prop": {"op": value}} → CQL2 JSON clauses (ANDed by the caller)."""
    if not isinstance(query, dict):
        raise InvalidRequest('query: expected an object like {"cloud_cover": {"lt": 10}}')
    out: list[dict[str, Any]] = []
    for prop, ops in query.items():
        if not isinstance(ops, dict) or not ops:
            raise InvalidRequest(f"query: `{prop}` needs an object of operators, e.g. "
                                 '{"lt": 10}')
        ref = {"property": prop}
        for qop, value in ops.items():
            if qop in QUERY_TO_CQL2:
                out.append({"op": QUERY_TO_CQL2[qop], "args": [ref, value]})
            elif qop in ("startsWith", "endsWith", "contains"):
                if not isinstance(value, str):
                    raise InvalidRequest(f"query: `{prop}.{qop}` needs a string")
                esc = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern = {"startsWith": f"{esc}%", "endsWith": f"%{esc}",
                           "contains": f"%{esc}%"}[qop]
                out.append({"op": "like", "args": [ref, pattern]})
            elif qop == "in":
                if not isinstance(value, list):
                    raise InvalidRequest(f"query: `{prop}.in` needs a list")
                out.append({"op": "in", "args": [ref, value]})
            else:
                raise InvalidRequest(f"query: unknown operator `{qop}` on `{prop}`; use one of "
                                     f"{', '.join(QUERY_OPS)}")
    return out
