"""items.list_by_collection, items.get_stac (validated against STAC 1.0.0), items.list_assets."""

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from conftest import create_collection, create_item, item_params, ok, op, problem

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _item_validator() -> jsonschema.Draft7Validator:
    resources = []
    for path in [*SCHEMAS.glob("v1.0.0/item-spec/json-schema/*.json"),
                 *SCHEMAS.glob("geojson/*.json")]:
        doc = json.loads(path.read_text())
        resources.append((doc["$id"].rstrip("#"), Resource.from_contents(doc)))
    registry = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / "v1.0.0/item-spec/json-schema/item.json").read_text())
    return jsonschema.Draft7Validator(schema, registry=registry)


ASSETS = [
    {"key": "thumbnail", "href": "s3://bucket/t.png", "media_type": "image/png",
     "roles": ["thumbnail"]},
    {"key": "data", "href": "s3://bucket/scene.tif", "media_type": "image/tiff",
     "file_size_bytes": 1000, "roles": ["data"]},
    {"key": "metadata", "href": "https://example.com/m.xml", "media_type": "application/xml",
     "roles": ["metadata"]},
]


def test_list_by_collection_pages_in_listing_order(client, world, clock):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    ids = []
    for i in range(3):
        clock.now += timedelta(seconds=1)
        ids.append(create_item(client, owner, world.project_a1, name=f"S{i}",
                               collection_id=col["id"])["id"])
    create_item(client, owner, world.project_a1, name="loose")
    page = ok(op(client, "items.list_by_collection", world["viewer"], collection_id=col["id"],
                 limit=2))
    assert page["total"] == 3
    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    rest = ok(op(client, "items.list_by_collection", owner, collection_id=col["id"], limit=2,
                 offset=2))
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["total"] == 3


@pytest.mark.parametrize("actor,status", [("loner", 403), ("outsider", 403)])
def test_list_by_collection_non_member_403(client, world, actor, status):
    col = create_collection(client, world["owner"], world.project_a1)
    problem(op(client, "items.list_by_collection", world[actor], collection_id=col["id"]), status)


def test_list_by_collection_unknown_is_404(client, world):
    problem(op(client, "items.list_by_collection", world["owner"],
               collection_id="00000000-0000-4000-8000-000000000000"), 404)


def test_list_assets_is_bare_array_with_data_first(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1, assets=ASSETS)
    assets = ok(op(client, "items.list_assets", world["viewer"], item_id=item["id"]))
    assert isinstance(assets, list)
    assert [a["key"] for a in assets] == ["data", "metadata", "thumbnail"]
    data = next(a for a in assets if a["key"] == "data")
    for k in ("id", "key", "media_type", "href", "file_size_bytes", "roles"):
        assert k in data
    assert data["file_size_bytes"] == 1000 and data["roles"] == ["data"]
    problem(op(client, "items.list_assets", world["loner"], item_id=item["id"]), 403)
    problem(op(client, "items.list_assets", owner,
               item_id="00000000-0000-4000-8000-000000000000"), 404)


def test_get_stac_is_valid_geojson_feature_with_links(client, world):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    item = create_item(client, owner, world.project_a1, collection_id=col["id"], assets=ASSETS,
                       properties={"platform": "aerial-a"})
    resp = op(client, "items.get_stac", world["viewer"], item_id=item["id"],
              base_url="https://catalog.example.com")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/geo+json")
    feature = resp.json()
    _item_validator().validate(feature)
    assert feature["stac_version"] == "1.0.0" and feature["id"] == item["id"]
    rels = {link["rel"]: link["href"] for link in feature["links"]}
    assert set(rels) >= {"self", "parent", "collection", "root"}
    assert all(h.startswith("https://catalog.example.com/") for h in rels.values())
    assert rels["collection"] == f"https://catalog.example.com/collections/{col['id']}"
    assert set(feature["assets"]) == {"data", "thumbnail", "metadata"}
    assert feature["properties"]["title"] == "Scene"
    assert feature["properties"]["eo:cloud_cover"] == 4.1
    assert feature["properties"]["platform"] == "aerial-a"
    assert "derived_from" not in rels


def test_get_stac_default_base_is_request_base(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    feature = ok(op(client, "items.get_stac", owner, item_id=item["id"]))
    _item_validator().validate(feature)
    base = str(client.base_url).rstrip("/")
    assert all(link["href"].startswith(base + "/") for link in feature["links"])


def test_get_stac_rejects_bad_base_url(client, world):
    item = create_item(client, world["owner"], world.project_a1)
    body = problem(op(client, "items.get_stac", world["owner"], item_id=item["id"],
                      base_url="javascript:alert(1)"), 400)
    assert "base_url" in body["detail"]


def test_get_stac_duplicate_has_derived_from(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    copy = ok(op(client, "items.duplicate", owner, item_id=item["id"]))["item"]
    feature = ok(op(client, "items.get_stac", owner, item_id=copy["id"],
                    base_url="https://c.example"))
    _item_validator().validate(feature)
    derived = [link for link in feature["links"] if link["rel"] == "derived_from"]
    assert len(derived) == 1 and item["id"] in derived[0]["href"]


def test_get_stac_access_rules(client, world):
    item = create_item(client, world["owner"], world.project_a1)
    problem(op(client, "items.get_stac", world["outsider"], item_id=item["id"]), 403)
    problem(op(client, "items.get_stac", world["owner"],
               item_id="00000000-0000-4000-8000-000000000000"), 404)


def test_viz_profiles_round_trip_get(client, world):
    owner = world["owner"]
    profiles = {"true-color": {"bands": [3, 2, 1], "rescale": [0, 3000]},
                "ndvi": {"expression": "(b4-b3)/(b4+b3)", "colormap": "viridis"}}
    item = ok(op(client, "items.create", owner,
                 **item_params(world.project_a1, viz_profiles=profiles)))["item"]
    assert item["viz_profiles"] == profiles
    got = ok(op(client, "items.get", owner, item_id=item["id"]))["item"]
    assert got["viz_profiles"] == profiles
