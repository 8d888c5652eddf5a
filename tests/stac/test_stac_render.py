"""The rendered STAC Item is pinned: every front door returns the same Feature, field for field
and in the same key order (STAC /search, /collections/{c}/items, GET item, op format=stac)."""

from __future__ import annotations

import json
import re

from conftest import create_collection, create_item, ok, op

BASE = "http://testserver"
AUTH = "https://stac-extensions.github.io/authentication/v1.1.0/schema.json"
ASSETS = [
    {"key": "data", "href": "s3://bucket/scene.tif",
     "media_type": "image/tiff; application=geotiff; profile=cloud-optimized",
     "file_size_bytes": 1000, "roles": ["data"], "title": "Full scene"},
    {"key": "thumbnail", "href": "s3://bucket/thumb one.png", "media_type": "image/png",
     "roles": ["thumbnail"]},
    {"key": "metadata", "href": "s3://bucket/meta.xml", "roles": []},
]
TOKEN = re.compile(r"\?access_token=[A-Za-z0-9_.\-]+$")


def _asset_ids(client, actor, item_id: str) -> dict[str, str]:
    return {a["key"]: a["id"]
            for a in ok(op(client, "items.list_assets", actor, item_id=item_id))}


def _expected(rec: dict, ids: dict[str, str]) -> dict:
    """The Feature as the renderer has always written it (the old shape, spelled out)."""
    iid, cid = rec["id"], rec["collection_id"]
    coll = f"{BASE}/collections/{cid}"
    a = f"{BASE}/v1/assets"
    return {
        "type": "Feature", "stac_version": "1.0.0",
        "stac_extensions": sorted([AUTH, *(f"https://stac-extensions.github.io/{e}/schema.json"
                                           for e in ("eo/v1.1.0", "file/v2.1.0", "view/v1.0.0"))]),
        "id": iid,
        "geometry": rec["geometry"], "bbox": rec["bbox"],
        "properties": {
            "platform": "sat-x", "view:off_nadir": 3.5,
            "title": "Pinned", "description": "A pinned scene", "eo:cloud_cover": 4.1,
            "gsd": 0.5, "datetime": "2026-05-18T01:20:00Z",
            "created": rec["created_at"], "updated": rec["updated_at"],
            "geopera:type": "image", "geopera:lifecycle_state": "active",
            "geopera:project_id": rec["project_id"],
            **({"geopera:expires_at": rec["expires_at"]} if rec["expires_at"] else {}),
        },
        "links": [
            {"rel": "root", "href": f"{BASE}/", "type": "application/json"},
            {"rel": "self", "href": f"{coll}/items/{iid}", "type": "application/geo+json"},
            {"rel": "parent", "href": coll, "type": "application/json"},
            {"rel": "collection", "href": coll, "type": "application/json"},
        ],
        "assets": {
            "data": {"href": f"{a}/{ids['data']}/scene.tif", "roles": ["data"],
                     "geopera:href": "s3://bucket/scene.tif", "auth:refs": ["geopera_key"],
                     "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                     "title": "Full scene", "file:size": 1000, "geopera:asset_id": ids["data"]},
            "metadata": {"href": f"{a}/{ids['metadata']}/meta.xml", "roles": [],
                         "geopera:href": "s3://bucket/meta.xml", "auth:refs": ["geopera_key"],
                         "geopera:asset_id": ids["metadata"]},
            "thumbnail": {"href": f"{a}/{ids['thumbnail']}/thumb_one.png?access_token=T",
                          "roles": ["thumbnail"], "geopera:href": "s3://bucket/thumb one.png",
                          "auth:refs": ["geopera_key"], "type": "image/png",
                          "geopera:asset_id": ids["thumbnail"]},
        },
        "collection": cid,
    }


def _untokened(feature: dict) -> str:
    """The Feature as JSON text in its key order, the thumbnail's access token masked."""
    thumb = feature["assets"]["thumbnail"]
    assert TOKEN.search(thumb["href"]), thumb["href"]
    thumb["href"] = TOKEN.sub("?access_token=T", thumb["href"])
    return json.dumps(feature)


def test_every_front_door_renders_the_pinned_stac_item(client, world):
    editor, viewer = world["editor"], world["viewer"]
    col = create_collection(client, editor, world.project_a1)
    rec = create_item(client, editor, world.project_a1, collection_id=col["id"], name="Pinned",
                      description="A pinned scene", assets=ASSETS,
                      properties={"platform": "sat-x", "view:off_nadir": 3.5})
    rec = ok(op(client, "items.get", viewer, item_id=rec["id"]))["item"]
    want = json.dumps(_expected(rec, _asset_ids(client, editor, rec["id"])))
    h = viewer.headers
    pages = {
        "POST /search": ok(client.post("/search", json={"ids": [rec["id"]]}, headers=h)),
        "GET /search": ok(client.get("/search", params={"ids": rec["id"]}, headers=h)),
        "items": ok(client.get(f"/collections/{col['id']}/items", headers=h)),
        "op stac": ok(op(client, "items.search", viewer, project_id=world.project_a1,
                         format="stac", ids=[rec["id"]])),
    }
    for door, page in pages.items():
        assert page["numberMatched"] == page["numberReturned"] == 1, door
        assert _untokened(page["features"][0]) == want, door
    item = ok(client.get(f"/collections/{col['id']}/items/{rec['id']}", headers=h))
    assert _untokened(item) == want


def test_an_uncollected_item_links_to_the_root_and_has_no_collection_field(client, world):
    editor, viewer = world["editor"], world["viewer"]
    rec = create_item(client, editor, world.project_a1, name="Loose")
    ids = _asset_ids(client, editor, rec["id"])
    fc = ok(client.post("/search", json={"ids": [rec["id"]]}, headers=viewer.headers))
    (feature,) = fc["features"]
    assert "collection" not in feature
    assert feature["links"] == [
        {"rel": "root", "href": f"{BASE}/", "type": "application/json"},
        {"rel": "self", "href": f"{BASE}/search?ids={rec['id']}",
         "type": "application/geo+json"},
        {"rel": "parent", "href": f"{BASE}/", "type": "application/json"},
    ]
    assert feature["assets"]["data"]["href"] == f"{BASE}/v1/assets/{ids['data']}/scene.tif"
    assert list(feature["properties"]) == [
        "title", "eo:cloud_cover", "gsd", "datetime", "created", "updated", "geopera:type",
        "geopera:lifecycle_state", "geopera:project_id",
        *(["geopera:expires_at"] if feature["properties"].get("geopera:expires_at") else [])]


def test_the_fields_extension_reaches_into_assets_and_links(client, world):
    """Pages carry assets and links as pre-written JSON; the fields extension still walks them."""
    editor, viewer = world["editor"], world["viewer"]
    col = create_collection(client, editor, world.project_a1)
    rec = create_item(client, editor, world.project_a1, collection_id=col["id"], assets=ASSETS)
    h = viewer.headers
    got = ok(client.get("/search", params={"ids": rec["id"], "fields": "assets.thumbnail.href"},
                        headers=h))["features"][0]
    assert list(got["assets"]) == ["thumbnail"]
    assert list(got["assets"]["thumbnail"]) == ["href"]
    assert TOKEN.search(got["assets"]["thumbnail"]["href"])
    assert "links" not in got and "properties" not in got
    got = ok(client.post("/search", json={"ids": [rec["id"]], "fields": {
        "exclude": ["assets.data", "links"]}}, headers=h))["features"][0]
    assert sorted(got["assets"]) == ["metadata", "thumbnail"]
    assert "links" not in got and got["properties"]["title"]
