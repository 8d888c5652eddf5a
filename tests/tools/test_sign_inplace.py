"""pystac-client + geopera.sign_inplace + odc-stac read real pixels of a searched item; the
same read works unsigned with the bearer key in GDAL_HTTP_HEADERS."""

from __future__ import annotations

import httpx
import numpy as np
import odc.stac
import pytest
import rasterio
from conftest import ok
from download_helpers import local_item, scene_with_thumbnail
from pystac_client import Client

import geopera
import geopera.signing
from geopera import Geopera
from geopera_stac_ext.demo.imagery import DATA_DIR, demo_properties

LON, LAT, DEG = 149.1, -35.3, 0.02
COG_FILE = DATA_DIR / "scene-0.tif"


def footprint() -> dict:
    return {"type": "Polygon", "coordinates": [[[LON, LAT], [LON + DEG, LAT],
                                                [LON + DEG, LAT + DEG], [LON, LAT + DEG],
                                                [LON, LAT]]]}


@pytest.fixture
def cog_item(live_server, db, settings, world):
    """A collected item whose `data` asset is a real COG (EPSG:4326, proj:* given)."""
    with httpx.Client(base_url=live_server, timeout=30) as http:
        col = ok(http.post("/v1/op/collections.create", headers=world["editor"].headers,
                           json={"project_id": world.project_a1, "name": "COGs"}))
        item, asset_id, _ = local_item(http, db, settings, world["editor"], world.project_a1,
                                       data=COG_FILE.read_bytes(), collection_id=col["id"],
                                       geometry=footprint(),
                                       properties=demo_properties(LON, LAT, DEG))
    with rasterio.open(COG_FILE) as src:
        band1 = src.read(1)
    return col, item, asset_id, band1


def ledger(db) -> list:
    return db(lambda c: c.fetch("SELECT via, bytes FROM geopera.egress_ledger ORDER BY at, id"))


def test_sign_inplace_makes_hrefs_self_contained_and_odc_stac_reads_the_pixels(
        live_server, db, world, cog_item):
    col, item, asset_id, band1 = cog_item
    key = world["viewer"].key
    g = Geopera(api_key=key, base_url=live_server)
    cat = Client.open(live_server, headers={"Authorization": f"Bearer {key}"},
                      modifier=g.sign_inplace)
    items = cat.search(collections=[col["id"]], limit=10).item_collection()
    assert [i.id for i in items] == [item["id"]]
    href = items[0].assets["data"].href
    assert href.startswith(f"{live_server}/download/{asset_id}/")
    assert items[0].ext.proj.epsg == 4326  # proj:* given on create survive (pystac reads them)
    assert httpx.get(href).status_code == 200  # self-contained: no header needed
    assert ledger(db) == [("url", COG_FILE.stat().st_size)]
    ds = odc.stac.load(items, bands=["data"])
    pixels = ds["data"].isel(time=0).values
    assert pixels.shape == band1.shape and np.array_equal(pixels, band1)
    assert pixels.std() > 0  # a real picture, not a flat fill
    # the same item signed again within the URL's life reuses the URL: no new grant
    again = cat.search(collections=[col["id"]]).item_collection()
    assert again[0].assets["data"].href == href
    assert len(ledger(db)) == 1


def test_module_level_sign_inplace_reads_key_and_base_from_the_environment(
        live_server, db, world, cog_item, monkeypatch):
    col, item, asset_id, _ = cog_item
    monkeypatch.setenv("GEOPERA_API_KEY", world["viewer"].key)
    monkeypatch.setenv("GEOPERA_BASE_URL", live_server)
    monkeypatch.setattr(geopera.signing, "_default", None)
    cat = Client.open(live_server, headers={"Authorization": f"Bearer {world['viewer'].key}"},
                      modifier=geopera.sign_inplace)
    got = cat.get_collection(col["id"]).get_item(item["id"])
    assert got is not None
    assert got.assets["data"].href.startswith(f"{live_server}/download/{asset_id}/")
    # a raw STAC dict (e.g. items_as_dicts) is signed too
    feature = ok(httpx.get(f"{live_server}/collections/{col['id']}/items/{item['id']}",
                           headers={"Authorization": f"Bearer {world['viewer'].key}"}))
    assert geopera.sign_inplace(feature) is feature
    assert feature["assets"]["data"]["href"].startswith(f"{live_server}/download/")


def test_another_tenants_key_cannot_sign(live_server, world, cog_item):
    col, item, _, _ = cog_item
    outsider = Geopera(api_key=world["outsider"].key, base_url=live_server)
    feature = ok(httpx.get(f"{live_server}/collections/{col['id']}/items/{item['id']}",
                           headers={"Authorization": f"Bearer {world['viewer'].key}"}))
    with pytest.raises(geopera.PermissionDenied):
        outsider.sign_inplace(feature)


def test_unsigned_hrefs_read_with_the_bearer_header_in_gdal(live_server, db, world, cog_item):
    col, item, asset_id, band1 = cog_item
    key = world["viewer"].key
    cat = Client.open(live_server, headers={"Authorization": f"Bearer {key}"})
    items = cat.search(collections=[col["id"]]).item_collection()
    assert items[0].assets["data"].href.startswith(f"{live_server}/v1/assets/{asset_id}/")
    assert ledger(db) == []  # searching spent nothing
    with rasterio.Env(GDAL_HTTP_HEADERS=f"Authorization: Bearer {key}",
                      GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        ds = odc.stac.load(items, bands=["data"])
        pixels = ds["data"].isel(time=0).values
    assert np.array_equal(pixels, band1)
    rows = ledger(db)
    assert len(rows) == 1 and rows[0][0] == "href"
    assert 0 < rows[0][1] <= COG_FILE.stat().st_size  # bytes actually sent


def test_sign_inplace_keeps_thumbnail_hrefs_that_already_carry_a_token(
        live_server, client, db, settings, world):
    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    key = world["viewer"].key
    feature = ok(httpx.get(f"{live_server}/collections/{scene['collection']['id']}/items/"
                           f"{scene['item']['id']}", headers={"Authorization": f"Bearer {key}"}))
    thumb = feature["assets"]["thumbnail"]["href"]
    Geopera(api_key=key, base_url=live_server).sign_inplace(feature)
    assert feature["assets"]["thumbnail"]["href"] == thumb  # usable as is: no grant spent
    assert feature["assets"]["data"]["href"].startswith(f"{live_server}/download/")
    assert len(ledger(db)) == 1
    got = httpx.get(thumb)
    assert got.status_code == 200 and got.content == scene["files"]["thumbnail"]["bytes"]
