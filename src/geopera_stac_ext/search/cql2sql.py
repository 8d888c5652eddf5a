"""CQL2 JSON (and the STAC query extension) → SQL over pgstac.items `p` + geopera.items `i`, every value bound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import orjson

from geopera_stac_ext.errors import InvalidRequest
from geopera_stac_ext.models.common import _geometry

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

COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
SPATIAL = {"s_intersects": "ST_Intersects", "s_within": "ST_Within", "s_contains": "ST_Contains",
           "s_equals": "ST_Equals", "s_touches": "ST_Touches", "s_overlaps": "ST_Overlaps",
           "s_crosses": "ST_Crosses", "s_disjoint": "ST_Disjoint"}
SPATIAL_SWAP = {"s_within": "s_contains", "s_contains": "s_within"}
TEMPORAL = {"t_intersects", "anyinteracts", "t_before", "t_after", "t_equals", "t_during",
            "t_contains", "t_disjoint"}
QUERY_OPS = ("eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "endsWith", "contains", "in")
QUERY_TO_CQL2 = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
MAX_DEPTH = 50
MAX_NODES = 2000


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


def _prop_name(node: Any) -> str | None:
    if isinstance(node, dict) and set(node) == {"property"}:
        name = node["property"]
        if not isinstance(name, str) or not name or len(name) > 256:
            raise InvalidRequest("filter: a property name must be a non-empty string of at most "
                                 "256 characters")
        return name
    return None


def _casei(node: Any) -> tuple[Any, bool]:
    """Unwrap casei(x): (x, True)."""
    if isinstance(node, dict) and node.get("op") == "casei":
        args = node.get("args")
        if not isinstance(args, list) or len(args) != 1:
            raise InvalidRequest("filter: casei takes exactly one argument")
        return args[0], True
    return node, False


def _is_literal(node: Any) -> bool:
    return not (isinstance(node, dict) and ("property" in node or "op" in node))


class Translator:
    """Translate one CQL2 JSON expression; every literal and property key becomes a parameter."""

    def __init__(self, sql: SqlBuilder) -> None:
        self.sql = sql
        self.nodes = 0

    # -------------------------------------------------------------- property expressions
    def _json(self, name: str) -> str:
        return f"(p.content->'properties'->{self.sql.bind(stac_name(name), '::text')})"

    def text_expr(self, name: str) -> str:
        col = COLUMNS.get(name)
        if col is not None:
            if col.kind != "text":
                raise InvalidRequest(f"filter: `{name}` is a {col.kind}, not a string")
            return col.sql
        j = self._json(name)
        return f"(CASE WHEN jsonb_typeof({j}) = 'string' THEN {j} #>> '{{}}' END)"

    def num_expr(self, name: str) -> str:
        if name in COLUMNS:
            raise InvalidRequest(f"filter: `{name}` is a {COLUMNS[name].kind}, not a number")
        j = self._json(name)
        return f"(CASE WHEN jsonb_typeof({j}) = 'number' THEN ({j})::float8 END)"

    # -------------------------------------------------------------- entry points
    def where(self, node: Any, depth: int = 0) -> str:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise InvalidRequest("filter: expression is too deeply nested or too large")
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        if not isinstance(node, dict) or "op" not in node:
            raise InvalidRequest("filter: expected an object with `op` and `args` "
                                 f"(CQL2 JSON), got {orjson.dumps(node).decode()[:120]}")
        op = node["op"]
        args = node.get("args")
        if not isinstance(op, str):
            raise InvalidRequest("filter: `op` must be a string")
        if not isinstance(args, list):
            raise InvalidRequest(f"filter: `{op}` needs an `args` array")
        lop = op.lower()
        if lop in ("and", "or"):
            if len(args) < 2:
                raise InvalidRequest(f"filter: `{op}` needs at least two arguments")
            parts = [self.where(a, depth + 1) for a in args]
            return "(" + f" {lop.upper()} ".join(parts) + ")"
        if lop == "not":
            if len(args) != 1:
                raise InvalidRequest("filter: `not` takes exactly one argument")
            return f"(NOT {self.where(args[0], depth + 1)})"
        # NOTE: every leaf is coalesced to false: a missing property never matches, and
        # `not` then behaves as two-valued logic (what a plain reading of the filter expects).
        if lop in COMPARISONS:
            return f"COALESCE({self.comparison(lop, args)}, false)"
        if lop == "like":
            return f"COALESCE({self.like(args)}, false)"
        if lop == "between":
            return f"COALESCE({self.between(args)}, false)"
        if lop == "in":
            return f"COALESCE({self.in_(args)}, false)"
        if lop == "isnull":
            return self.is_null(args)
        if lop in SPATIAL:
            return f"COALESCE({self.spatial(lop, args)}, false)"
        if lop in TEMPORAL:
            return f"COALESCE({self.temporal(lop, args)}, false)"
        raise InvalidRequest(
            f"filter: unsupported operator `{op}`; supported: and, or, not, =, <>, <, <=, >, "
            ">=, like, between, in, isNull, casei, s_intersects, s_within, s_contains, "
            "s_disjoint, t_intersects, t_before, t_after, t_during, t_equals")

    # -------------------------------------------------------------- leaves
    def _operands(self, op: str, args: list[Any]) -> tuple[str, Any, str, bool]:
        if len(args) != 2:
            raise InvalidRequest(f"filter: `{op}` takes exactly two arguments")
        (a, ca), (b, cb) = _casei(args[0]), _casei(args[1])
        name_a, name_b = _prop_name(a), _prop_name(b)
        if name_a is not None and _is_literal(b):
            return name_a, b, op, ca or cb
        if name_b is not None and _is_literal(a):
            return name_b, a, FLIPPED.get(op, op), ca or cb
        if name_a is not None and name_b is not None:
            raise InvalidRequest("filter: comparing two properties is not supported; compare "
                                 "a property with a literal value")
        raise InvalidRequest(f"filter: `{op}` needs a property and a literal value")

    def comparison(self, op: str, args: list[Any]) -> str:
        name, value, op, casei = self._operands(op, args)
        sqlop = COMPARISONS[op]
        col = COLUMNS.get(name)
        if isinstance(value, dict) and ("timestamp" in value or "date" in value):
            when = parse_instant(value.get("timestamp", value.get("date")), f"filter `{name}`")
            if col is not None and col.kind == "timestamp":
                return f"({col.sql} {sqlop} {self.sql.bind(when)})"
            if col is not None:
                raise InvalidRequest(f"filter: `{name}` is a {col.kind}, not a timestamp")
            iso = when.isoformat().replace("+00:00", "Z")
            return f"({self.text_expr(name)} {sqlop} {self.sql.bind(iso)})"
        if col is not None and col.kind == "timestamp":
            if not isinstance(value, str):
                raise InvalidRequest(f"filter: `{name}` is a timestamp; compare it with "
                                     "TIMESTAMP('…') or an RFC 3339 string")
            return f"({col.sql} {sqlop} {self.sql.bind(parse_instant(value, f'filter `{name}`'))})"
        if col is not None and col.kind == "geometry":
            raise InvalidRequest("filter: compare `geometry` with s_intersects and friends")
        if isinstance(value, bool):
            if sqlop not in ("=", "<>") or col is not None:
                raise InvalidRequest(f"filter: `{name}` cannot be compared with a boolean by "
                                     f"`{op}`")
            return f"({self._json(name)} {sqlop} to_jsonb({self.sql.bind(value)}::boolean))"
        if isinstance(value, (int, float)):
            return f"({self.num_expr(name)} {sqlop} {self.sql.bind(float(value))}::float8)"
        if isinstance(value, str):
            expr = self.text_expr(name)
            if casei:
                return f"(lower({expr}) {sqlop} {self.sql.bind(value.lower())})"
            return f"({expr} {sqlop} {self.sql.bind(value)})"
        raise InvalidRequest(f"filter: unsupported literal for `{name}`: "
                             f"{orjson.dumps(value).decode()[:80]}")

    def like(self, args: list[Any]) -> str:
        name, value, _, casei = self._operands("like", args)
        if not isinstance(value, str):
            raise InvalidRequest("filter: `like` needs a string pattern")
        expr = self.text_expr(name)
        if casei:
            return f"(lower({expr}) LIKE {self.sql.bind(value.lower())})"
        return f"({expr} LIKE {self.sql.bind(value)})"

    def between(self, args: list[Any]) -> str:
        if len(args) != 3 or _prop_name(args[0]) is None:
            raise InvalidRequest("filter: `between` takes a property and two values")
        name, lo, hi = _prop_name(args[0]), args[1], args[2]
        assert name is not None
        col = COLUMNS.get(name)
        if col is not None and col.kind == "timestamp":
            def ts(v: Any) -> datetime:
                raw = v.get("timestamp", v.get("date")) if isinstance(v, dict) else v
                return parse_instant(raw, f"filter `{name}`")
            return f"({col.sql} BETWEEN {self.sql.bind(ts(lo))} AND {self.sql.bind(ts(hi))})"
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            raise InvalidRequest(f"filter: `between` on `{name}` needs two numbers")
        expr = self.num_expr(name)
        return (f"({expr} BETWEEN {self.sql.bind(float(lo))}::float8 "
                f"AND {self.sql.bind(float(hi))}::float8)")

    def in_(self, args: list[Any]) -> str:
        if len(args) != 2 or _prop_name(args[0]) is None or not isinstance(args[1], list):
            raise InvalidRequest("filter: `in` takes a property and a list of values")
        name, values = _prop_name(args[0]), args[1]
        assert name is not None
        if not values:
            return "FALSE"
        if all(isinstance(v, str) for v in values):
            return f"({self.text_expr(name)} = ANY({self.sql.bind(list(values))}::text[]))"
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            nums = [float(v) for v in values]
            return f"({self.num_expr(name)} = ANY({self.sql.bind(nums)}::float8[]))"
        raise InvalidRequest(f"filter: `in` on `{name}` needs a list of all strings or all "
                             "numbers")

    def is_null(self, args: list[Any]) -> str:
        if len(args) != 1 or _prop_name(args[0]) is None:
            raise InvalidRequest("filter: `isNull` takes exactly one property")
        name = _prop_name(args[0])
        assert name is not None
        col = COLUMNS.get(name)
        if col is not None:
            return f"({col.sql} IS NULL)"
        j = self._json(name)
        return f"({j} IS NULL OR jsonb_typeof({j}) = 'null')"

    def geometry_literal(self, value: Any) -> str:
        if isinstance(value, dict) and set(value) == {"bbox"}:
            return self.sql_envelope(value["bbox"])
        try:
            geom = _geometry(value)
        except ValueError as e:
            raise InvalidRequest(f"filter: invalid geometry: {e}") from None
        # NOTE: a scalar subquery (InitPlan) parses the GeoJSON once per query, not per row.
        return (f"(SELECT ST_SetSRID(ST_GeomFromGeoJSON("
                f"{self.sql.bind(orjson.dumps(geom).decode())}), 4326))")

    def sql_envelope(self, bbox: Any) -> str:
        from geopera_stac_ext.search.engine import parse_bbox

        return bbox_geometry_sql(self.sql, parse_bbox(bbox, "filter bbox"))

    def spatial(self, op: str, args: list[Any]) -> str:
        if len(args) != 2:
            raise InvalidRequest(f"filter: `{op}` takes exactly two arguments")
        if _prop_name(args[0]) is None and _prop_name(args[1]) is not None:
            args = [args[1], args[0]]
            op = SPATIAL_SWAP.get(op, op)
        name = _prop_name(args[0])
        if name is None or COLUMNS.get(name, Column("", "")).kind != "geometry":
            raise InvalidRequest(f"filter: `{op}` applies to the `geometry` property")
        return f"{SPATIAL[op]}(p.geometry, {self.geometry_literal(args[1])})"

    def _interval(self, value: Any, name: str) -> tuple[datetime | None, datetime | None]:
        if isinstance(value, dict) and "interval" in value:
            iv = value["interval"]
            if not isinstance(iv, list) or len(iv) != 2:
                raise InvalidRequest("filter: an interval has exactly two ends")
            ends = []
            for end in iv:
                raw = end.get("timestamp", end.get("date")) if isinstance(end, dict) else end
                ends.append(None if raw in ("..", None) else parse_instant(raw, f"filter `{name}`"))
            return ends[0], ends[1]
        if isinstance(value, dict) and ("timestamp" in value or "date" in value):
            t = parse_instant(value.get("timestamp", value.get("date")), f"filter `{name}`")
            return t, t
        if isinstance(value, str):
            t = parse_instant(value, f"filter `{name}`")
            return t, t
        raise InvalidRequest("filter: a temporal operator needs a timestamp, date or interval")

    def temporal(self, op: str, args: list[Any]) -> str:
        if len(args) != 2:
            raise InvalidRequest(f"filter: `{op}` takes exactly two arguments")
        if _prop_name(args[0]) is None and _prop_name(args[1]) is not None:
            args = [args[1], args[0]]
        name = _prop_name(args[0])
        col = COLUMNS.get(name or "")
        if col is None or col.kind != "timestamp":
            raise InvalidRequest(f"filter: `{op}` applies to a timestamp property such as "
                                 "`datetime`")
        if name in ("datetime", "start_datetime", "end_datetime"):
            start, end = "p.datetime", "p.end_datetime"
        else:
            start = end = col.sql
        lo, hi = self._interval(args[1], name or "")
        lo_sql = self.sql.bind(lo or datetime.min.replace(tzinfo=timezone.utc))
        hi_sql = self.sql.bind(hi or datetime.max.replace(tzinfo=timezone.utc))
        if op in ("t_intersects", "anyinteracts"):
            return f"({start} <= {hi_sql} AND {end} >= {lo_sql})"
        if op == "t_disjoint":
            return f"NOT ({start} <= {hi_sql} AND {end} >= {lo_sql})"
        if op == "t_before":
            return f"({end} < {lo_sql})"
        if op == "t_after":
            return f"({start} > {hi_sql})"
        if op == "t_equals":
            return f"({start} = {lo_sql} AND {end} = {hi_sql})"
        if op == "t_during":
            return f"({start} > {lo_sql} AND {end} < {hi_sql})"
        return f"({start} < {lo_sql} AND {end} > {hi_sql})"  # t_contains


def bbox_geometry_sql(sql: SqlBuilder, bbox: list[float]) -> str:
    """An envelope; one crossing the antimeridian (west > east) is split in two."""
    w, s, e, n = bbox
    if w <= e:
        return (f"ST_MakeEnvelope({sql.bind(w)}::float8, {sql.bind(s)}::float8, "
                f"{sql.bind(e)}::float8, {sql.bind(n)}::float8, 4326)")
    return (f"ST_Collect(ST_MakeEnvelope({sql.bind(w)}::float8, {sql.bind(s)}::float8, 180, "
            f"{sql.bind(n)}::float8, 4326), ST_MakeEnvelope(-180, {sql.bind(s)}::float8, "
            f"{sql.bind(e)}::float8, {sql.bind(n)}::float8, 4326))")


def parse_cql2_text(text: str) -> Any:
    """CQL2 text → CQL2 JSON via the cql2 library; 400 with its parser message."""
    from cql2 import Expr

    try:
        return Expr(text).to_json()
    except Exception as e:  # NOTE: cql2 raises a bare Exception on parse errors.
        msg = " ".join(str(e).split())[:300]
        raise InvalidRequest(f"filter: malformed CQL2 text: {msg}") from None


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
