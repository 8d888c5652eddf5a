"""Differential test: generated CQL2 filters answered by our engine (op API with CQL2 JSON, STAC
GET /search with the same filter as CQL2 text), by pgstac's own search() on the same rows, and
by cql2's Expr.matches(); every disagreement fails unless docs/search.md documents it."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import orjson
from conftest import COPY_ITEM_TIMES, op
from cql2 import Expr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geopera_stac_ext.domain.records import dumps

DOC = (Path(__file__).resolve().parents[2] / "docs" / "search.md").read_text()
MISSING = object()
DAYS = [f"2026-01-0{d}T00:00:00Z" for d in range(1, 6)]
NUMS = [0, 1, 5, 10, 12.5, 30, 50, 100]
WORDS = ["Alpha", "alpha", "Ålpha", "beta", "Beta_1", "sentinel-2a", "landsat-8"]
NUM_PROPS = ["eo:cloud_cover", "gsd", "count", "properties.eo:cloud_cover"]
DECLARED_NUM = ["eo:cloud_cover", "gsd"]
TEXT_PROPS = ["title", "platform"]
ALL_PROPS = NUM_PROPS + TEXT_PROPS + ["flag", "keywords", "missing_everywhere"]


def _items() -> list[dict[str, Any]]:
    rnd = random.Random(10)
    out = []
    for n in range(36):
        values = {
            "eo:cloud_cover": rnd.choice([0, 5, 12.5, 30, 50, 80, 100, MISSING, None]),
            "gsd": rnd.choice([0.5, 1, 10, 30, MISSING]),
            "count": rnd.choice([0, 1, 2, 7, MISSING]),
            "title": rnd.choice([*WORDS, MISSING]),
            "platform": rnd.choice(["sentinel-2a", "landsat-8", "Sentinel-2B", MISSING, None]),
            "flag": rnd.choice([True, False, MISSING]),
            "keywords": rnd.choice([["a", "b"], ["b"], ["a", "c"], [], "a", MISSING]),
        }
        props = {k: v for k, v in values.items() if v is not MISSING}
        props["datetime"] = DAYS[n % 5]
        x, y = 10 + (n % 6), -10 + (n // 6)
        geom = {"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 1],
                                                    [x, y + 1], [x, y]]]}
        out.append({"type": "Feature", "stac_version": "1.0.0", "id": str(uuid.UUID(int=n + 1)),
                    "geometry": geom, "bbox": [x, y, x + 1, y + 1], "properties": props,
                    "links": [], "assets": {}})
    return out


def _number(props: dict[str, Any]) -> float | None:
    """The platform row's copy of eo:cloud_cover (migration 0150): the number, else NULL."""
    v = props.get("eo:cloud_cover")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


async def _seed(conn: Any, project_id: str, items: list[dict[str, Any]]) -> str:
    inbox = await conn.fetchval("SELECT inbox_collection FROM geopera.projects WHERE id = $1",
                                uuid.UUID(project_id))
    for it in items:
        it["collection"] = inbox
    await conn.executemany(
        "INSERT INTO geopera.items (id, project_id, pgstac_collection, type, lifecycle_state,"
        " cloud_cover) VALUES ($1, $2, $3, 'image', 'active', $4)",
        [(uuid.UUID(it["id"]), uuid.UUID(project_id), inbox, _number(it["properties"]))
         for it in items])
    await conn.execute("SELECT pgstac.create_items($1::text::jsonb)", dumps(items))
    await conn.execute(COPY_ITEM_TIMES, [uuid.UUID(it["id"]) for it in items])
    # NOTE: pgstac configured with the types our /queryables advertises (as a stock deployment
    # registers them), so both read eo:cloud_cover and gsd as numbers and title as text.
    await conn.execute(
        "INSERT INTO pgstac.queryables (name, definition) VALUES "
        "('eo:cloud_cover', '{\"type\": \"number\"}'), ('gsd', '{\"type\": \"number\"}'), "
        "('title', '{\"type\": \"string\"}')")
    return inbox


# ------------------------------------------------------------------ expressions

