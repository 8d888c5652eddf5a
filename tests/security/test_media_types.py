"""Asset media types are validated (RFC 6838 syntax, no CR/LF, ASCII) and downloads are never
sniffed or rendered as active content on the service's origin."""

from __future__ import annotations

import pytest
from conftest import create_item, ok, op, problem
from download_helpers import download, local_item

from geopera_stac_ext.storage.hrefs import project_area

GOOD = ["image/tiff", "image/tiff; application=geotiff; profile=cloud-optimized",
        "application/vnd.geo+json", 'text/plain; charset="utf-8"', "image/jp2"]
BAD = ["image/tiff\r\nSet-Cookie: a=b", "image/tiff\n", "image/tïff", "image/tiff; x=é",
       "tiff", "image/", "/tiff", "image/ti ff", "image/tiff;", "image/tiff; =x",
       "image/tiff; a=\"unterminated", "image/tiff\x00", "", "a/b/c", "☃/☃"]


@pytest.mark.parametrize("media_type", BAD)
def test_an_invalid_media_type_is_400_naming_the_field(client, world, media_type):
    params = {"project_id": world.project_a1, "name": "x",
              "geometry": {"type": "Point", "coordinates": [1, 2]},
              "assets": [{"key": "data", "href": "s3://bucket/x.tif",
                          "media_type": media_type}]}
    body = problem(op(client, "items.create", world["editor"], **params), 400)
    assert "media_type" in body["detail"], body
    assert ok(op(client, "items.list", world["editor"], project_id=world.project_a1))[
        "total"] == 0


@pytest.mark.parametrize("media_type", GOOD)
def test_valid_media_types_are_kept_as_given(client, db, world, media_type):
    item = create_item(client, world["editor"], world.project_a1, assets=[
        {"key": "data", "href": "s3://bucket/x.tif", "media_type": media_type}])
    assert db(lambda c: c.fetchval(
        "SELECT media_type FROM geopera.assets WHERE item_id = $1", item["id"])) == media_type


def test_downloads_are_nosniff_attachments_and_html_is_sandboxed(client, db, settings, world):
    html = b"<script>alert(document.cookie)</script>"
    item, asset_id, _ = local_item(client, db, settings, world["editor"], world.project_a1,
                                   data=html)
    db(lambda c: c.execute("UPDATE geopera.assets SET media_type = 'text/html' WHERE id = $1",
                           asset_id))
    url = ok(download(client, world["viewer"], item["id"], asset_id))["url"]
    resp = client.get(url.replace("http://testserver", ""))
    assert resp.status_code == 200 and resp.content == html
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in resp.headers["content-security-policy"]


def test_a_stored_media_type_that_is_not_header_safe_is_served_as_octet_stream(
        client, db, settings, world):
    """Rows written before validation existed must not make the download a 500."""
    item, asset_id, data = local_item(client, db, settings, world["editor"], world.project_a1)
    for stored in ("image/tiff\r\nX-Injected: 1", "image/tïff; name=\u2603"):
        db(lambda c, stored=stored: c.execute(
            "UPDATE geopera.assets SET media_type = $2 WHERE id = $1", asset_id, stored))
        url = ok(download(client, world["viewer"], item["id"], asset_id))["url"]
        resp = client.get(url.replace("http://testserver", ""))
        assert resp.status_code == 200 and resp.content == data
        assert resp.headers["content-type"] == "application/octet-stream"
        assert "x-injected" not in resp.headers
    assert project_area(settings.resolved_storage_dir, world.project_a1).is_dir()
