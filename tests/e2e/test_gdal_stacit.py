"""GDAL's STACIT driver on the live server's /search: the demo collection as one mosaic."""

from __future__ import annotations

from demo_world import Demo, demo, gdal  # noqa: F401  (pytest fixture)
from pytest import approx
from test_gdal import checksums

from geopera_stac_ext.demo.seed import FOOTPRINT_DEG
from geopera_stac_ext.demo.imagery import SIZE


def test_gdal_stacit_opens_a_search_as_a_mosaic(demo: Demo):
    search = f"{demo.url}/search?collections={demo.collection_id}"
    run = gdal(["gdalinfo", "-json", "-checksum", f'STACIT:"{search}":asset=data'],
               key=demo.key, timeout=180)
    info = run.json()
    assert info["driverShortName"] == "VRT"
    # Scenes 0 and 1 (149.10/-35.30 and 149.14/-35.28, 0.02 deg each) at 0.02/512 deg per px.
    px = FOOTPRINT_DEG / SIZE
    assert info["cornerCoordinates"]["upperLeft"] == approx([149.10, -35.26])
    assert info["cornerCoordinates"]["lowerRight"] == approx([149.16, -35.30])
    assert info["size"] == [round(0.06 / px), round(0.04 / px)]
    assert len(info["bands"]) == 3 and all(c != 0 for c in checksums(info))
    sources = [f for f in info["files"] if f.startswith("/vsicurl/")]
    assert len(sources) == 2, info["files"]