def _p(name: str) -> dict[str, str]:
    return {"property": name}


def _both(a: Any, b: Any) -> st.SearchStrategy[list[Any]]:
    return st.sampled_from([[a, b], [b, a]])


num_lit = st.sampled_from(NUMS)
cmp_op = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
arith = st.builds(lambda o, p, n, first: {"op": o, "args": [_p(p), n] if first else [n, _p(p)]},
                  st.sampled_from(["+", "-", "*"]), st.sampled_from(NUM_PROPS), num_lit,
                  st.booleans()) | st.builds(lambda p, n: {"op": "/", "args": [_p(p), n]},
                                             st.sampled_from(NUM_PROPS),
                                             st.sampled_from([1, 2, 0.5]))
num_value = st.sampled_from(NUM_PROPS).map(_p) | arith
comparison = st.one_of(
    st.builds(lambda o, v, n, first: {"op": o, "args": [v, n] if first else [n, v]},
              cmp_op, num_value, num_lit, st.booleans()),
    # property to property: at least one side declared numeric (see docs: both undeclared)
    st.builds(lambda o, a, b: {"op": o, "args": [_p(a), _p(b)]}, cmp_op,
              st.sampled_from(DECLARED_NUM), st.sampled_from(NUM_PROPS)),
    st.builds(lambda o, p, w, first: {"op": o, "args": [_p(p), w] if first else [w, _p(p)]},
              cmp_op, st.sampled_from(TEXT_PROPS), st.sampled_from(WORDS), st.booleans()),
    st.builds(lambda fn, o, w: {"op": o, "args": [{"op": fn, "args": [_p("title")]},
                                                  {"op": fn, "args": [w]}]},
              st.sampled_from(["casei", "accenti"]), st.sampled_from(["=", "<>"]),
              st.sampled_from(WORDS + ["ALPHA", "alpha", "Beta_1"])),
    st.builds(lambda b: {"op": "=", "args": [_p("flag"), b]}, st.booleans()),
)
advanced = st.one_of(
    st.builds(lambda p, pat: {"op": "like", "args": [_p(p), pat]}, st.sampled_from(TEXT_PROPS),
              st.sampled_from(["%a%", "A%", "_lpha", "%-2%", "b%", "%"])),
    st.builds(lambda p, lo, hi: {"op": "between", "args": [_p(p), lo, hi]},
              st.sampled_from(NUM_PROPS), num_lit, num_lit),
    st.builds(lambda p, xs: {"op": "in", "args": [_p(p), xs]}, st.sampled_from(NUM_PROPS),
              st.lists(num_lit, min_size=1, max_size=3)),
    st.builds(lambda p, xs: {"op": "in", "args": [_p(p), xs]}, st.sampled_from(TEXT_PROPS),
              st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)),
    st.builds(lambda p: {"op": "isNull", "args": [_p(p)]}, st.sampled_from(ALL_PROPS)),
)
box = st.builds(lambda x, y, w, h: {"type": "Polygon", "coordinates": [[
    [x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]]},
    st.sampled_from([9.5, 10, 11, 12.5]), st.sampled_from([-10.5, -10, -9, -7.5]),
    st.sampled_from([0.5, 1, 2, 3]), st.sampled_from([0.5, 1, 2, 3]))
spatial = st.builds(lambda o, g, first: {"op": o, "args": [_p("geometry"), g] if first
                                         else [g, _p("geometry")]},
                    st.sampled_from(["s_intersects", "s_within", "s_contains", "s_disjoint",
                                     "s_equals", "s_touches", "s_overlaps", "s_crosses"]),
                    box, st.booleans())
instant = st.sampled_from(DAYS).map(lambda d: {"timestamp": d})
day = st.sampled_from(DAYS).map(lambda d: {"date": d[:10]})
interval = st.builds(lambda a, b: {"interval": sorted([a, b])}, st.sampled_from(DAYS),
                     st.sampled_from(DAYS)) | st.builds(
    lambda a, lo: {"interval": ["..", a] if lo else [a, ".."]}, st.sampled_from(DAYS),
    st.booleans())
temporal = st.builds(lambda o, t, first: {"op": o, "args": [_p("datetime"), t] if first
                                          else [t, _p("datetime")]},
                     st.sampled_from(["t_after", "t_before", "t_contains", "t_disjoint",
                                      "t_during", "t_equals", "t_finishedBy", "t_finishes",
                                      "t_intersects", "t_meets", "t_metBy", "t_overlappedBy",
                                      "t_overlaps", "t_startedBy", "t_starts"]),
                     instant | day | interval, st.booleans())
array = st.builds(lambda o, xs, first: {"op": o, "args": [_p("keywords"), xs] if first
                                        else [xs, _p("keywords")]},
                  st.sampled_from(["a_equals", "a_contains", "a_containedBy", "a_overlaps"]),
                  st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True),
                  st.booleans())
