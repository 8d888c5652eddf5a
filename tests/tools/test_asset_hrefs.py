"""Asset hrefs in STAC responses are URLs on this service a key holder can GET: the download
op's checks and accounting on every read, one grant per (key, asset) per URL lifetime."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from conftest import create_collection, create_item, ok, op, problem
from download_helpers import COG, download, local_item

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.lifecycle.job import run_lifecycle


def grants(db, via: str | None = None) -> list[Any]:
    sql = "SELECT * FROM geopera.egress_ledger"
    if via:
        sql += f" WHERE via = '{via}'"
    return db(lambda c: c.fetch(sql + " ORDER BY at, id"))


def collected_scene(client, db, settings, world, data: bytes | None = None):
    col = create_collection(client, world["editor"], world.project_a1)
    item, asset_id, data = local_item(client, db, settings, world["editor"], world.project_a1,
                                      data=data, collection_id=col["id"])
    item["stored"] = db(lambda c: c.fetchval("SELECT href FROM geopera.assets WHERE id = $1",
                                             asset_id))
    return col, item, asset_id, data


def href_of(item: dict[str, Any], asset_id: str) -> str:
    return f"/v1/assets/{asset_id}/" + item["stored"].rsplit("/", 1)[1]


def test_every_stac_representation_has_an_absolute_href_that_serves_the_bytes(
        client, db, settings, world):
    col, item, asset_id, data = collected_scene(client, db, settings, world)
    viewer = world["viewer"]
    h = viewer.headers
    reps = [
        ok(client.get("/search", params={"ids": item["id"]}, headers=h))["features"][0],
        ok(client.post("/search", json={"ids": [item["id"]]}, headers=h))["features"][0],
        ok(client.get(f"/collections/{col['id']}/items", headers=h))["features"][0],
        ok(client.get(f"/collections/{col['id']}/items/{item['id']}", headers=h)),
        ok(op(client, "items.get_stac", viewer, item_id=item["id"])),
        ok(op(client, "items.search", viewer, project_id=world.project_a1,
              format="stac"))["features"][0],
    ]
    stored = item["stored"]
    name = stored.rsplit("/", 1)[1]
    expected = f"http://testserver/v1/assets/{asset_id}/{name}"
    for feature in reps:
        entry = feature["assets"]["data"]
        assert entry["href"] == expected
        assert entry["geopera:href"] == stored  # the storage href stays visible to members
        assert entry["auth:refs"] == ["geopera_key"]
    # NOTE: listing and searching spent no grant and wrote no egress
    assert grants(db) == []
    r = client.get(expected, headers=h)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == COG
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_href_honours_forwarded_proxy_headers(client, db, settings, world):
    col, item, asset_id, _ = collected_scene(client, db, settings, world)
    h = {**world["viewer"].headers, "X-Forwarded-Proto": "https",
         "X-Forwarded-Host": "catalog.example.org"}
    feat = ok(client.get(f"/collections/{col['id']}/items/{item['id']}", headers=h))
    assert feat["assets"]["data"]["href"].startswith(
        f"https://catalog.example.org/v1/assets/{asset_id}/")


def test_many_range_reads_by_one_key_use_one_grant_counting_bytes_served(
        client, db, settings, clock, world):
    col, item, asset_id, data = collected_scene(client, db, settings, world,
                                                data=bytes(range(256)) * 64)
    viewer = world["viewer"]
    href = ok(client.get(f"/collections/{col['id']}/items/{item['id']}",
                         headers=viewer.headers))["assets"]["data"]["href"]
    limit = settings.asset_download_limit_free
    served = 0
    assert client.head(href, headers=viewer.headers).status_code == 200
    for i in range(limit + 10):  # NOTE: more reads than the free plan's grants per hour
        first = (i * 300) % len(data)
        r = client.get(href, headers={**viewer.headers, "Range": f"bytes={first}-{first + 99}"})
        assert r.status_code == 206, r.text
        assert r.content == data[first:first + 100]
        assert r.headers["content-range"] == f"bytes {first}-{first + 99}/{len(data)}"
        served += 100
    rows = grants(db)
    assert len(rows) == 1 and rows[0]["via"] == "href"
    assert rows[0]["bytes"] == served and str(rows[0]["api_key_id"]) == viewer.key_id
    # a second key holder gets a grant of its own
    other = world["owner"]
    assert client.get(href, headers={**other.headers, "Range": "bytes=0-9"}).status_code == 206
    assert len(grants(db)) == 2
    # once the grant has lived a signed URL's lifetime (900 s), the next read takes a new one
    clock.now += timedelta(seconds=901)
    assert client.get(href, headers={**viewer.headers, "Range": "bytes=0-9"}).status_code == 206
    rows = [r for r in grants(db) if str(r["api_key_id"]) == viewer.key_id]
    assert [r["bytes"] for r in rows] == [served, 10]


def test_new_href_grant_is_refused_at_the_per_asset_limit_with_429(client, db, settings, world):
    _, item, asset_id, _ = collected_scene(client, db, settings, world)
    for _ in range(settings.asset_download_limit_free):
        ok(download(client, world["editor"], item["id"], asset_id))
    href = href_of(item, asset_id)
    r = client.get(href, headers=world["viewer"].headers)
    body = problem(r, 429)
    assert body["limit"] == "asset_rate" and int(r.headers["retry-after"]) > 0
    assert r.headers["ratelimit-remaining"] == "0"
    assert grants(db, "href") == []


def test_open_breaker_stops_reads_of_a_reused_grant(client, db, settings, world):
    settings.egress_budget_bytes_free = 150
    _, item, asset_id, data = collected_scene(client, db, settings, world, data=b"x" * 1000)
    href = href_of(item, asset_id)
    h = world["viewer"].headers
    assert client.get(href, headers={**h, "Range": "bytes=0-99"}).status_code == 206
    assert client.get(href, headers={**h, "Range": "bytes=100-199"}).status_code == 206
    body = problem(client.get(href, headers={**h, "Range": "bytes=200-299"}), 429)
    assert body["limit"] == "org_bandwidth"
    assert [r["bytes"] for r in grants(db)] == [200]


def test_another_tenants_key_gets_403_or_404_and_never_bytes(client, db, settings, world):
    _, item, asset_id, data = collected_scene(client, db, settings, world)
    href = href_of(item, asset_id)
    for actor in ("outsider", "loner"):
        r = client.get(href, headers=world[actor].headers)
        assert r.status_code in (403, 404), r.status_code
        assert data not in r.content
    problem(client.get(href), 401)
    problem(client.get(href, headers={"Authorization": "Bearer gpra_nope"}), 401)
    # a key without items:read
    async def mk(conn):
        from conftest import make_actor
        return await make_actor(conn, "noread@a.example", [("project", world.project_a1,
                                                             "owner")], scopes="items:write")
    noread = db(mk)
    problem(client.get(href, headers=noread.headers), 403)
    problem(client.get(f"/v1/assets/{uuid.uuid4()}/x.tif", headers=world["viewer"].headers),
            404)
    problem(client.get("/v1/assets/not-a-uuid/x.tif", headers=world["viewer"].headers), 404)
    assert grants(db) == []


def test_href_runs_the_download_checks_410_then_402(client, db, settings, clock, world):
    _, item, asset_id, _ = collected_scene(client, db, settings, world)
    href = href_of(item, asset_id)
    h = world["viewer"].headers
    db(lambda c: tenancy.set_subscription(c, world.org_a, "past_due"))
    problem(client.get(href, headers=h), 402)
    clock.now += timedelta(days=settings.free_retention_days + 1)
    db(lambda c: run_lifecycle(c, settings, clock.now))
    body = problem(client.get(href, headers=h), 410)  # NOTE: 410 is checked before 402
    assert body["lifecycle_state"] == "expired"
    ok(op(client, "items.delete", world["editor"], item_id=item["id"]))
    problem(client.get(href, headers=h), 404)
    assert grants(db) == []


def test_sidecar_probes_and_other_filenames_are_404_without_a_grant(client, db, settings,
                                                                     world):
    _, item, asset_id, _ = collected_scene(client, db, settings, world)
    name = item["stored"].rsplit("/", 1)[1]
    h = world["viewer"].headers
    for suffix in (".aux.xml", ".ovr", ".ovr.ovr", ".msk", "/x"):
        problem(client.get(f"/v1/assets/{asset_id}/{name}{suffix}", headers=h), 404)
        assert client.head(f"/v1/assets/{asset_id}/{name}{suffix}", headers=h).status_code == 404
    problem(client.get(f"/v1/assets/{asset_id}/other.tif", headers=h), 404)
    assert grants(db) == []


def test_head_answers_like_get_without_a_body(client, db, settings, world):
    _, item, asset_id, data = collected_scene(client, db, settings, world)
    href = href_of(item, asset_id)
    h = world["viewer"].headers
    head, get = client.head(href, headers=h), client.get(href, headers=h)
    assert head.status_code == get.status_code == 200 and head.content == b""
    for k in ("content-type", "content-length", "accept-ranges", "content-disposition"):
        assert head.headers[k] == get.headers[k], k
    ranged = client.head(href, headers={**h, "Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.headers["content-length"] == "10"
    assert [r["bytes"] for r in grants(db)] == [len(data)]  # HEAD reads count no bytes


def test_remote_asset_href_redirects_to_the_signed_url_after_the_checks(client, db, world):
    col = create_collection(client, world["editor"], world.project_a1)
    item = create_item(client, world["editor"], world.project_a1, collection_id=col["id"],
                       assets=[{"key": "data", "href": "https://data.example.com/a/scene.tif",
                                "media_type": COG, "file_size_bytes": 1234,
                                "roles": ["data"]}])
    feat = ok(client.get(f"/collections/{col['id']}/items/{item['id']}",
                         headers=world["viewer"].headers))
    href = feat["assets"]["data"]["href"]
    assert href.endswith("/scene.tif") and href.startswith("http://testserver/v1/assets/")
    for _ in range(3):
        r = client.get(href, headers=world["viewer"].headers, follow_redirects=False)
        assert r.status_code == 307
        assert r.headers["location"] == "https://data.example.com/a/scene.tif"
    # NOTE: a redirect cannot see the bytes: the grant counts the asset's size once
    assert [(r["via"], r["bytes"]) for r in grants(db)] == [("href", 1234)]
    problem(client.get(href, headers=world["outsider"].headers, follow_redirects=False), 403)
