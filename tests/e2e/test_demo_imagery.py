"""The demo serves real imagery: COGs GDAL opens, over each item's footprint, with thumbnails."""

from __future__ import annotations

import httpx
from pytest import approx
from conftest import ok
from demo_world import Demo, demo, gdal  # noqa: F401  (pytest fixture)

from geopera_stac_ext.demo.seed import DEMO_ITEMS, FOOTPRINT_DEG
from geopera_stac_ext.demo.imagery import (
    COG_MEDIA_TYPE,
    DATA_DIR,
    PNG_MEDIA_TYPE,
    SIZE,
    THUMBNAIL_SIZE,
    demo_properties,
)


def test_demo_cogs_are_cloud_optimized_rgb_over_their_items_footprints():
    for i, (_name, lon, lat, *_rest) in enumerate(DEMO_ITEMS):
        info = gdal(["gdalinfo", "-json", str(DATA_DIR / f"scene-{i}.tif")]).json()
        assert info["size"] == [SIZE, SIZE]
        assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
        assert [b["colorInterpretation"] for b in info["bands"]] == ["Red", "Green", "Blue"]
        assert all(b["overviews"] for b in info["bands"]), "a COG of 512 px carries an overview"
        assert 'ID["EPSG",4326]' in info["coordinateSystem"]["wkt"]
        corners = info["cornerCoordinates"]
        assert corners["upperLeft"] == approx([lon, lat + FOOTPRINT_DEG], abs=1e-9)
        assert corners["lowerRight"] == approx([lon + FOOTPRINT_DEG, lat], abs=1e-9)
        a, b, c, d, e, f = demo_properties(lon, lat, FOOTPRINT_DEG)["proj:transform"]
        assert info["geoTransform"] == approx([c, a, b, f, d, e], abs=1e-12), \
            "the item's proj:transform is the file's geotransform"
        thumb = gdal(["gdalinfo", "-json", str(DATA_DIR / f"scene-{i}.png")]).json()
        assert thumb["driverShortName"] == "PNG"
        assert thumb["size"] == [THUMBNAIL_SIZE, THUMBNAIL_SIZE] and len(thumb["bands"]) == 3
        # NOTE: real pictures, not flat fills: several distinct colours in every band.
        stats = gdal(["gdalinfo", "-json", "-stats", str(DATA_DIR / f"scene-{i}.png")]).json()
        assert all(b["stdDev"] > 10 for b in stats["bands"])


def test_demo_registers_a_cog_and_a_png_thumbnail_per_item(demo: Demo):
    items = demo.items()
    assert len(items) == 2
    for item in items:
        assets = item["assets"]
        assert assets["data"]["type"] == COG_MEDIA_TYPE and assets["data"]["roles"] == ["data"]
        assert assets["thumbnail"]["type"] == PNG_MEDIA_TYPE
        assert assets["thumbnail"]["roles"] == ["thumbnail"]
        props = item["properties"]
        assert props["proj:epsg"] == 4326 and props["proj:shape"] == [SIZE, SIZE]


def test_demo_assets_download_as_the_shipped_files(demo: Demo):
    for item in demo.items():
        for key, suffix in (("data", "tif"), ("thumbnail", "png")):
            params = {"item_id": item["id"], "asset_id": item["assets"][key]["geopera:asset_id"]}
            grant = ok(httpx.post(f"{demo.url}/v1/op/items.asset.download", headers=demo.headers,
                                  json=params))
            body = httpx.get(grant["url"], timeout=30)
            assert body.status_code == 200
            names = [f"scene-{i}.{suffix}" for i in range(len(DEMO_ITEMS))]
            assert body.content in [(DATA_DIR / n).read_bytes() for n in names]