SWEEP = [
    *({"op": "<", "args": [{"op": o, "args": [_p("eo:cloud_cover"), 2]}, 30]} for o in "+-*/"),
    *({"op": ">=", "args": [30, {"op": o, "args": [2, _p("count")]}]} for o in "+-*"),
    *({"op": o, "args": [_p("datetime"), t][::order]}
      for o in ["t_after", "t_before", "t_contains", "t_disjoint", "t_during", "t_equals",
                "t_finishedBy", "t_finishes", "t_intersects", "t_meets", "t_metBy",
                "t_overlappedBy", "t_overlaps", "t_startedBy", "t_starts"]
      for t in ({"timestamp": DAYS[2]}, {"date": DAYS[2][:10]},
                {"interval": [DAYS[1], DAYS[3]]})
      for order in (1, -1)),
    *({"op": o, "args": [_p("keywords"), ["a", "b"]][::order]}
      for o in ["a_equals", "a_contains", "a_containedBy", "a_overlaps"] for order in (1, -1)),
    *({"op": o, "args": [_p("geometry"), {"type": "Polygon", "coordinates": [[
        [10, -10], [12, -10], [12, -8], [10, -8], [10, -10]]]}][::order]}
      for o in ["s_intersects", "s_within", "s_contains", "s_disjoint", "s_equals",
                "s_touches", "s_overlaps", "s_crosses"] for order in (1, -1)),
]
leaf = st.one_of(comparison, advanced, spatial, temporal, array)
expr = st.recursive(leaf, lambda kids: st.one_of(
    st.builds(lambda o, xs: {"op": o, "args": xs}, st.sampled_from(["and", "or"]),
              st.lists(kids, min_size=1, max_size=3)),
    kids.map(lambda k: {"op": "not", "args": [k]})), max_leaves=4)


# ------------------------------------------------------------------ documented differences

def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for a in node.get("args", []):
            yield from _walk(a)


COMPARE = {"=", "<>", "<", "<=", ">", ">=", "between", "in", "like"}


def _leaked_wrapper(node: Any, below_logic: bool = False) -> bool:
    """A comparison with no property operand of its own but arithmetic, below and/or/not."""
    if not isinstance(node, dict) or "op" not in node:
        return False
    args = node["args"]
    if below_logic and node["op"] in COMPARE and not any(
            isinstance(a, dict) and "property" in a for a in args) and any(
            isinstance(a, dict) and a.get("op") in ("+", "-", "*", "/") for a in args):
        return True
    logic = node["op"] in ("and", "or", "not")
    return any(_leaked_wrapper(a, below_logic or logic) for a in args)


CQL2_RS_SETS = "cql2-rs compares `a_equals` as sets"


def documented(f: dict[str, Any]) -> str | None:
    """The docs/search.md case covering a disagreement with pgstac, or None."""
    if _leaked_wrapper(f):
        return "pgstac refuses arithmetic compared without a property operand inside and/or/not"
    for n in _walk(f):
        if not isinstance(n, dict) or "op" not in n:
            continue
        if n["op"].startswith("s_") and "property" not in n["args"][0]:
            return "pgstac refuses a spatial operator with the literal first"
        if n["op"] == "a_containedBy":
            return "pgstac refuses `a_containedBy`"
    return None


