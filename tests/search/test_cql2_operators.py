"""CQL2 cases from issue 10, each through every front door: op API (JSON and text), STAC GET
(text) and STAC POST (text and JSON)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import create_item, ok, op, problem
from cql2 import Expr

from geopera_stac_ext.search.cql2sql import CQL2_CONFORMANCE


@pytest.fixture
def scenes(client, world) -> dict[str, str]:
    ed, a1 = world["editor"], world.project_a1
    made = {
        "clear": create_item(client, ed, a1, name="Clear", cloud_cover=5, gsd=0.5,
                             datetime="2026-01-01T00:00:00Z",
                             properties={"keywords": ["flood", "river"], "platform": "Ságres"}),
        "cloudy": create_item(client, ed, a1, name="cloudy", cloud_cover=80, gsd=10,
                              datetime="2026-01-03T00:00:00Z",
                              properties={"keywords": ["river"], "platform": "landsat-8"}),
        "bare": create_item(client, ed, a1, name="Bare", cloud_cover=None, gsd=1,
                            datetime="2026-01-05T00:00:00Z"),
    }
    return {k: v["id"] for k, v in made.items()}


def answers(client, world, text: str) -> set[str]:
    """The ids every front door returns for `text` (asserting they all agree)."""
    ed, h = world["editor"], world["viewer"].headers
    as_json = Expr(text).to_json()
    got = []
    for f, lang in ((text, "cql2-text"), (as_json, "cql2-json")):
        fc = ok(op(client, "items.search", ed, project_id=world.project_a1, filter=f,
                   limit=100, **{"filter-lang": lang}))
        got.append({x["id"] for x in fc["features"]})
        fc = ok(client.post("/search", json={"filter": f, "filter-lang": lang, "limit": 100},
                            headers=h))
        got.append({x["id"] for x in fc["features"]})
    fc = ok(client.get("/search", params={"filter": text, "limit": 100}, headers=h))
    got.append({x["id"] for x in fc["features"]})
    assert all(g == got[0] for g in got), (text, got)
    return got[0]


@pytest.mark.parametrize("text, want", [
    ("T_BEFORE(datetime, TIMESTAMP('2026-01-02T00:00:00Z'))", {"clear"}),
    ("T_AFTER(datetime, TIMESTAMP('2026-01-02T00:00:00Z'))", {"cloudy", "bare"}),
    # literal first: the operator keeps its meaning (the timestamp is before/after datetime)
    ("T_BEFORE(TIMESTAMP('2026-01-02T00:00:00Z'), datetime)", {"cloudy", "bare"}),
    ("T_AFTER(TIMESTAMP('2026-01-02T00:00:00Z'), datetime)", {"clear"}),
    ("T_CONTAINS(INTERVAL('2026-01-02T00:00:00Z', '2026-01-06T00:00:00Z'), datetime)",
     {"cloudy", "bare"}),
    ("T_DURING(datetime, INTERVAL('2026-01-02T00:00:00Z', '..'))", {"cloudy", "bare"}),
    ("T_MEETS(INTERVAL('2025-12-01T00:00:00Z', '2026-01-03T00:00:00Z'), datetime)", {"cloudy"}),
    ("T_METBY(datetime, INTERVAL('2025-12-01T00:00:00Z', '2026-01-03T00:00:00Z'))", {"cloudy"}),
    ("T_STARTS(datetime, INTERVAL('2026-01-05T00:00:00Z', '2026-01-09T00:00:00Z'))", {"bare"}),
    ("T_STARTEDBY(INTERVAL('2026-01-05T00:00:00Z', '2026-01-09T00:00:00Z'), datetime)",
     {"bare"}),
    ("T_FINISHEDBY(INTERVAL('2025-01-05T00:00:00Z', '2026-01-01T00:00:00Z'), datetime)",
     {"clear"}),
    ("T_INTERSECTS(datetime, DATE('2026-01-03'))", {"cloudy"}),
    ("T_EQUALS(datetime, TIMESTAMP('2026-01-05T00:00:00Z'))", {"bare"}),
    ("T_DISJOINT(datetime, INTERVAL('2026-01-02T00:00:00Z', '2026-01-04T00:00:00Z'))",
     {"clear", "bare"}),
    # three-valued logic: the item without eo:cloud_cover is unknown, also under NOT
    ("NOT (eo:cloud_cover < 50)", {"cloudy"}),
    ("NOT (NOT (eo:cloud_cover < 50))", {"clear"}),
    ("eo:cloud_cover IS NULL", {"bare"}),
    ("properties.eo:cloud_cover < 50", {"clear"}),
    ("cloud_cover < 50", {"clear"}),
    ("gsd < eo:cloud_cover", {"clear", "cloudy"}),
    ("eo:cloud_cover + 10 < 30", {"clear"}),
    ("gsd * 2 = 1", {"clear"}),
    ("eo:cloud_cover / 0 > 1", set()),
    ("A_CONTAINS(keywords, ('river'))", {"clear", "cloudy"}),
    ("A_CONTAINEDBY(keywords, ('river', 'sea'))", {"cloudy"}),
    ("A_OVERLAPS(keywords, ('flood', 'sea'))", {"clear"}),
    ("A_EQUALS(keywords, ('flood', 'river'))", {"clear"}),
    ("ACCENTI(platform) = ACCENTI('Sagres')", {"clear"}),
    ("CASEI(title) = CASEI('CLOUDY')", {"cloudy"}),
    ("CASEI(title) LIKE CASEI('c%')", {"clear", "cloudy"}),
    ("title LIKE 'C%'", {"clear"}),
    ("gsd BETWEEN 0.5 AND 1", {"clear", "bare"}),
    ("platform IN ('landsat-8', 'x')", {"cloudy"}),
    ("S_WITHIN(geometry, BBOX(149, -36, 150, -35))", {"clear", "cloudy", "bare"}),
    ("S_CONTAINS(BBOX(149, -36, 150, -35), geometry)", {"clear", "cloudy", "bare"}),
    ("S_DISJOINT(POINT(149.11 -35.29), geometry)", set()),
])
def test_cql2_operator_answers_the_same_on_every_front_door(client, world, scenes, text, want):
    assert answers(client, world, text) == {scenes[k] for k in want}


def test_one_argument_and_or_as_stac_browser_sends(client, world, scenes):
    h = world["viewer"].headers
    one = {"op": "and", "args": [{"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}]}
    fc = ok(client.post("/search", json={"filter": one, "filter-lang": "cql2-json"}, headers=h))
    assert {f["id"] for f in fc["features"]} == {scenes["clear"]}
    fc = ok(client.post("/search", json={"filter": {"op": "or", "args": [one]}}, headers=h))
    assert {f["id"] for f in fc["features"]} == {scenes["clear"]}


def test_query_numeric_strings_compare_as_numbers_like_pgstac(client, world, scenes):
    h = world["viewer"].headers
    # NOTE: pystac-client's query=["eo:cloud_cover<10"] sends the value as the string "10".
    for query in ({"eo:cloud_cover": {"lt": "10"}}, {"properties.eo:cloud_cover": {"lt": "10"}},
                  {"cloud_cover": {"lt": 10}}):
        fc = ok(client.post("/search", json={"query": query}, headers=h))
        assert {f["id"] for f in fc["features"]} == {scenes["clear"]}, query
    fc = ok(op(client, "items.search", world["editor"], project_id=world.project_a1,
               query={"gsd": {"gte": "1"}}))
    assert {f["id"] for f in fc["features"]} == {scenes["cloudy"], scenes["bare"]}


@pytest.mark.parametrize("f, says", [
    ("datetime = 5", "timestamp"),
    ("eo:cloud_cover = 'abc'", "number"),
    ("geometry = 'x'", "geometry"),
    ("foo(gsd) = 1", "unsupported operator `foo`"),
    ("gsd % 2 = 0", "`%` is not supported"),
    ("T_BEFORE(datetime, INTERVAL('2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z'))",
     "ends before it starts"),
    ("T_BEFORE(gsd, TIMESTAMP('2026-01-01T00:00:00Z'))", "timestamp"),
    ("A_CONTAINS(geometry, ('a'))", "array"),
    ("S_INTERSECTS(gsd, BBOX(0, 0, 1, 1))", "geometry"),
])
def test_mistyped_filters_are_400_naming_the_problem(client, world, f, says):
    body = problem(op(client, "items.search_org", world["editor"], filter=f), 400)
    assert says in body["detail"], body["detail"]
    body = problem(client.get("/search", params={"filter": f},
                              headers=world["viewer"].headers), 400)
    assert says in body["detail"], body["detail"]


def test_conformance_lists_the_cql2_classes_passed(client, world):
    root = ok(client.get("/", headers=world["viewer"].headers))
    cql2 = {c for c in root["conformsTo"] if "/spec/cql2/" in c}
    assert cql2 == set(CQL2_CONFORMANCE)
    for cls in ("advanced-comparison-operators", "basic-spatial-functions", "spatial-functions",
                "temporal-functions", "array-functions", "property-property", "arithmetic",
                "case-insensitive-comparison", "accent-insensitive-comparison"):
        assert f"http://www.opengis.net/spec/cql2/1.0/conf/{cls}" in cql2


def test_queryables_list_filterable_fields_with_types(client, world, scenes):
    from conftest import create_collection

    h = world["viewer"].headers
    q = ok(client.get("/queryables", headers=h))
    props: dict[str, Any] = q["properties"]
    assert props["eo:cloud_cover"]["type"] == "number" and props["gsd"]["type"] == "number"
    assert props["datetime"]["format"] == "date-time" and props["title"]["type"] == "string"
    assert props["geopera:type"]["type"] == "string"
    col = create_collection(client, world["editor"], world.project_a1)
    assert ok(client.get(f"/collections/{col['id']}/queryables", headers=h))["properties"]
