"""items.asset.download: every status in the documented order, limits, ledger, local URLs."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from conftest import TEST_SIGNING_SECRET, create_item, make_actor, ok, op, problem
from download_helpers import COG, download, local_item  # noqa: F401

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.lifecycle.job import run_lifecycle
from geopera_stac_ext.storage.hrefs import project_area


def ledger(db) -> list[Any]:
    return db(lambda c: c.fetch("SELECT * FROM geopera.egress_ledger ORDER BY at, id"))


def lifecycle(db, settings, now) -> dict[str, Any]:
    return db(lambda c: run_lifecycle(c, settings, now))


@pytest.fixture
def scene(client, db, settings, world):
    return local_item(client, db, settings, world["editor"], world.project_a1)


# ------------------------------------------------------------------ success and the URL


def test_grant_returns_exactly_the_contract_and_url_serves_exact_bytes(client, db, scene, world,
                                                                     caplog):
    caplog.set_level(logging.DEBUG)
    item, asset_id, data = scene
    body = ok(download(client, world["viewer"], item["id"], asset_id))
    assert set(body) == {"url", "expires_in_seconds", "asset_id", "size_bytes", "media_type"}
    assert body["expires_in_seconds"] == 900
    assert body["asset_id"] == asset_id
    assert body["size_bytes"] == len(data)
    assert body["media_type"] == COG
    assert body["url"].startswith("http://testserver/download/")
    got = client.get(body["url"])  # no Authorization header: the signature is the key
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == COG
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["accept-ranges"] == "bytes"
    assert caplog.records, "the access log should have been captured"
    assert TEST_SIGNING_SECRET not in caplog.text + body["url"]


def test_every_grant_writes_one_egress_ledger_row(client, db, scene, world):
    item, asset_id, data = scene
    viewer = world["viewer"]
    ok(download(client, viewer, item["id"], asset_id))
    ok(download(client, viewer, item["id"], asset_id))
    rows = ledger(db)
    assert len(rows) == 2
    for r in rows:
        assert str(r["org_id"]) == world.org_a == str(r["account_id"])
        assert str(r["project_id"]) == world.project_a1
        assert str(r["principal_id"]) == viewer.user_id
        assert str(r["api_key_id"]) == viewer.key_id
        assert str(r["item_id"]) == item["id"] and str(r["asset_id"]) == asset_id
        assert r["bytes"] == len(data)


def test_grant_for_remote_http_asset_returns_its_href(client, db, world):
    item = create_item(client, world["editor"], world.project_a1, assets=[
        {"key": "data", "href": "https://example.com/a/scene.tif", "file_size_bytes": 77}])
    aid = db(lambda c: c.fetchval("SELECT id::text FROM geopera.assets WHERE item_id = $1",
                                  item["id"]))
    body = ok(download(client, world["viewer"], item["id"], aid))
    assert body["url"] == "https://example.com/a/scene.tif"
    assert body["size_bytes"] == 77
    assert body["media_type"] is None


# ------------------------------------------------------------------ checks, in order


def test_401_without_or_with_unknown_key(client, scene):
    item, asset_id, _ = scene
    problem(download(client, None, item["id"], asset_id), 401)
    resp = client.post("/v1/op/items.asset.download",
                       json={"item_id": item["id"], "asset_id": asset_id},
                       headers={"Authorization": "Bearer gpra_notakey"})
    problem(resp, 401)


def test_403_for_key_without_items_read_scope_before_item_lookup(client, db, scene, world):
    item, asset_id, _ = scene
    writer = db(lambda c: make_actor(c, "w@a.example", [("project", world.project_a1, "owner")],
                                     scopes="items:write,collections:read"))
    body = problem(download(client, writer, item["id"], asset_id), 403)
    assert "items:read" in body["detail"]
    # NOTE: scope comes before existence: a missing item is still 403 for this key.
    problem(download(client, writer, str(uuid.uuid4()), asset_id), 403)


def test_404_for_missing_item_and_for_user_deleted_item(client, db, scene, world):
    item, asset_id, _ = scene
    problem(download(client, world["viewer"], str(uuid.uuid4()), asset_id), 404)
    db(lambda c: c.execute(
        "UPDATE geopera.items SET deleted_at = now(), lifecycle_state = 'deleted' WHERE id = $1",
        item["id"]))
    body = problem(download(client, world["viewer"], item["id"], asset_id), 404)
    assert item["id"] in body["detail"]


def test_403_for_non_member_even_on_expired_item(client, db, settings, clock, scene, world):
    item, asset_id, _ = scene
    problem(download(client, world["outsider"], item["id"], asset_id), 403)
    problem(download(client, world["loner"], item["id"], asset_id), 403)
    clock.now += timedelta(days=30)
    lifecycle(db, settings, clock.now)
    # NOTE: membership is checked before the lifecycle: outsiders learn nothing about state.
    problem(download(client, world["outsider"], item["id"], asset_id), 403)


def test_404_for_asset_of_another_item_or_unknown(client, db, settings, scene, world):
    item, asset_id, _ = scene
    other, other_asset, _ = local_item(client, db, settings, world["editor"], world.project_a1)
    body = problem(download(client, world["viewer"], item["id"], other_asset), 404)
    assert other_asset in body["detail"]
    problem(download(client, world["viewer"], item["id"], str(uuid.uuid4())), 404)
    db(lambda c: c.execute("UPDATE geopera.assets SET deleted_at = now() WHERE id = $1",
                           asset_id))
    problem(download(client, world["viewer"], item["id"], asset_id), 404)


def test_lifecycle_expiring_and_archived_download_expired_and_deleted_are_410(
        client, db, settings, clock, scene, world):
    item, asset_id, _ = scene
    viewer = world["viewer"]
    clock.now += timedelta(days=settings.free_retention_days - settings.expiry_warning_days)
    assert lifecycle(db, settings, clock.now)["transitions"] == {"active->expiring": 1}
    ok(download(client, viewer, item["id"], asset_id))
    clock.now += timedelta(days=settings.expiry_warning_days)
    lifecycle(db, settings, clock.now)
    body = problem(download(client, viewer, item["id"], asset_id), 410)
    assert "expired" in body["detail"] and body["lifecycle_state"] == "expired"
    # asset mismatch is still 404 before the lifecycle check
    problem(download(client, viewer, item["id"], str(uuid.uuid4())), 404)
    clock.now += timedelta(days=settings.expired_grace_days)
    lifecycle(db, settings, clock.now)
    body = problem(download(client, viewer, item["id"], asset_id), 410)
    assert body["lifecycle_state"] == "deleted" and "deleted" in body["detail"]
    # the retention-deleted item is gone from reads
    problem(op(client, "items.get", viewer, item_id=item["id"]), 404)


def test_archived_item_still_downloads(client, db, settings, clock, world):
    db(lambda c: tenancy.set_plan(c, world.org_a, "paid"))
    item, asset_id, data = local_item(client, db, settings, world["editor"], world.project_a1)
    clock.now += timedelta(days=settings.paid_archive_after_days)
    assert lifecycle(db, settings, clock.now)["transitions"] == {"active->archived": 1}
    body = ok(download(client, world["viewer"], item["id"], asset_id))
    assert client.get(body["url"]).content == data


def test_402_when_subscription_past_due_after_lifecycle_check(
        client, db, settings, clock, scene, world):
    item, asset_id, _ = scene
    db(lambda c: tenancy.set_subscription(c, world.org_a, "past_due"))
    body = problem(download(client, world["viewer"], item["id"], asset_id), 402)
    assert "past due" in body["detail"]
    assert ledger(db) == []
    clock.now += timedelta(days=settings.free_retention_days)
    lifecycle(db, settings, clock.now)
    problem(download(client, world["viewer"], item["id"], asset_id), 410)
    db(lambda c: tenancy.set_subscription(c, world.org_a, "active"))
    problem(download(client, world["viewer"], item["id"], asset_id), 410)


def test_past_due_is_checked_before_rate_limits(client, db, settings, scene, world):
    item, asset_id, _ = scene
    settings.asset_download_limit_free = 1
    ok(download(client, world["viewer"], item["id"], asset_id))
    problem(download(client, world["viewer"], item["id"], asset_id), 429)
    db(lambda c: tenancy.set_subscription(c, world.org_a, "past_due"))
    problem(download(client, world["viewer"], item["id"], asset_id), 402)


# ------------------------------------------------------------------ 429: rate limit and breaker


def test_per_asset_rate_limit_429_with_retry_after_and_ratelimit_headers(
        client, db, settings, clock, scene, world):
    item, asset_id, _ = scene
    settings.asset_download_limit_free = 3
    settings.asset_download_window_seconds = 600
    start = clock.now
    for _ in range(3):
        ok(download(client, world["viewer"], item["id"], asset_id))
        clock.now += timedelta(seconds=10)
    resp = download(client, world["editor"], item["id"], asset_id)
    body = problem(resp, 429)
    assert body["limit"] == "asset_rate"
    # the first grant (at start) leaves the window at start + 600 s; now is start + 30 s
    assert resp.headers["retry-after"] == "570"
    assert resp.headers["ratelimit-limit"] == "3"
    assert resp.headers["ratelimit-remaining"] == "0"
    assert resp.headers["ratelimit-reset"] == "570"
    assert resp.headers["ratelimit-policy"] == "3;w=600"
    assert len(ledger(db)) == 3  # a refused grant writes nothing
    # another asset of the same organization is not limited by this one
    other, other_asset, _ = local_item(client, db, settings, world["editor"], world.project_a1)
    ok(download(client, world["viewer"], other["id"], other_asset))
    clock.now = start + timedelta(seconds=600)
    ok(download(client, world["viewer"], item["id"], asset_id))
    problem(download(client, world["viewer"], item["id"], asset_id), 429)


def test_paid_plan_has_its_own_asset_limit(client, db, settings, scene, world):
    item, asset_id, _ = scene
    settings.asset_download_limit_free = 1
    settings.asset_download_limit_paid = 2
    ok(download(client, world["viewer"], item["id"], asset_id))
    problem(download(client, world["viewer"], item["id"], asset_id), 429)
    db(lambda c: tenancy.set_plan(c, world.org_a, "paid"))
    ok(download(client, world["viewer"], item["id"], asset_id))
    problem(download(client, world["viewer"], item["id"], asset_id), 429)


def test_bandwidth_breaker_opens_at_budget_and_closes_after_its_window(
        client, db, settings, clock, world):
    settings.egress_budget_bytes_free = 2500
    settings.egress_window_seconds = 3600
    editor, viewer = world["editor"], world["viewer"]
    scenes = [local_item(client, db, settings, editor, world.project_a1, data=os.urandom(1000))
              for _ in range(4)]
    # a project of the same organization shares the budget
    other = local_item(client, db, settings, world["org_owner"], world.project_a2,
                       data=os.urandom(10))
    start = clock.now
    for item, aid, _ in scenes[:3]:
        ok(download(client, viewer, item["id"], aid))  # 1000, 2000, 3000 (the crossing passes)
        clock.now += timedelta(seconds=60)
    resp = download(client, viewer, scenes[3][0]["id"], scenes[3][1])
    body = problem(resp, 429)
    assert body["limit"] == "org_bandwidth" and "3000 bytes" in body["detail"]
    # closes when the sum drops below 2500: after the first grant (start) leaves the window
    assert resp.headers["retry-after"] == str(3600 - 180)
    assert resp.headers["ratelimit-limit"] == "2500"
    problem(download(client, world["org_owner"], other[0]["id"], other[1]), 429)
    # another organization is unaffected
    b_item, b_asset, _ = local_item(client, db, settings, world["outsider"], world.project_b1)
    ok(download(client, world["outsider"], b_item["id"], b_asset))
    clock.now = start + timedelta(seconds=3599)
    problem(download(client, viewer, scenes[3][0]["id"], scenes[3][1]), 429)
    clock.now = start + timedelta(seconds=3600)
    ok(download(client, viewer, scenes[3][0]["id"], scenes[3][1]))
    problem(download(client, viewer, scenes[0][0]["id"], scenes[0][1]), 429)


# ------------------------------------------------------------------ the local download URL


@pytest.fixture
def granted(client, scene, world):
    item, asset_id, data = scene
    body = ok(download(client, world["viewer"], item["id"], asset_id))
    return urlparse(body["url"]).path, data


def test_tampered_urls_are_403_problems(client, db, settings, granted, world):
    path, _ = granted
    prefix, asset, grant, expires, sig, name = path.split("/", 6)[1:]
    assert prefix == "download"
    other = local_item(client, db, settings, world["editor"], world.project_a1)[1]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (
        f"/download/{asset}/{grant}/{expires}/{flipped}/{name}",  # signature
        f"/download/{asset}/{grant}/{int(expires) + 3600}/{sig}/{name}",  # expiry extended
        f"/download/{other}/{grant}/{expires}/{sig}/{name}",  # another asset
        f"/download/{asset}/{uuid.uuid4()}/{expires}/{sig}/{name}",  # another grant
        f"/download/{asset}/{grant}/{expires}",  # truncated
        f"/download/{asset}/{grant}/notanumber/{sig}/{name}",
    ):
        body = problem(client.get(bad), 403)
        assert "items.asset.download" in body["detail"]
    assert TEST_SIGNING_SECRET not in client.get(path.replace(sig, flipped)).text


def test_expired_url_is_403(client, clock, granted):
    path, data = granted
    clock.now += timedelta(seconds=899)
    assert client.get(path).content == data
    clock.now += timedelta(seconds=1)
    body = problem(client.get(path), 403)
    assert "expired" in body["detail"]


@pytest.mark.parametrize("header,first,last", [
    ("bytes=0-9", 0, 9), ("bytes=100-", 100, 4999), ("bytes=-5", 4995, 4999),
    ("bytes=4990-99999", 4990, 4999), ("bytes=4999-4999", 4999, 4999),
])
def test_range_requests_return_206_with_exact_slice(client, granted, header, first, last):
    path, data = granted
    r = client.get(path, headers={"Range": header})
    assert r.status_code == 206
    assert r.content == data[first:last + 1]
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert r.headers["content-length"] == str(last - first + 1)


def test_unsatisfiable_range_is_416_problem_and_odd_ranges_get_full_body(client, granted):
    path, data = granted
    r = client.get(path, headers={"Range": "bytes=5000-"})
    body = problem(r, 416)
    assert r.headers["content-range"] == "bytes */5000"
    assert "5000" in body["detail"]
    for odd in ("bytes=0-1,5-9", "items=0-5", "bytes=9-2"):
        r = client.get(path, headers={"Range": odd})
        assert r.status_code == 200 and r.content == data


def test_download_of_deleted_or_missing_file_is_404(client, db, settings, granted, scene):
    path, _ = granted
    item, asset_id, _ = scene
    href = db(lambda c: c.fetchval("SELECT href FROM geopera.assets WHERE id = $1", asset_id))
    (project_area(settings.resolved_storage_dir, item["project_id"]) / href).unlink()
    assert "missing" in problem(client.get(path), 404)["detail"]
    db(lambda c: c.execute("UPDATE geopera.assets SET deleted_at = now() WHERE id = $1",
                           asset_id))
    problem(client.get(path), 404)


def test_symlink_escaping_storage_root_is_refused_at_serve_time(
        client, db, settings, granted, scene, tmp_path):
    path, _ = granted
    item, asset_id, _ = scene
    secret = tmp_path / "secret.txt"
    secret.write_text("server secret")
    href = db(lambda c: c.fetchval("SELECT href FROM geopera.assets WHERE id = $1", asset_id))
    target = project_area(settings.resolved_storage_dir, item["project_id"]) / href
    target.unlink()
    target.symlink_to(secret)
    r = client.get(path)
    problem(r, 403)
    assert "server secret" not in r.text
