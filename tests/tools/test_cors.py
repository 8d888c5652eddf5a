"""CORS: preflights need no key on every kind of route; answers carry the allowed origin."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import ok
from download_helpers import download, local_item
from geopera_stac_ext.app import create_app

ORIGIN = "https://browser.example"


def preflight(client, path: str, method: str = "GET", origin: str = ORIGIN):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})


def test_preflight_needs_no_key_on_stac_op_api_and_download_routes(client, world, db,
                                                                    settings):
    viewer = world["viewer"]
    item, asset_id, _ = local_item(client, db, settings, world["owner"], world.project_a1)
    url = ok(download(client, viewer, item["id"], asset_id))["url"]
    dl_path = url.split("://", 1)[1].split("/", 1)[1]
    paths = [("/", "GET"), ("/collections", "GET"), ("/search", "POST"),
             (f"/collections/x/items/{item['id']}", "GET"), ("/v1/op/items.get", "POST"),
             ("/api", "GET"), (f"/{dl_path}", "GET")]
    for path, method in paths:
        r = preflight(client, path, method)
        assert r.status_code in (200, 204), (path, r.status_code, r.text)
        assert r.headers["access-control-allow-origin"] == "*", path
        allowed = r.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed, path
        assert method in r.headers["access-control-allow-methods"], path
        assert "access-control-allow-credentials" not in r.headers, path


def test_actual_answers_carry_the_origin_and_expose_rate_limit_and_range_headers(
        client, world, db, settings):
    viewer = world["viewer"]
    item, asset_id, data = local_item(client, db, settings, world["owner"], world.project_a1)
    h = {**viewer.headers, "Origin": ORIGIN}
    for r in (client.get("/collections", headers=h),
              client.post("/v1/op/items.get", json={"item_id": item["id"]}, headers=h),
              client.get("/api", headers={"Origin": ORIGIN}),
              # NOTE: an error answer too: a browser app must be able to read the 401.
              client.get("/collections", headers={"Origin": ORIGIN})):
        assert r.headers["access-control-allow-origin"] == "*", r.request.url
        exposed = {x.strip().lower() for x in r.headers["access-control-expose-headers"].split(",")}
        assert {"retry-after", "ratelimit-remaining", "x-request-id", "content-range",
                "accept-ranges", "content-length"} <= exposed
    url = ok(download(client, viewer, item["id"], asset_id))["url"]
    r = client.get(url, headers={"Origin": ORIGIN, "Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == data[:10]
    assert r.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("configured", ["https://a.example, https://b.example/"])
def test_configured_origin_list_allows_only_those_origins(settings, db_env, clock, world,
                                                          configured):
    settings = settings.model_copy(update={"cors_origins": configured})
    with TestClient(create_app(settings, pg_env=db_env, clock=clock)) as c:
        good = preflight(c, "/collections", origin="https://b.example")
        assert good.status_code == 200
        assert good.headers["access-control-allow-origin"] == "https://b.example"
        bad = preflight(c, "/collections", origin="https://evil.example")
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers
        r = c.get("/collections", headers={**world["viewer"].headers,
                                           "Origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_empty_origin_setting_sends_no_cors_headers(settings, db_env, clock):
    settings = settings.model_copy(update={"cors_origins": ""})
    with TestClient(create_app(settings, pg_env=db_env, clock=clock)) as c:
        r = c.get("/api", headers={"Origin": ORIGIN})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers

