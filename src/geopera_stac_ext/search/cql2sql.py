"""CQL2 JSON → SQL over pgstac.items `p` + geopera.items `i`, every value a bound parameter."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from geopera_stac_ext.db.sql import Fragment, Query
from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.fields import _geometry
from geopera_stac_ext.search.cql2ops import (
    ARITHMETIC,
    ARRAY,
    COMPARISONS,
    KINDS,
    MAX_DEPTH,
    MAX_NODES,
    MINUS_INF,
    NO_VALUE,
    PLUS_INF,
    SPATIAL,
    SUPPORTED,
    TEMPORAL,
    TEXT_FUNCTIONS,
    CQL2_CONFORMANCE,
    Val,
    bbox_geometry_sql,
    kind_name,
    lit_suffix,
    literal_end,
    num_of,
    numeric_string,
    show,
    text_of,
)
from geopera_stac_ext.search.fields import (
    COLUMNS,
    PLATFORM,
    PLATFORM_COPIES,
    STAC,
    TYPED_PROPERTIES,
    stac_name,
)
from geopera_stac_ext.search.params import parse_bbox, parse_instant


class Translator:
    """Translate CQL2 JSON expressions into one statement's Query. Every literal and property
    key is a named parameter; one the final SQL drops is never sent (Query.render)."""

    def __init__(self, sql: Query, *, platform_copies: bool = False) -> None:
        self.sql = sql
        self.nodes = 0
        self.relations: set[str] = set()
        # NOTE: for exact counts only: compare the declared properties the platform row keeps
        # a copy of (fields.PLATFORM_COPIES, migration 0150) on that copy, so a count of such
        # a filter is an index-only scan of geopera.items. Pages keep pgstac's expression,
        # whose index delivers `sortby eo:cloud_cover` bounded by the filter.
        self.platform_copies = platform_copies

    def bind(self, value: Any, cast: str = "") -> str:
        return self.sql.bind(value, cast)

    def where(self, node: Any) -> Fragment:
        """The WHERE condition for a CQL2 JSON filter (NULL = unknown, as in CQL2), with the
        relations it reads (the fields it names)."""
        self.relations = set()
        body = self.cond(node, 0)
        self.sql.touch(*self.relations)
        return Fragment(body, frozenset(self.relations))

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
                                 f"(CQL2 JSON), got {show(node)}")
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
                self.relations.add(STAC)
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
            self.relations.add(col.relation)
            return Val(col.sql, KINDS[col.kind])
        key = stac_name(name)
        declared = TYPED_PROPERTIES.get(key)
        copy = PLATFORM_COPIES.get(key) if self.platform_copies else None
        if copy is not None:
            # NOTE: isNull and array operators still read the content (j): they see a JSON
            # null or an array where the copy, a number or NULL, cannot tell them apart.
            self.relations.add(PLATFORM)
            return Val(copy, declared or "num", f"(p.content->'properties'->'{key}')")
        self.relations.add(STAC)
        # NOTE: a declared property's name is our own constant (no quote in it), written into
        # the SQL so that its expression index (pgstac_migrations/0090) matches a generic
        # plan; any other name stays a bound parameter.
        ref = f"'{key}'" if declared is not None else self.bind(key, "::text")
        j = f"(p.content->'properties'->{ref})"
        if declared == "num":
            return Val(num_of(j), "num", j)
        if declared == "text":
            return Val(text_of(j), "text", j)
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
            raise InvalidRequest(f"filter: unsupported value {show(node)}")
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
            raise InvalidRequest(f"filter: unsupported value {show(node)}")
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
        if isinstance(bbox, list) and len(bbox) == 6:
            bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
        return bbox_geometry_sql(self.sql, parse_bbox(bbox, "filter bbox"))

    def as_kind(self, v: Val, kind: str, op: str) -> Val:
        """v read as `kind`: a content property takes the kind it is compared with; a string
        literal becomes a number or timestamp when compared with one (as pgstac casts)."""
        if v.kind == kind:
            return v
        if v.kind == "json" and v.j is not None:
            if kind == "num":
                return Val(num_of(v.j), "num", v.j)
            if kind == "text":
                return Val(text_of(v.j), "text", v.j)
            if kind == "bool":
                return Val(f"(CASE WHEN jsonb_typeof({v.j}) = 'boolean' THEN ({v.j})::boolean "
                           "END)", "bool", v.j)
            if kind == "ts":
                return Val(f"geopera.cql2_tstz({v.j})", "ts", v.j)
        if v.kind == "text" and isinstance(v.lit, str):
            if kind == "num":
                f = numeric_string(v.lit)
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
                             f"{names.get(v.kind, v.kind)}{lit_suffix(v)}")

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
        raise InvalidRequest(f"filter: `{op}` cannot compare {kind_name(a.kind)}{lit_suffix(a)} "
                             f"with {kind_name(b.kind)}{lit_suffix(b)}")

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
            lo_t, hi_t = literal_end(lo_end, 0), literal_end(hi_end, 1)
            if lo_t is not None and hi_t is not None and lo_t > hi_t:
                raise InvalidRequest("filter: an interval ends before it starts")
            return lo, hi
        if isinstance(node, dict) and set(node) == {"property"}:
            v = self.as_kind(self.prop(node["property"]), "ts", "temporal operator")
            return v.sql, v.sql
        lo_t, hi_t = literal_end(node, 0), literal_end(node, 1)
        if lo_t is None or hi_t is None:
            raise InvalidRequest(f"filter: a temporal operand is a timestamp, date, interval or "
                                 f"timestamp property, got {show(node)}")
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
            self.relations.add(STAC)
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


__all__ = ["Translator", "CQL2_CONFORMANCE"]
