"""No filter can take the process down: a 3,000-level filter on every entry point is a 400."""

from __future__ import annotations

import orjson
import pytest
from conftest import create_collection, create_item, ok, op, problem

DEEP = 3000
DEEP_TEXT = "(" * DEEP + "eo:cloud_cover < 10" + ")" * DEEP
NOT_TEXT = "NOT " * DEEP + "eo:cloud_cover < 10"
MINUS_TEXT = "eo:cloud_cover = " + "-" * DEEP + "1"
AND_TEXT = "gsd=1" + " AND gsd=1" * 2_100
# NOTE: built as text: json.dumps itself refuses to nest 3,000 levels.
DEEP_JSON = ('{"op":"not","args":[' * DEEP + '{"op":"<","args":[{"property":"gsd"},1]}'
             + "]}" * DEEP)
# NOTE: short enough for a URL (6 KB): 3,000 nested arrays.
DEEP_JSON_URL = '{"op":"and","args":' + "[" * DEEP + "]" * DEEP + "}"
TEXTS = [DEEP_TEXT, NOT_TEXT, MINUS_TEXT, AND_TEXT]


def _still_answers(client, actor, item_id: str) -> None:
    fc = ok(client.get("/search", params={"filter": "gsd = 0.5"}, headers=actor.headers))
    assert [f["id"] for f in fc["features"]] == [item_id]


def _limit_problem(resp) -> None:
    body = problem(resp, 400)
    assert "filter" in body["detail"] or "nest" in body["detail"], body


def test_filter_nesting_3000_levels_is_refused_on_every_entry_point(client, world):
    ed, a1 = world["editor"], world.project_a1
    col = create_collection(client, ed, a1)
    item = create_item(client, ed, a1, collection_id=col["id"])
    h = world["viewer"].headers
    for text in TEXTS:
        _limit_problem(client.get("/search", params={"filter": text, "filter-lang": "cql2-text"},
                                  headers=h))
        _limit_problem(client.get(f"/collections/{col['id']}/items",
                                  params={"filter": text}, headers=h))
        _limit_problem(client.post("/search", json={"filter": text, "filter-lang": "cql2-text"},
                                   headers=h))
        _limit_problem(op(client, "items.search", ed, project_id=a1, filter=text,
                          **{"filter-lang": "cql2-text"}))
        _limit_problem(op(client, "items.search_org", ed, filter=text))
        _still_answers(client, world["viewer"], item["id"])
    _limit_problem(client.get("/search", params={"filter": DEEP_JSON_URL,
                                                              "filter-lang": "cql2-json"},
                              headers=h))
    # NOTE: a body nested 3,000 levels is refused while parsing JSON, before any model: a 400
    # that names the body rather than the filter.
    json_h = {**h, "content-type": "application/json"}
    problem(client.post("/search", content=f'{{"filter": {DEEP_JSON}}}', headers=json_h), 400)
    for op_id, extra in (("items.search", f'"project_id": "{a1}", '), ("items.search_org", "")):
        resp = client.post(f"/v1/op/{op_id}", content=f'{{{extra}"filter": {DEEP_JSON}}}',
                           headers={**ed.headers, "content-type": "application/json"})
        problem(resp, 400)
    _still_answers(client, world["viewer"], item["id"])


@pytest.mark.parametrize("text, limit", [
    ("(" * 51 + "gsd = 1" + ")" * 51, "nests brackets too deeply (limit 50)"),
    ("NOT " * 51 + "gsd = 1", "prefix operators (NOT, -) (limit 50)"),
    ("gsd = " + " + ".join(["1"] * 2001), "too many operators (limit 2000)"),
    ("title = '" + "x" * 70_000 + "'", "characters long (limit 65536)"),
])
def test_filter_text_limits_are_named_in_the_400(client, world, text, limit):
    body = problem(op(client, "items.search_org", world["editor"], filter=text), 400)
    assert limit in body["detail"]


def test_filter_text_within_limits_still_parses(client, world):
    ed, a1 = world["editor"], world.project_a1
    item = create_item(client, ed, a1, name="it's (here)", cloud_cover=5)
    text = ("(" * 50 + "title = 'it''s (here)'" + ")" * 50 + " AND " + "NOT " * 2
            + "eo:cloud_cover > -5")
    fc = ok(op(client, "items.search", ed, project_id=a1, filter=text))
    assert [f["id"] for f in fc["features"]] == [item["id"]]
    deep_ok = {"op": "<", "args": [{"property": "gsd"}, 1]}
    for _ in range(40):
        deep_ok = {"op": "not", "args": [{"op": "not", "args": [deep_ok]}]}
    assert len(orjson.dumps(deep_ok)) > 1000
    body = problem(op(client, "items.search", ed, project_id=a1, filter=deep_ok), 400)
    # NOTE: the request-wide JSON guard (core/jsonsafe.py, 64 levels) meets this filter before
    # the translator's own depth cap; either way the 400 names the field and the limit.
    assert "filter" in body["detail"]
    assert "nested deeper than 64 levels" in body["detail"] or "too deeply nested" in body["detail"]
