"""The STAC API front door: same engine, same guard, as the op API."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

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


def _next(fc: dict) -> dict | None:
    return next((link for link in fc["links"] if link["rel"] == "next"), None)


def _pages(client, h, params: dict) -> list[list[str]]:
    """Every page of a GET /search, following `next` links."""
    pages, fc = [], ok(client.get("/search", params=params, headers=h))
    while True:
        pages.append([f["id"] for f in fc["features"]])
        link = _next(fc)
        if link is None:
            return pages
        fc = ok(client.get(link["href"], headers=h))


def test_stac_paging_tokens_resume_after_the_last_key_in_the_same_order(client, world):
    for n in range(7):
        create_item(client, world["editor"], world.project_a1, name=f"p{n}",
                    datetime=f"2024-01-0{1 + n % 3}T00:00:00Z", cloud_cover=float(n % 2))
    h = world["viewer"].headers
    for sortby in (None, "-datetime", "+datetime,-id", "eo:cloud_cover", "-created"):
        params = {"limit": 3, **({"sortby": sortby} if sortby else {})}
        whole = ok(client.get("/search", params={**params, "limit": 100}, headers=h))
        pages = _pages(client, h, params)
        assert [len(p) for p in pages] == [3, 3, 1], sortby
        assert sum(pages, []) == [f["id"] for f in whole["features"]], sortby
    # POST paging carries the token in the body of the next link
    fc = ok(client.post("/search", json={"limit": 4}, headers=h))
    link = _next(fc)
    assert link["method"] == "POST" and link["body"]["token"].startswith("k1.")
    rest = ok(client.post("/search", json=link["body"], headers=h))
    assert rest["numberMatched"] == 7 and rest["numberReturned"] == 3


def test_stac_paging_token_is_signed_and_bound_to_caller_and_search(client, world):
    for n in range(3):
        create_item(client, world["editor"], world.project_a1, name=f"p{n}")
    foreign = create_item(client, world["outsider"], world.project_b1, name="foreign")
    h = world["viewer"].headers
    first = ok(client.get("/search", params={"limit": 2}, headers=h))
    nxt = _next(first)
    assert "token=k1." in nxt["href"] and "conf" not in nxt["href"]
    second = ok(client.get(nxt["href"], headers=h))
    assert len(second["features"]) == 1 and second["numberMatched"] == 3
    assert _next(second) is None
    token = parse_qs(urlsplit(nxt["href"]).query)["token"][0]
    version, payload, mac = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    # tampering with the position or the key, or dropping the signature, is refused
    for forged in ({**body, "o": 0}, {**body, "k": ["2999-01-01T00:00:00+00:00", foreign["id"]]}):
        raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        problem(client.get("/search", params={"token": f"{version}.{raw}.{mac}"}, headers=h), 400)
    problem(client.get("/search", params={"token": f"{version}.{payload}."}, headers=h), 400)
    # another tenant's principal, or the same token with another search, is refused
    body = problem(client.get("/search", params={"limit": 2, "token": token},
                              headers=world["outsider"].headers), 400)
    assert "paging token" in body["detail"]
    problem(client.get("/search", params={"limit": 2, "token": token,
                                          "filter": "eo:cloud_cover < 5"}, headers=h), 400)
    # pgstac-style tokens naming another tenant's item, old offset tokens and garbage alike
    for bad in (f"next:{world.project_b1}:{foreign['id']}", "next:nonsense", "offset:2"):
        body = problem(client.get("/search", params={"token": bad}, headers=h), 400)
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


def test_filters_mixing_platform_and_stac_fields_count_exactly(client, world):
    for n in range(4):
        create_item(client, world["editor"], world.project_a1, name=f"m{n}",
                    cloud_cover=float(n * 10), type="dem" if n == 3 else "image")
    h = world["viewer"].headers
    for text, want in (("geopera:type = 'dem' OR eo:cloud_cover < 15", 3),
                       ("geopera:type = 'image' AND eo:cloud_cover >= 10", 2),
                       ("geopera:type = 'image'", 3)):
        fc = ok(client.get("/search", params={"filter": text, "filter-lang": "cql2-text",
                                              "limit": 1}, headers=h))
        assert fc["numberMatched"] == want, text


def test_stac_cloud_cover_sort_pages_by_keyset_token_through_values_ties_and_missing(client,
                                                                                     world):
    # NOTE: the index-ordered path (migration 0140): values, ties broken by id, then the items
    # without eo:cloud_cover (NULLS LAST either way); every page resumes from a signed key.
    made = [create_item(client, world["editor"], world.project_a1, name=f"c{n}",
                        cloud_cover=[3.5, 0.0, 3.5, None, 97.25, None, 3.5, 12.0][n])
            for n in range(8)]
    create_item(client, world["outsider"], world.project_b1, name="foreign", cloud_cover=1.0)
    h = world["viewer"].headers
    cover = {m["id"]: m["cloud_cover"] for m in made}
    for sortby, rev in (("eo:cloud_cover", False), ("-eo:cloud_cover", True),
                        ("properties.eo:cloud_cover", False)):
        valued = sorted((i for i in cover if cover[i] is not None),
                        key=lambda i: (cover[i], i), reverse=rev)
        missing = sorted((i for i in cover if cover[i] is None), reverse=rev)
        # NOTE: alone (the index walk), with a footprint (one pass + window count) and with a
        # datetime range (sorted matches): the same order, and tokens resume each of them.
        for extra in ({}, {"bbox": "-180,-90,180,90"},
                      {"datetime": "2000-01-01T00:00:00Z/2100-01-01T00:00:00Z"}):
            params = {"sortby": sortby, **extra}
            whole = ok(client.get("/search", params={**params, "limit": 100}, headers=h))
            assert [f["id"] for f in whole["features"]] == valued + missing, params
            for limit in (2, 3, 5):
                pages = _pages(client, h, {**params, "limit": limit})
                assert sum(pages, []) == valued + missing, (params, limit)
                assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1)
    # the token carries the last row's key (a number, or null past the values)
    fc = ok(client.get("/search", params={"sortby": "eo:cloud_cover", "limit": 7}, headers=h))
    token = parse_qs(urlsplit(_next(fc)["href"]).query)["token"][0]
    version, payload, mac = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert body["k"] == [None, fc["features"][-1]["id"]]
    fc = ok(client.get("/search", params={"sortby": "eo:cloud_cover", "limit": 2}, headers=h))
    token = parse_qs(urlsplit(_next(fc)["href"]).query)["token"][0]
    version, payload, mac = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert body["k"] == ["3.5", fc["features"][-1]["id"]]
    # an edited key (a value, null, or not a number) is refused like any forged token
    for key in (["-1.0", body["k"][1]], [None, body["k"][1]], ["NaN", body["k"][1]]):
        raw = base64.urlsafe_b64encode(json.dumps({**body, "k": key}).encode()
                                       ).rstrip(b"=").decode()
        problem(client.get("/search", params={"sortby": "eo:cloud_cover",
                                              "token": f"{version}.{raw}.{mac}"}, headers=h), 400)
