"""Every malformed input is a 400 problem naming the field, never a 500 or a silent change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import create_item, item_params, ok, problem

EDGE_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
HUGE = int("9" * 400)


def raw(client, path: str, body: Any, actor, *, text: str | None = None):
    """POST JSON as typed (ensure_ascii keeps a lone surrogate as `\\ud800`; NaN/Infinity and
    400-digit integers pass as JSON literals, as hostile clients send them)."""
    data = text if text is not None else json.dumps(body, ensure_ascii=True, allow_nan=True)
    return client.post(path, content=data.encode(),
                       headers={**actor.headers, "content-type": "application/json"})


def names(resp, status: int, *fields: str) -> dict[str, Any]:
    body = problem(resp, status)
    for f in fields:
        assert f in body["detail"], (f, body["detail"])
    return body


def deep(n: int) -> Any:
    v: Any = 1
    for _ in range(n):
        v = {"a": v}
    return v


def test_edge_of_range_datetimes_are_400_everywhere(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    for t in EDGE_TIMES:
        names(raw(client, "/v1/op/items.create", item_params(world.project_a1, datetime=t),
                  owner), 400, "datetime")
        names(raw(client, "/v1/op/items.update", {"item_id": item["id"], "datetime": t},
                  owner), 400, "datetime")
        names(raw(client, "/v1/op/items.search", {"project_id": world.project_a1,
                                                   "datetime": t}, owner), 400, "datetime")
        names(raw(client, "/v1/op/items.search", {
            "project_id": world.project_a1, "filter_lang": "cql2-text",
            "filter": f"datetime > TIMESTAMP('{t}')"}, owner), 400, "filter")
        names(raw(client, "/search", {"datetime": t}, owner), 400, "datetime")
        names(client.get("/search", params={"datetime": t}, headers=owner.headers), 400,
              "datetime")
        names(client.get("/search", params={"filter": f"datetime > TIMESTAMP('{t}')",
                                            "filter-lang": "cql2-text"},
                         headers=owner.headers), 400, "filter")


def test_400_digit_integers_are_400(client, world):
    owner = world["owner"]
    p = world.project_a1
    names(raw(client, "/v1/op/items.search", {"project_id": p, "bbox": [HUGE, 0, 1, 1]}, owner),
          400, "bbox")
    names(raw(client, "/v1/op/items.search", {
        "project_id": p, "filter": {"op": ">", "args": [{"property": "gsd"}, HUGE]}}, owner),
        400, "filter")
    names(raw(client, "/v1/op/items.search", {
        "project_id": p, "filter_lang": "cql2-text", "filter": f"gsd > {HUGE}"}, owner),
        400, "filter")
    names(raw(client, "/v1/op/items.search", {"project_id": p, "query": {"gsd": {"gt": HUGE}}},
              owner), 400, "query")
    names(raw(client, "/search", {"bbox": [HUGE, 0, 1, 1]}, owner), 400, "bbox")
    names(raw(client, "/search", {"query": {"gsd": {"gt": HUGE}}}, owner), 400, "query")
    names(client.get("/search", params={"bbox": f"{HUGE},0,1,1"}, headers=owner.headers), 400,
          "bbox")
    names(client.get("/search", params={"filter": f"gsd > {HUGE}"}, headers=owner.headers),
          400, "filter")


@pytest.mark.parametrize("where", ["properties", "viz_profiles"])
def test_unstorable_json_in_properties_is_400_naming_the_path(client, world, db, where):
    owner = world["owner"]

    def body(value: Any) -> dict[str, Any]:
        if where == "properties":
            return item_params(world.project_a1, properties={"x": value})
        return item_params(world.project_a1, viz_profiles={"rgb": {"x": value}})

    count = lambda: db(lambda c: c.fetchval("SELECT count(*) FROM geopera.items"))  # noqa: E731
    before = count()
    names(raw(client, "/v1/op/items.create", body(deep(300)), owner), 400, f"{where}.", "deeper")
    names(raw(client, "/v1/op/items.create", body(2**64), owner), 400, f"{where}.", "64-bit")
    names(raw(client, "/v1/op/items.create", body("a\ud800b"), owner), 400, f"{where}.",
          "surrogate")
    names(raw(client, "/v1/op/items.create", body(float("inf")), owner), 400, f"{where}.")
    assert count() == before
    item = create_item(client, owner, world.project_a1)
    if where == "properties":
        names(raw(client, "/v1/op/items.update", {"item_id": item["id"],
                                                   "properties": {"x": deep(300)}}, owner),
              400, "properties.")


def test_gsd_infinity_is_refused_not_stored_as_null(client, world):
    owner = world["owner"]
    for value in ("Infinity", "-Infinity", "NaN"):
        text = json.dumps(item_params(world.project_a1)).replace('"gsd": 0.5',
                                                                 f'"gsd": {value}')
        names(raw(client, "/v1/op/items.create", None, owner, text=text), 400, "gsd")
    item = create_item(client, owner, world.project_a1)
    text = json.dumps({"item_id": item["id"], "gsd": 1.0}).replace("1.0", "Infinity")
    names(raw(client, "/v1/op/items.update", None, owner, text=text), 400, "gsd")
    assert ok(client.post("/v1/op/items.get", json={"item_id": item["id"]},
                          headers=owner.headers))["item"]["gsd"] == 0.5


def test_nested_geometry_collection_is_400(client, world):
    owner = world["owner"]
    inner = {"type": "GeometryCollection", "geometries": [{"type": "Point",
                                                           "coordinates": [1, 1]}]}
    outer = {"type": "GeometryCollection", "geometries": [inner]}
    names(raw(client, "/v1/op/items.create", item_params(world.project_a1, geometry=outer),
              owner), 400, "geometry", "GeometryCollection")
    names(raw(client, "/v1/op/items.search", {"project_id": world.project_a1,
                                               "intersects": outer}, owner), 400, "intersects")
    names(raw(client, "/search", {"intersects": outer}, owner), 400, "intersects")


@pytest.mark.parametrize("text", ["[]", "[1, 2]", '"search"', "null", "1"])
def test_stac_post_search_with_a_non_object_body_is_400(client, world, text):
    names(raw(client, "/search", None, world["owner"], text=text), 400, "body")


def test_fields_null_is_not_a_500(client, world):
    owner = world["owner"]
    create_item(client, owner, world.project_a1)
    resp = client.get("/search", params={"fields": "null"}, headers=owner.headers)
    assert resp.status_code in (200, 400), resp.text
    resp = raw(client, "/search", {"fields": None}, owner)
    assert resp.status_code == 200, resp.text


def test_fields_include_keeps_id_and_type(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    for resp in (client.get("/search", params={"fields": "properties.datetime"},
                            headers=owner.headers),
                 client.post("/search", json={"fields": {"include": ["properties.datetime"]}},
                             headers=owner.headers)):
        feats = ok(resp)["features"]
        assert [f["id"] for f in feats] == [item["id"]]
        assert feats[0]["type"] == "Feature"
        assert feats[0]["properties"] == {"datetime": "2026-05-18T01:20:00Z"}
