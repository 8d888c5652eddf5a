"""Metadata STAC clients rely on: sort conformance, proj:* fields on items."""

from __future__ import annotations

import warnings

from conftest import create_collection, create_item, ok
from pystac_client import Client


def test_pystac_client_sees_sort_conformance_without_warning(live_server, world):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cat = Client.open(live_server, headers=world["viewer"].headers)
        assert cat.conforms_to("SORT")
        cat.search(sortby="-properties.datetime", limit=1).item_collection()


def test_proj_properties_given_on_create_survive_into_the_stac_item(client, world):
    col = create_collection(client, world["editor"], world.project_a1)
    proj = {"proj:epsg": 32755, "proj:shape": [100, 200],
            "proj:transform": [0.5, 0.0, 500000.0, 0.0, -0.5, 6100000.0]}
    item = create_item(client, world["editor"], world.project_a1, collection_id=col["id"],
                       properties=proj)
    feat = ok(client.get(f"/collections/{col['id']}/items/{item['id']}",
                         headers=world["viewer"].headers))
    assert {k: feat["properties"][k] for k in proj} == proj


def test_stac_extensions_list_the_schemas_of_the_fields_an_item_carries(client, world):
    col = create_collection(client, world["editor"], world.project_a1)
    plain = create_item(client, world["editor"], world.project_a1, collection_id=col["id"])
    projected = create_item(client, world["editor"], world.project_a1, collection_id=col["id"],
                            properties={"proj:epsg": 4326, "view:off_nadir": 3.0})
    h = world["viewer"].headers
    feats = {f["id"]: f for f in ok(client.get(f"/collections/{col['id']}/items",
                                               headers=h))["features"]}
    base = "https://stac-extensions.github.io/"
    assert feats[plain["id"]]["stac_extensions"] == [
        base + "authentication/v1.1.0/schema.json", base + "eo/v1.1.0/schema.json",
        base + "file/v2.1.0/schema.json"]
    assert set(feats[projected["id"]]["stac_extensions"]) == {
        base + "authentication/v1.1.0/schema.json", base + "eo/v1.1.0/schema.json",
        base + "file/v2.1.0/schema.json", base + "projection/v1.1.0/schema.json",
        base + "view/v1.0.0/schema.json"}
    landing = ok(client.get("/", headers=h))
    collection = ok(client.get(f"/collections/{col['id']}", headers=h))
    for doc in (landing, collection):
        assert base + "authentication/v1.1.0/schema.json" in doc["stac_extensions"]
