"""Security sweep: no op, STAC route, deleted row or secret leaks across tenants."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from conftest import create_collection, create_item, item_params, ok, op, problem
from geopera_stac_ext.ops.catalog import REGISTRY
from geopera_stac_ext.storage import buckets

ITEM_NAME = "Alpha Secret Scene"
ITEM_DESC = "alpha-confidential-description"
COL_NAME = "Classified Survey Zeta"
HREF = "s3://org-a-private-bucket/alpha-secret.tif"


@pytest.fixture
def a_data(client, world, db) -> dict[str, Any]:
    """Org A's secrets: a collection, an item in it with one asset, and an uncollected item."""
    owner = world["owner"]
    db(lambda c: buckets.allow_bucket(c, world.org_a, None, "s3://org-a-private-bucket/"))
    col = create_collection(client, owner, world.project_a1, name=COL_NAME)
    assets = [{"key": "data", "href": HREF, "media_type": "image/tiff", "file_size_bytes": 10,
               "roles": ["data"]}]
    item = create_item(client, owner, world.project_a1, name=ITEM_NAME, description=ITEM_DESC,
                       collection_id=col["id"], assets=assets)
    loose = create_item(client, owner, world.project_a1, name="Alpha Loose Scene",
                        assets=[{**assets[0], "href": HREF + ".loose"}])
    listed = ok(op(client, "items.list_assets", owner, item_id=item["id"]))
    asset_list = listed["assets"] if isinstance(listed, dict) else listed
    return {"collection": col, "item": item, "loose": loose, "asset_id": asset_list[0]["id"]}


def secrets(world, a: dict[str, Any]) -> list[str]:
    """Strings of org A the outsider never sent and must never see."""
    return [ITEM_NAME, ITEM_DESC, COL_NAME, HREF, "Alpha Loose Scene", a["loose"]["id"],
            world.org_a, world.project_a2, world["owner"].user_id]


