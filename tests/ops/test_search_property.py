"""Property test: random items across two organizations, random searches, checked against a
plain-Python filter of the same items (ids, order, count; nothing foreign or deleted)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from conftest import ok, op
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
D = 0.005  # NOTE: footprints sit on a 0.01° grid and search edges on .0025 offsets: no ties.

item_st = st.fixed_dictionaries({
    "project": st.sampled_from(["a1", "a2", "b1"]),
    "gx": st.integers(0, 30), "gy": st.integers(0, 30),
    "hour": st.integers(0, 500),
    "cloud_cover": st.one_of(st.none(), st.integers(0, 100)),
    "gsd": st.sampled_from([0.3, 0.5, 1.0]),
    "type": st.sampled_from(["image", "dem"]),
    "deleted": st.booleans(),
})

search_st = st.fixed_dictionaries({
    "bbox": st.one_of(st.none(), st.tuples(st.integers(0, 30), st.integers(0, 30),
                                           st.integers(0, 30), st.integers(0, 30))),
    "hours": st.one_of(st.none(), st.tuples(st.integers(0, 500), st.integers(0, 500))),
    "cloud": st.one_of(st.none(), st.tuples(st.sampled_from(["lt", "lte", "gt", "gte", "eq"]),
                                            st.integers(0, 100))),
    "type": st.one_of(st.none(), st.sampled_from(["image", "dem"])),
    "gsd_max": st.one_of(st.none(), st.sampled_from([0.3, 0.5, 1.0])),
    "sort": st.sampled_from([("datetime", "desc"), ("cloud_cover", "asc"),
                             ("cloud_cover", "desc"), ("gsd", "asc")]),
    "limit": st.integers(1, 40),
    "offset": st.integers(0, 20),
    "who": st.sampled_from(["org_owner_org", "viewer_org", "viewer_a1"]),
})

CMP = {"lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
       "gte": lambda a, b: a >= b, "eq": lambda a, b: a == b}


def _edge(g: int) -> float:
    return 149.0 + g * 0.01 + 0.0025


def _params(s: dict[str, Any]) -> dict[str, Any]:
    p: dict[str, Any] = {"limit": s["limit"], "offset": s["offset"],
                         "sortby": [{"field": s["sort"][0], "direction": s["sort"][1]}]}
    if s["bbox"]:
        x1, y1, x2, y2 = s["bbox"]
        p["bbox"] = [_edge(min(x1, x2)), -35.5 + (min(y1, y2)) * 0.01 + 0.0025,
                     _edge(max(x1, x2)), -35.5 + (max(y1, y2)) * 0.01 + 0.0025]
    if s["hours"]:
        a, b = sorted(s["hours"])
        lo, hi = T0 + timedelta(hours=a, minutes=30), T0 + timedelta(hours=b, minutes=30)
        p["datetime"] = f"{lo.isoformat()}/{hi.isoformat()}"
    if s["cloud"]:
        p["query"] = {"cloud_cover": {s["cloud"][0]: s["cloud"][1]}}
    if s["type"]:
        p["type"] = s["type"]
    if s["gsd_max"] is not None:
        p["filter"] = {"op": "<=", "args": [{"property": "gsd"}, s["gsd_max"]]}
    return p


def _expected(items: list[dict[str, Any]], s: dict[str, Any], projects: set[str]
              ) -> list[dict[str, Any]]:
    p = _params(s)
    out = []
    for it in items:
        if it["project"] not in projects or it["deleted"]:
            continue
        lon, lat = 149.0 + it["gx"] * 0.01, -35.5 + it["gy"] * 0.01
        when = T0 + timedelta(hours=it["hour"])
        if "bbox" in p:
            w, so, e, n = p["bbox"]
            if not (lon <= e and lon + D >= w and lat <= n and lat + D >= so):
                continue
        if "datetime" in p:
            a, b = sorted(s["hours"])
            if not (T0 + timedelta(hours=a, minutes=30) <= when
                    <= T0 + timedelta(hours=b, minutes=30)):
                continue
        if s["cloud"]:
            opname, v = s["cloud"]
            if it["cloud_cover"] is None or not CMP[opname](it["cloud_cover"], v):
                continue
        if s["type"] and it["type"] != s["type"]:
            continue
        if s["gsd_max"] is not None and not it["gsd"] <= s["gsd_max"]:
            continue
        out.append(it)
    field, direction = s["sort"]
    key = {"datetime": lambda i: i["hour"], "cloud_cover": lambda i: i["cloud_cover"],
           "gsd": lambda i: i["gsd"]}[field]
    # NOTE: the engine's order: the field (NULLS LAST either way), then id in the same direction.
    present = [i for i in out if key(i) is not None]
    missing = [i for i in out if key(i) is None]
    rev = direction == "desc"
    present.sort(key=lambda i: (key(i), i["id"]), reverse=rev)
    missing.sort(key=lambda i: i["id"], reverse=rev)
    return present + missing


def test_search_matches_plain_python_filter(client, world, db):
    projects = {"a1": world.project_a1, "a2": world.project_a2, "b1": world.project_b1}

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(items=st.lists(item_st, min_size=0, max_size=25), searches=st.lists(
        search_st, min_size=1, max_size=3))
    def check(items: list[dict[str, Any]], searches: list[dict[str, Any]]) -> None:
        from seed_helpers import reseed

        db(lambda conn: reseed(conn, projects, items, T0, D))
        for s in searches:
            if s["who"] == "org_owner_org":
                actor, op_id, extra, visible = world["org_owner"], "items.search_org", {}, \
                    {"a1", "a2"}
            elif s["who"] == "viewer_org":
                actor, op_id, extra, visible = world["viewer"], "items.search_org", {}, {"a1"}
            else:
                actor, op_id, extra, visible = world["viewer"], "items.search", \
                    {"project_id": world.project_a1}, {"a1"}
            fc = ok(op(client, op_id, actor, **extra, **_params(s)))
            want = _expected(items, s, visible)
            assert fc["numberMatched"] == len(want), (s, fc["numberMatched"], len(want))
            got = [f["id"] for f in fc["features"]]
            assert got == [i["id"] for i in want][s["offset"]:s["offset"] + s["limit"]], s
            assert fc["numberReturned"] == len(got)
            hidden = {i["id"] for i in items if i["deleted"] or i["project"] not in visible}
            assert not set(got) & hidden
            if s["who"] != "viewer_a1" and not s["type"]:
                # the STAC front door: same engine, same answer; its pages resume from signed
                # keyset tokens (follow `next` until the op page's offset is covered)
                body = {k: v for k, v in _params(s).items() if k != "offset"}
                stac = ok(client.post("/search", json=body, headers=actor.headers))
                assert stac["numberMatched"] == fc["numberMatched"], s
                seen = [f["id"] for f in stac["features"]]
                while len(seen) < s["offset"] + s["limit"]:
                    link = next((x for x in stac["links"] if x["rel"] == "next"), None)
                    if link is None:
                        break
                    stac = ok(client.post("/search", json=link["body"], headers=actor.headers))
                    assert stac["numberMatched"] == fc["numberMatched"], s
                    seen += [f["id"] for f in stac["features"]]
                assert seen[s["offset"]:s["offset"] + s["limit"]] == got, s

    check()