# ------------------------------------------------------------------ the three answers

def _ours_json(client, actor, project_id: str, f: Any) -> set[str] | str:
    r = op(client, "items.search", actor, project_id=project_id, filter=f, limit=1000)
    assert r.status_code in (200, 400), (f, r.status_code, r.text)
    return {x["id"] for x in r.json()["features"]} if r.status_code == 200 else "refused"


def _ours_text(client, actor, text: str) -> set[str] | str:
    r = client.get("/search", params={"filter": text, "filter-lang": "cql2-text",
                                      "limit": 1000}, headers=actor.headers)
    assert r.status_code in (200, 400), (text, r.status_code, r.text)
    return {x["id"] for x in r.json()["features"]} if r.status_code == 200 else "refused"


def _pgstac(db, inbox: str, f: Any) -> set[str] | str:
    body = dumps({"collections": [inbox], "filter": f, "filter-lang": "cql2-json",
                  "limit": 1000, "conf": {"nohydrate": True}})

    async def run(conn: Any) -> Any:
        try:
            return orjson.loads(await conn.fetchval("SELECT pgstac.search($1::text::jsonb)::text",
                                                    body))
        except Exception as e:  # NOTE: any pgstac refusal (RAISE, cast error) is one answer
            return str(e)

    out = db(run)
    return {x["id"] for x in out["features"]} if isinstance(out, dict) else "refused"


def _cql2(f: Any, items: list[dict[str, Any]]) -> dict[str, bool]:
    """cql2-rs's verdict per item it can decide (it raises for unknown, e.g. a missing
    property, which SQL treats as not matching)."""
    e, out = Expr(f), {}
    for it in items:
        try:
            out[it["id"]] = bool(e.matches(it))
        except Exception:  # NOTE: "Could not reduce expression to boolean": no verdict
            continue
    return out


def _short(ids: Any) -> Any:
    return ids if isinstance(ids, str) else sorted(int(i[-4:], 16) for i in ids)


def test_cql2_matches_pgstac_and_cql2_rs(client, world, db):
    ed, a1 = world["editor"], world.project_a1
    items = _items()
    inbox = db(lambda conn: _seed(conn, a1, items))
    seen: set[str] = set()
    problems: list[str] = []

    def compare(f: dict[str, Any]) -> None:
        seen.update(n["op"] for n in _walk(f) if isinstance(n, dict) and "op" in n)
        ours = _ours_json(client, ed, a1, f)
        assert ours != "refused", f"we refuse {orjson.dumps(f).decode()}"
        text = Expr(f).to_text()
        assert _ours_text(client, world["viewer"], text) == ours, (text, f)
        theirs = _pgstac(db, inbox, f)
        if theirs != ours:
            case = documented(f)
            if case is None or case not in DOC:
                problems.append(f"pgstac disagrees on {orjson.dumps(f).decode()}: ours "
                                f"{_short(ours)} vs pgstac {_short(theirs)} ({case})")
        if CQL2_RS_SETS not in DOC:
            raise AssertionError(f"docs/search.md lacks: {CQL2_RS_SETS}")
        if any(isinstance(n, dict) and n.get("op") == "a_equals" for n in _walk(f)):
            return
        for item_id, verdict in _cql2(f, items).items():
            assert (item_id in ours) == verdict, (f, item_id, verdict)

    # NOTE: every operator with each kind of operand, in both orders, once; then nesting.
    for f in SWEEP:
        compare(f)

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(f=expr)
    def check(f: dict[str, Any]) -> None:
        compare(f)

    check()
    assert not problems, "\n".join(problems)
    families = {"and", "or", "not", "=", "<", "like", "between", "in", "isNull", "casei",
                "accenti", "+", "/", "s_intersects", "s_within", "t_meets", "t_overlaps",
                "t_starts", "t_finishes", "t_before", "t_after", "a_contains", "a_overlaps",
                "a_equals", "a_containedBy"}
    assert families <= seen, f"not generated: {families - seen}"