def sample_params(world, a: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Valid params per op aimed at org A; a new op must be added here (the sweep fails)."""
    iid, cid, p = a["item"]["id"], a["collection"]["id"], world.project_a1
    return {
        "items.create": item_params(p, name="Probe", collection_id=cid),
        "items.get": {"item_id": iid},
        "auth.whoami": {},
        "items.list": {"project_id": p},
        "items.list_by_collection": {"collection_id": cid},
        "items.get_stac": {"item_id": iid},
        "items.list_assets": {"item_id": iid},
        "items.update": {"item_id": iid, "name": "Hijacked"},
        "items.duplicate": {"item_id": iid, "target_project_id": world.project_b1},
        "items.lineage": {"item_id": iid},
        "items.delete": {"item_id": iid},
        "assets.delete": {"item_id": iid, "asset_id": a["asset_id"]},
        "collections.create": {"project_id": p, "name": "Probe"},
        "collections.list": {"project_id": p},
        "collections.get": {"project_id": p, "collection_id": cid},
        "collections.update": {"collection_id": cid, "name": "Hijacked"},
        "collections.delete": {"collection_id": cid},
        "items.asset.download": {"item_id": iid, "asset_id": a["asset_id"]},
        "items.search": {"project_id": p, "ids": [iid]},
        "items.search_org": {"ids": [iid], "collections": [cid]},
    }


# NOTE: org-scoped ops search the CALLER's own org, so 200 is right there — but empty.
# NOTE: ops that answer about the caller's own rows: 200 for anyone, nothing of org A.
OWN_SCOPE_OPS = {"items.search_org", "auth.whoami"}


def assert_no_leak(text: str, forbidden: list[str], where: str) -> None:
    for s in forbidden:
        assert s not in text, f"{where} leaks {s!r}: {text[:500]}"


def features_of(body: Any) -> list[Any]:
    return body.get("features", body.get("items", [])) if isinstance(body, dict) else body


def test_every_op_denies_the_outsider_and_reveals_nothing(client, world, a_data):
    ops = REGISTRY
    table = sample_params(world, a_data)
    missing = sorted(set(ops) - set(table))
    assert not missing, f"add sample params for new ops to the tenant sweep: {missing}"
    forbidden = secrets(world, a_data)
    for actor in ("outsider", "loner"):
        for op_id in sorted(ops):
            resp = op(client, op_id, world[actor], **table[op_id])
            where = f"{actor} {op_id}"
            if op_id in OWN_SCOPE_OPS:
                body = ok(resp)
                assert features_of(body) == [], where
                assert body.get("numberMatched", 0) == 0, where
            else:
                assert resp.status_code in (403, 404), f"{where}: {resp.status_code} {resp.text}"
                problem(resp, resp.status_code)
            assert_no_leak(resp.text, forbidden, where)
            assert_no_leak(json.dumps(dict(resp.headers)), forbidden, where + " headers")
    # Nothing the outsider sent changed org A's data.
    owner = world["owner"]
    item = ok(op(client, "items.get", owner, item_id=a_data["item"]["id"]))["item"]
    assert item["name"] == ITEM_NAME
    col = ok(op(client, "collections.get", owner, project_id=world.project_a1,
                collection_id=a_data["collection"]["id"]))
    assert col["name"] == COL_NAME
    cols = ok(op(client, "collections.list", owner, project_id=world.project_a1))
    cols = cols["collections"] if isinstance(cols, dict) else cols
    assert [c["name"] for c in cols] == [COL_NAME]
    listed = ok(op(client, "items.list_assets", owner, item_id=a_data["item"]["id"]))
    assert HREF in json.dumps(listed)


def stac_probes(world, a: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, path, json body) STAC requests aimed at org A's data."""
    iid, cid = a["item"]["id"], a["collection"]["id"]
    inbox = f"inbox-{world.project_a1}"
    bbox = "149.09,-35.31,149.13,-35.27"
    cql_text = f"id = '{iid}' OR title = '{ITEM_NAME}'"
    cql_json = {"op": "or", "args": [{"op": "=", "args": [{"property": "id"}, iid]},
                                     {"op": "=", "args": [{"property": "title"}, ITEM_NAME]}]}
    return [
        ("GET", f"/collections/{cid}", None),
        ("GET", f"/collections/{cid}/items", None),
        ("GET", f"/collections/{cid}/items/{iid}", None),
        ("GET", f"/collections/{inbox}", None),
        ("GET", f"/collections/{inbox}/items", None),
        ("GET", f"/collections/{inbox}/items/{a['loose']['id']}", None),
        ("GET", f"/collections/{cid}/queryables", None),
        ("GET", f"/search?ids={iid}", None),
        ("GET", f"/search?bbox={bbox}", None),
        ("GET", f"/search?collections={cid},{inbox}", None),
        ("GET", f"/search?filter-lang=cql2-text&filter={cql_text}", None),
        ("GET", "/search?token=offset:0&limit=1", None),
        ("GET", "/search?token=offset:1", None),
        ("GET", f"/search?token=next:{iid}", None),
        ("GET", f"/search?token=next:{cid}:{iid}", None),
        ("GET", f"/collections/{cid}/items?token=offset:0", None),
        ("POST", "/search", {"ids": [iid, a["loose"]["id"]]}),
        ("POST", "/search", {"bbox": [149.09, -35.31, 149.13, -35.27]}),
        ("POST", "/search", {"collections": [cid, inbox]}),
        ("POST", "/search", {"filter-lang": "cql2-json", "filter": cql_json}),
        ("POST", "/search", {"query": {"title": {"eq": ITEM_NAME}}}),
        ("POST", "/search", {"token": f"next:{iid}"}),
        ("POST", "/search", {"token": "offset:0", "ids": [iid]}),
    ]


@pytest.mark.parametrize("actor", ["outsider", "loner"])
def test_stac_api_reveals_nothing_of_org_a(client, world, a_data, actor):
    caller = world[actor]
    if actor == "outsider":
        # NOTE: B has data of its own so "empty" is not just "the whole catalog is empty".
        create_item(client, caller, world.project_b1, name="Beta Scene")
    forbidden = secrets(world, a_data) + [a_data["item"]["id"], a_data["collection"]["id"]]
    for path in ("/collections", "/queryables", "/search", "/"):
        resp = client.get(path, headers=caller.headers)
        assert resp.status_code == 200, (path, resp.text)
        assert_no_leak(resp.text, forbidden, f"GET {path}")
    for method, path, body in stac_probes(world, a_data):
        resp = client.request(method, path, json=body, headers=caller.headers)
        where = f"{actor} {method} {path} {body}"
        assert resp.status_code in (200, 400, 403, 404), f"{where}: {resp.status_code} {resp.text}"
        if resp.status_code == 200:
            data = resp.json()
            if "features" in data:
                assert [f for f in data["features"]
                        if f.get("properties", {}).get("title") != "Beta Scene"] == [], where
                if "numberMatched" in data and "bbox" not in path and not (body or {}).get("bbox"):
                    assert data["numberMatched"] <= (1 if actor == "outsider" else 0), where
        # The ids the caller sent may be echoed (e.g. in a 404 detail); nothing else may.
        sent = json.dumps(body) + path
        assert_no_leak(resp.text, [s for s in forbidden if s not in sent], where)
    # The owner sees the same data through the same requests (the probes are not vacuous).
    resp = client.post("/search", json={"ids": [a_data["item"]["id"]]},
                       headers=world["owner"].headers)
    assert [f["id"] for f in ok(resp)["features"]] == [a_data["item"]["id"]]
    resp = client.get(f"/collections/{a_data['collection']['id']}", headers=world["owner"].headers)
    assert ok(resp)["id"] == a_data["collection"]["id"]


def test_soft_deleted_item_and_deleted_collection_never_reappear(client, world, a_data):
    owner = world["owner"]
    iid, cid = a_data["item"]["id"], a_data["collection"]["id"]
    ok(op(client, "items.delete", owner, item_id=iid))
    loose = a_data["loose"]["id"]
    ok(op(client, "items.delete", owner, item_id=loose))
    for op_id, params in [("items.get", {"item_id": iid}), ("items.get_stac", {"item_id": iid}),
                          ("items.list_assets", {"item_id": iid}),
                          ("items.lineage", {"item_id": iid}),
                          ("items.update", {"item_id": iid, "name": "Zombie"}),
                          ("items.duplicate", {"item_id": iid}),
                          ("items.asset.download", {"item_id": iid,
                                                    "asset_id": a_data["asset_id"]})]:
        resp = op(client, op_id, owner, **params)
        assert resp.status_code in (404, 410), f"{op_id}: {resp.status_code} {resp.text}"
    for op_id, params in [("items.list", {"project_id": world.project_a1}),
                          ("items.list_by_collection", {"collection_id": cid}),
                          ("items.search", {"project_id": world.project_a1, "ids": [iid, loose]}),
                          ("items.search", {"project_id": world.project_a1}),
                          ("items.search_org", {})]:
        assert iid not in op(client, op_id, owner, **params).text, op_id
    for method, path, body in [("GET", f"/search?ids={iid},{loose}", None),
                               ("POST", "/search", {"ids": [iid, loose]}),
                               ("GET", "/search", None),
                               ("GET", f"/collections/{cid}/items", None),
                               ("GET", f"/collections/inbox-{world.project_a1}/items", None)]:
        resp = client.request(method, path, json=body, headers=owner.headers)
        assert resp.status_code in (200, 404), (path, resp.text)
        # NOTE: the self link echoes the ids the caller sent; the features must not.
        shown = json.dumps(resp.json().get("features", []))
        assert iid not in shown and loose not in shown, (path, body)
        if "ids" in path or body:
            assert resp.json().get("numberMatched") == 0, (path, body)
    resp = client.get(f"/collections/{cid}/items/{iid}", headers=owner.headers)
    problem(resp, 404)
    # Now the (emptied) collection itself.
    ok(op(client, "collections.delete", owner, collection_id=cid, project_id=world.project_a1))
    problem(client.get(f"/collections/{cid}", headers=owner.headers), 404)
    assert cid not in client.get("/collections", headers=owner.headers).text
    problem(op(client, "collections.get", owner, project_id=world.project_a1, collection_id=cid),
            404)
    problem(op(client, "items.list_by_collection", owner, collection_id=cid), 404)
    problem(op(client, "collections.update", owner, collection_id=cid, name="Back"), 404)
    resp = op(client, "items.create", owner, **item_params(world.project_a1, collection_id=cid))
    assert resp.status_code in (400, 404, 409, 410), resp.text


def test_secrets_never_in_responses_or_logs(client, world, a_data, settings, caplog):
    owner, outsider = world["owner"], world["outsider"]
    raw_keys = [owner.key, outsider.key]
    signing = settings.signing_secret
    signing = signing.get_secret_value() if hasattr(signing, "get_secret_value") else signing
    assert signing
    caplog.set_level(logging.DEBUG)
    calls = [
        (owner, "items.get", {"item_id": a_data["item"]["id"]}),
        (owner, "items.asset.download", {"item_id": a_data["item"]["id"],
                                         "asset_id": a_data["asset_id"]}),
        (owner, "items.search", {"project_id": world.project_a1}),
        (owner, "items.create", {"project_id": world.project_a1}),  # 400: missing fields
        (outsider, "items.get", {"item_id": a_data["item"]["id"]}),  # 404
        (owner, "items.update", {"item_id": a_data["item"]["id"], "cloud_cover": 900}),  # 400
    ]
    statuses = []
    texts = []
    for actor, op_id, params in calls:
        resp = op(client, op_id, actor, **params)
        statuses.append(resp.status_code)
        texts.append(resp.text + json.dumps(dict(resp.headers)))
    for path in ("/search", "/collections", f"/collections/{a_data['collection']['id']}"):
        resp = client.get(path, headers=owner.headers)
        texts.append(resp.text + json.dumps(dict(resp.headers)))
    resp = client.get("/search", headers={"Authorization": f"Bearer {owner.key}x"})  # 401
    statuses.append(resp.status_code)
    texts.append(resp.text + json.dumps(dict(resp.headers)))
    assert any(s >= 400 for s in statuses) and 200 in statuses, statuses
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in raw_keys + [signing]:
        for t in texts:
            assert secret not in t
        assert secret not in logged
    assert "Bearer gpra_" not in logged
