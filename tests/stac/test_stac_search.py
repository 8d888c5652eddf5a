"""The STAC API front door: same engine, same guard, as the op API."""

from __future__ import annotations

from conftest import create_collection, create_item, ok, problem


def test_stac_collections_list_only_visible_and_hide_inbox(client, world):
    mine = create_collection(client, world["editor"], world.project_a1, name="Mine")
    create_collection(client, world["outsider"], world.project_b1, name="Theirs")
    body = ok(client.get("/collections", headers=world["viewer"].headers))
    assert [c["id"] for c in body["collections"]] == [mine["id"]]
    assert not any(c["id"].startswith("inbox-") for c in body["collections"])
    got = ok(client.get(f"/collections/{mine['id']}", headers=world["viewer"].headers))
    assert got["title"] == "Mine" and got["type"] == "Collection"
    problem(client.get(f"/collections/{mine['id']}", headers=world["outsider"].headers), 404)
    problem(client.get(f"/collections/inbox-{world.project_a1}",
                       headers=world["viewer"].headers), 404)


def test_stac_items_search_and_get_item_respect_guard(client, world):
    col = create_collection(client, world["editor"], world.project_a1)
    item = create_item(client, world["editor"], world.project_a1, collection_id=col["id"])
    loose = create_item(client, world["editor"], world.project_a1, name="loose")
    foreign = create_item(client, world["outsider"], world.project_b1, name="foreign")
    h = world["viewer"].headers
    fc = ok(client.get(f"/collections/{col['id']}/items", headers=h))
    assert [f["id"] for f in fc["features"]] == [item["id"]] and fc["numberMatched"] == 1
    feat = ok(client.get(f"/collections/{col['id']}/items/{item['id']}", headers=h))
    assert feat["assets"]["data"]["geopera:href"] == "s3://bucket/scene.tif"
    assert feat["assets"]["data"]["href"].startswith("http://testserver/v1/assets/")
    fc = ok(client.post("/search", json={"limit": 100, "conf": {"nohydrate": True}},
                        headers=h))
    assert {f["id"] for f in fc["features"]} == {item["id"], loose["id"]}
    assert fc["numberMatched"] == 2
    fc = ok(client.get("/search", params={"ids": foreign["id"]}, headers=h))
    assert fc["features"] == [] and fc["numberMatched"] == 0
    problem(client.get("/search"), 401)
    fc = ok(client.get("/search", params={"filter": "eo:cloud_cover < 10",
                                          "filter-lang": "cql2-text"}, headers=h))
    assert fc["numberMatched"] == 2


def test_stac_paging_token_is_an_offset_and_reveals_nothing(client, world):
    for n in range(3):
        create_item(client, world["editor"], world.project_a1, name=f"p{n}")
    foreign = create_item(client, world["outsider"], world.project_b1, name="foreign")
    h = world["viewer"].headers
    first = ok(client.get("/search", params={"limit": 2}, headers=h))
    nxt = next(link for link in first["links"] if link["rel"] == "next")
    assert "token=offset%3A2" in nxt["href"] and "conf" not in nxt["href"]
    second = ok(client.get(nxt["href"], headers=h))
    assert len(second["features"]) == 1 and second["numberMatched"] == 3
    assert not any(link["rel"] == "next" for link in second["links"])
    # a pgstac-style token naming another tenant's item and pure garbage get the same answer
    for token in (f"next:{world.project_b1}:{foreign['id']}", "next:nonsense"):
        body = problem(client.get("/search", params={"token": token}, headers=h), 400)
        assert "not a paging token" in body["detail"]


def test_stac_conf_is_ignored_and_limit_is_capped(client, world):
    create_item(client, world["editor"], world.project_a1)
    h = world["viewer"].headers
    fc = ok(client.post("/search", json={"limit": 5000, "conf": {"context": "off",
                                                                  "nohydrate": False}},
                        headers=h))
    assert fc["numberMatched"] == 1 and fc["numberReturned"] == 1
    problem(client.post("/search", json={"bbox": [0, 10, 1, 5]}, headers=h), 400)


def test_stac_queryables_and_conformance(client, world):
    h = world["viewer"].headers
    q = ok(client.get("/queryables", headers=h))
    assert {"eo:cloud_cover", "datetime", "geometry", "geopera:type"} <= set(q["properties"])
    root = ok(client.get("/", headers=h))
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in root["conformsTo"]
    col = create_collection(client, world["editor"], world.project_a1)
    assert ok(client.get(f"/collections/{col['id']}/queryables", headers=h))["properties"]
    problem(client.get(f"/collections/{col['id']}/queryables",
                       headers=world["outsider"].headers), 404)


def test_stac_key_without_items_read_scope_is_refused(client, world, db):
    from conftest import make_actor

    actor = db(lambda conn: make_actor(conn, "colonly@a.example",
                                       [("project", world.project_a1, "owner")],
                                       scopes="collections:read"))
    problem(client.get("/search", headers=actor.headers), 403)


def test_stac_get_item_is_the_search_feature_and_only_under_its_collection(client, world):
    h = world["viewer"].headers
    a = create_collection(client, world["editor"], world.project_a1, "A")
    b = create_collection(client, world["editor"], world.project_a1, "B")
    item = create_item(client, world["editor"], world.project_a1, collection_id=a["id"])
    feat = ok(client.get(f"/collections/{a['id']}/items/{item['id']}", headers=h))
    via_search = ok(client.get("/search", params={"ids": item["id"]}, headers=h))["features"]
    assert via_search == [feat]  # the same representation as /search
    assert feat["collection"] == a["id"]
    for path in (f"/collections/{b['id']}/items/{item['id']}",  # another collection
                 f"/collections/{a['id']}/items/not-a-uuid",
                 f"/collections/not-a-uuid/items/{item['id']}"):
        problem(client.get(path, headers=h), 404)
    problem(client.get(f"/collections/{a['id']}/items/{item['id']}"), 401)
