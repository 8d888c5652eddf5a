"""The signed download route is safe for GDAL: HEAD like GET, only the asset's own filename,
the asset's media type, Range."""

from __future__ import annotations

from conftest import ok
from download_helpers import COG, download, local_item


def signed(client, db, settings, world, data: bytes | None = None) -> tuple[str, bytes]:
    item, asset_id, data = local_item(client, db, settings, world["editor"], world.project_a1,
                                      data=data)
    return ok(download(client, world["viewer"], item["id"], asset_id))["url"], data


def test_head_answers_like_get_without_a_body(client, db, settings, world):
    url, data = signed(client, db, settings, world)
    head, get = client.head(url), client.get(url)
    assert head.status_code == get.status_code == 200
    assert head.content == b"" and get.content == data
    for k in ("content-type", "content-length", "accept-ranges", "content-disposition"):
        assert head.headers[k] == get.headers[k], k
    assert head.headers["content-type"] == COG
    ranged = client.head(url, headers={"Range": "bytes=100-"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 100-{len(data) - 1}/{len(data)}"


def test_sidecar_and_other_filenames_under_a_signed_url_are_404(client, db, settings, world):
    url, _ = signed(client, db, settings, world)
    for suffix in (".aux.xml", ".ovr", ".ovr.ovr", ".msk", "/x", "/x/y"):
        assert client.get(url + suffix).status_code == 404, suffix
        assert client.head(url + suffix).status_code == 404, suffix
    base, _, name = url.rpartition("/")
    assert client.get(f"{base}/other.tif").status_code == 404
    assert client.get(f"{base}/{name}").status_code == 200


def test_thumbnails_render_inline_and_documents_download_as_attachments(client, db, settings,
                                                                        world):
    url, _ = signed(client, db, settings, world)
    assert client.get(url).headers["content-disposition"].startswith("inline;")
    item, asset_id, _ = local_item(client, db, settings, world["editor"], world.project_a1)
    db(lambda c: c.execute("UPDATE geopera.assets SET media_type = 'text/html' WHERE id = $1",
                           asset_id))
    url = ok(download(client, world["viewer"], item["id"], asset_id))["url"]
    r = client.get(url)
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
