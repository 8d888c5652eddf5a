"""GDAL (Debian 12's gdal-bin 3.6) against the live server: `gdalinfo /vsicurl/<asset href>` with
the key in GDAL_HTTP_HEADERS, a signed download URL, and the STACIT driver on /search."""

from __future__ import annotations

import httpx
from conftest import make_actor, ok
from demo_world import Demo, GdalRun, demo, gdal  # noqa: F401  (pytest fixture)
from pytest import approx

from geopera_stac_ext.demo.seed import DEMO_ITEMS, FOOTPRINT_DEG
from geopera_stac_ext.demo.imagery import DATA_DIR, SIZE

# NOTE: GDAL 3.6 opening a GeoTIFF over HTTP probes ~45 sidecar names (.aux.xml, .ovr, .msk,
# .IMD, _rpc.txt, ...) with HEAD, then reads the header and tiles with ranges: about 50 requests
# in a few seconds when every probe is a quick 404. The failure mode this pins (probes answered
# 200 with the COG itself, then .ovr.ovr, ...) is hundreds of requests over minutes.
MAX_REQUESTS = 80
MAX_SECONDS = 30

def scene_of(item: dict) -> int:
    """The demo scene (shipped file index) an item's footprint is."""
    (index,) = [i for i, (_n, lon, lat, *_r) in enumerate(DEMO_ITEMS)
                if item["bbox"][:2] == approx([lon, lat])]
    return index


def checksums(info: dict) -> list[int]:
    return [b["checksum"] for b in info["bands"]]


def local_checksums(index: int) -> list[int]:
    return checksums(gdal(["gdalinfo", "-json", "-checksum",
                           str(DATA_DIR / f"scene-{index}.tif")]).json())


def assert_few_requests(run: GdalRun, filename: str | None = None) -> None:
    """A bounded open; with `filename`, every probe of another name was answered 404."""
    listing = "\n".join(f"{m} {p} {s}" for m, p, s in run.requests)
    assert len(run.requests) <= MAX_REQUESTS, listing
    assert run.seconds < MAX_SECONDS, (run.seconds, listing)
    if filename is not None:
        others = [(p, s) for _m, p, s in run.requests
                  if not p.split("?")[0].endswith("/" + filename)]
        assert all(s == 404 for _p, s in others), listing

def test_gdalinfo_reads_an_asset_href_with_the_key_in_gdal_http_headers(demo: Demo):
    for item in demo.items():
        href = item["assets"]["data"]["href"]
        assert href.startswith(f"{demo.url}/"), f"asset hrefs are absolute URLs here: {href}"
        run = gdal(["gdalinfo", "-json", "-checksum", f"/vsicurl/{href}"], key=demo.key)
        info = run.json()
        assert info["size"] == [SIZE, SIZE]
        assert 'ID["EPSG",4326]' in info["coordinateSystem"]["wkt"]
        lon, lat = item["bbox"][:2]
        assert info["cornerCoordinates"]["upperLeft"] == approx([lon, lat + FOOTPRINT_DEG])
        # Every pixel came through the href (ranged reads) and equals the shipped file's.
        assert checksums(info) == local_checksums(scene_of(item))
        assert_few_requests(run, href.rsplit("/", 1)[-1])


def test_an_asset_href_gives_no_bytes_without_the_key_or_to_another_tenant(demo: Demo, db):
    outsider = db(lambda conn: make_actor(conn, "gdal-outsider@b.example", []))
    href = demo.items()[0]["assets"]["data"]["href"]
    assert httpx.get(href, timeout=30).status_code == 401
    theirs = httpx.get(href, headers=outsider.headers, timeout=30)
    assert theirs.status_code in (403, 404) and b"II*\x00" not in theirs.content
    run = gdal(["gdalinfo", "-json", f"/vsicurl/{href}"], key=outsider.key)
    assert run.returncode != 0
    assert_few_requests(run)


def test_gdalinfo_on_a_signed_download_url_ends_quickly(demo: Demo):
    item = demo.items()[0]
    grant = ok(httpx.post(f"{demo.url}/v1/op/items.asset.download", headers=demo.headers,
                          json={"item_id": item["id"],
                                "asset_id": item["assets"]["data"]["geopera:asset_id"]}))
    run = gdal(["gdalinfo", "-json", "-checksum", f"/vsicurl/{grant['url']}"])
    assert checksums(run.json()) == local_checksums(scene_of(item))
    assert_few_requests(run, grant["url"].rsplit("/", 1)[-1])
    # The sidecar names GDAL probes are not the asset: 404, never the COG again.
    for suffix in (".aux.xml", ".ovr", ".msk"):
        assert httpx.get(grant["url"] + suffix, timeout=30).status_code == 404
        assert httpx.head(grant["url"] + suffix, timeout=30).status_code == 404

