"""Operator commands against a live server and the real CLI: listings, whoami, recovery, audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import assert_rows_pair_up, create_collection, ok, op, problem
from download_helpers import download, local_item
from geopera_stac_ext.core.settings import dsn_from_env
from geopera_stac_ext.storage.hrefs import project_area

CLI = str(Path(sys.executable).parent / "geopera-stac")


@pytest.fixture
def cli_env(db_env, settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL=dsn_from_env(db_env), GEOPERA_HOME=str(settings.home),
               GEOPERA_STORAGE_DIR=str(settings.resolved_storage_dir))
    return env


@pytest.fixture
def cli(cli_env):
    """`geopera-stac admin …` as a subprocess on this test's database and storage root."""

    def run(*args: str, expect: int = 0) -> Any:
        res = subprocess.run([CLI, "admin", *args], env=cli_env, capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == expect, (args, res.returncode, res.stdout, res.stderr)
        if expect == 0:
            lines = res.stdout.strip().splitlines()
            assert len(lines) == 1, res.stdout  # one JSON document, nothing else on stdout
            return json.loads(lines[0])
        assert res.stdout == ""
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # one line, no traceback
        return res.stderr

    return run


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server, timeout=30) as c:
        yield c


def ledger_net(db, item_id: str) -> int:
    return db(lambda c: c.fetchval(
        "SELECT coalesce(sum(delta_bytes), 0) FROM geopera.storage_ledger WHERE item_id = $1",
        item_id))


# ---------------------------------------------------------------- listings and whoami


def test_listings_show_orgs_projects_users_memberships_and_keys_never_secrets(cli, world, http):
    orgs = {o["name"]: o for o in cli("list-orgs")}
    assert orgs["Org A"]["id"] == world.org_a and orgs["Org A"]["projects"] == 2
    assert orgs["Org A"]["plan"] == "free" and orgs["Org A"]["members"] == 1  # boss@
    projects = cli("list-projects", "--org", world.org_a)
    assert sorted(p["id"] for p in projects) == sorted([world.project_a1, world.project_a2])
    assert {p["org_name"] for p in projects} == {"Org A"}
    assert len(cli("list-projects")) == 3
    users = {u["email"]: u for u in cli("list-users")}
    assert users["editor@a.example"]["memberships"] == [
        {"project_id": world.project_a1, "project_name": "A1", "role": "editor"}]
    assert users["boss@a.example"]["memberships"] == [
        {"org_id": world.org_a, "org_name": "Org A", "role": "owner"}]
    assert users["loner@nowhere.example"]["memberships"] == []

    editor = world["editor"]
    keys = cli("list-keys", "--user", editor.user_id)
    assert [k["id"] for k in keys] == [editor.key_id]
    assert keys[0]["prefix"] == editor.key[:11] and keys[0]["last_used_at"] is None
    assert keys[0]["revoked"] is False and keys[0]["created_at"]
    ok(op(http, "collections.list", editor, project_id=world.project_a1))
    keys = cli("list-keys", "--user", editor.user_id)
    assert keys[0]["last_used_at"] is not None
    everything = json.dumps(cli("list-keys"))
    for actor in world.actors.values():
        assert actor.key not in everything and actor.key[11:20] not in everything
    assert "hash" not in everything
    cli("revoke-key", "--key-id", editor.key_id)
    assert cli("list-keys", "--user", editor.user_id)[0]["revoked"] is True


def test_listing_filters_name_a_missing_or_malformed_id(cli):
    assert "organization" in cli("list-projects", "--org", "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                                 expect=2)
    assert "organization must be a UUID" in cli("list-projects", "--org", "acme", expect=2)
    assert "user must be a UUID" in cli("list-keys", "--user", "'; DROP TABLE x", expect=2)


def test_whoami_names_the_calling_key_and_its_memberships_only(http, world, cli):
    boss = world["org_owner"]
    me = ok(op(http, "auth.whoami", boss))
    assert me["user_id"] == boss.user_id and me["email"] == "boss@a.example"
    assert me["key"]["id"] == boss.key_id and me["key"]["prefix"] == boss.key[:11]
    assert me["key"]["scopes"] == ["items:read", "items:write", "collections:read",
                                   "collections:write"]
    assert me["memberships"] == [{"org_id": world.org_a, "org_name": "Org A", "role": "owner"}]
    assert boss.key not in json.dumps(me)
    ro = ok(op(http, "auth.whoami", world["readonly"]))
    assert ro["key"]["scopes"] == ["items:read", "collections:read"]
    problem(op(http, "auth.whoami"), 401)
    cli("revoke-key", "--key-id", boss.key_id)
    assert "revoked" in problem(op(http, "auth.whoami", boss), 401)["detail"]
    assert "unknown field" in problem(op(http, "auth.whoami", world["viewer"], x=1), 400)["detail"]


# ---------------------------------------------------------------- recovery


def test_restore_item_brings_back_the_item_and_its_files_and_credits_storage_once(
        http, cli, db, settings, world):
    owner = world["owner"]
    col = create_collection(http, owner, world.project_a1, "Scenes")
    item, asset_id, data = local_item(http, db, settings, owner, world.project_a1,
                                      collection_id=col["id"])
    assert ledger_net(db, item["id"]) == len(data)
    ok(op(http, "items.delete", owner, item_id=item["id"]))
    assert ledger_net(db, item["id"]) == 0
    problem(op(http, "items.get", owner, item_id=item["id"]), 404)

    out = cli("restore-item", "--item", item["id"])
    assert out["lifecycle_state"] == "active" and out["assets_restored"] == 1
    assert out["ledger_credits"] == 1
    assert ledger_net(db, item["id"]) == len(data)
    assert_rows_pair_up(db)
    got = ok(op(http, "items.get", owner, item_id=item["id"]))["item"]
    assert got["name"] == item["name"] and got["lifecycle_state"] == "active"
    url = ok(download(http, owner, item["id"], asset_id))["url"]
    assert httpx.get(url).content == data
    stac = http.get(f"/collections/{col['id']}/items/{item['id']}", headers=owner.headers)
    assert stac.status_code == 200, stac.text

    assert "not deleted" in cli("restore-item", "--item", item["id"], expect=2)
    assert ledger_net(db, item["id"]) == len(data)  # a second restore credits nothing
    trail = cli("audit", "--project", world.project_a1)
    assert [t["operation"] for t in trail[:2]] == ["admin.restore-item", "items.delete"]
    assert trail[1]["email"] == "owner@a.example" and trail[1]["key_prefix"] == owner.key[:11]
    assert item["id"] in trail[0]["target_ids"]


def test_restore_item_refuses_when_the_file_is_gone(http, cli, db, settings, world):
    owner = world["owner"]
    item, _, _ = local_item(http, db, settings, owner, world.project_a1)
    href = db(lambda c: c.fetchval("SELECT href FROM geopera.assets WHERE item_id = $1",
                                   item["id"]))
    ok(op(http, "items.delete", owner, item_id=item["id"]))
    (project_area(settings.resolved_storage_dir, world.project_a1) / href).unlink()
    err = cli("restore-item", "--item", item["id"], expect=2)
    assert "gone" in err and "data" in err
    assert ledger_net(db, item["id"]) == 0
    problem(op(http, "items.get", owner, item_id=item["id"]), 404)
    assert "not found" in cli("restore-item", "--item", "6b1c2d3e-0000-4000-8000-000000000000",
                              expect=2)


def test_restored_expired_item_stays_expired_and_does_not_download(http, cli, db, settings,
                                                                   world):
    owner = world["owner"]
    item, asset_id, data = local_item(http, db, settings, owner, world.project_a1)
    db(lambda c: c.execute("UPDATE geopera.items SET lifecycle_state = 'expired' WHERE id = $1",
                           item["id"]))
    ok(op(http, "items.delete", owner, item_id=item["id"]))
    out = cli("restore-item", "--item", item["id"])
    assert out["lifecycle_state"] == "expired"
    assert ok(op(http, "items.get", owner, item_id=item["id"]))["item"]["lifecycle_state"] == \
        "expired"
    problem(download(http, owner, item["id"], asset_id), 410)


def test_restore_of_a_retention_deleted_item_returns_it_expired_with_a_grace_period(
        http, cli, cli_env, db, settings, world):
    owner = world["owner"]
    item, _, data = local_item(http, db, settings, owner, world.project_a1)
    run = subprocess.run([CLI, "lifecycle", "run", "--now", "2031-01-01T00:00:00Z"],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert db(lambda c: c.fetchval("SELECT lifecycle_state FROM geopera.items WHERE id = $1",
                                   item["id"])) == "deleted"
    assert ledger_net(db, item["id"]) == 0
    out = cli("restore-item", "--item", item["id"])
    assert out["lifecycle_state"] == "expired" and out["expires_at"] is not None
    assert ledger_net(db, item["id"]) == len(data)


def test_restore_asset_needs_a_live_item_and_credits_its_bytes(http, cli, db, settings, world):
    owner = world["owner"]
    item, _, data = local_item(http, db, settings, owner, world.project_a1)
    extra = project_area(settings.resolved_storage_dir, world.project_a1) / "scenes" / "extra.xml"
    extra.write_bytes(b"<x/>" * 100)
    db(lambda c: c.execute(
        "INSERT INTO geopera.assets (id, item_id, key, href, file_size_bytes)"
        " VALUES (gen_random_uuid(), $1, 'metadata', 'scenes/extra.xml', 400)", item["id"]))
    meta = db(lambda c: c.fetchval("SELECT id::text FROM geopera.assets WHERE item_id = $1"
                                   " AND key = 'metadata'", item["id"]))
    db(lambda c: c.execute(
        "INSERT INTO geopera.storage_ledger (project_id, item_id, asset_id, delta_bytes, reason)"
        " VALUES ($1, $2, $3, 400, 'asset_created')", world.project_a1, item["id"], meta))
    ok(op(http, "assets.delete", owner, item_id=item["id"], asset_id=meta))
    assert ledger_net(db, item["id"]) == len(data)
    out = cli("restore-asset", "--asset", meta)
    assert out == {"id": meta, "item_id": item["id"], "restored": True, "ledger_credits": 1}
    assert ledger_net(db, item["id"]) == len(data) + 400
    keys = [a["key"] for a in ok(op(http, "items.list_assets", owner, item_id=item["id"]))]
    assert keys == ["data", "metadata"]
    assert "not deleted" in cli("restore-asset", "--asset", meta, expect=2)
    ok(op(http, "items.delete", owner, item_id=item["id"]))
    assert "restore the item" in cli("restore-asset", "--asset", meta, expect=2)


def test_restore_collection_recreates_its_stac_collection_and_relinks_its_items(
        http, cli, db, world):
    owner = world["owner"]
    col = create_collection(http, owner, world.project_a1, "Delivery")
    other = create_collection(http, owner, world.project_a1, "Other")
    ids = [ok(op(http, "items.create", owner, **_params(world.project_a1, col["id"], n)))["item"]["id"]
           for n in range(3)]
    assert ok(op(http, "collections.delete", owner, collection_id=col["id"]))["unlinked_items"] == 3
    assert http.get(f"/collections/{col['id']}", headers=owner.headers).status_code == 404
    # one unlinked item is re-filed by its owner meanwhile: the relink leaves it where it is
    ok(op(http, "items.update", owner, item_id=ids[2], collection_id=other["id"]))

    out = cli("restore-collection", "--collection", col["id"], "--relink")
    assert out["relinked_items"] == 2 and out["not_relinked_items"] == 1
    assert_rows_pair_up(db)
    got = ok(op(http, "collections.get", owner, project_id=world.project_a1,
                collection_id=col["id"]))
    assert got["name"] == "Delivery" and got["item_count"] == 2
    stac = http.get(f"/collections/{col['id']}", headers=owner.headers)
    assert stac.status_code == 200 and stac.json()["title"] == "Delivery"
    feats = http.get(f"/collections/{col['id']}/items", headers=owner.headers).json()
    assert sorted(f["id"] for f in feats["features"]) == sorted(ids[:2])
    assert ok(op(http, "items.get", owner, item_id=ids[2]))["item"]["collection_id"] == \
        other["id"]
    assert "not deleted" in cli("restore-collection", "--collection", col["id"], expect=2)
    trail = cli("audit", "--org", world.org_a, "--limit", "3")
    assert trail[0]["operation"] == "admin.restore-collection"
    assert cli("audit", "--org", world.org_b) == []


def test_restore_collection_without_relink_leaves_items_uncollected(http, cli, db, world):
    owner = world["owner"]
    col = create_collection(http, owner, world.project_a1, "Solo")
    iid = ok(op(http, "items.create", owner, **_params(world.project_a1, col["id"], 0)))["item"]["id"]
    ok(op(http, "collections.delete", owner, collection_id=col["id"]))
    out = cli("restore-collection", "--collection", col["id"])
    assert out["relinked_items"] == 0 and out["unlinked_items_left_uncollected"] == 1
    assert_rows_pair_up(db)
    assert ok(op(http, "items.get", owner, item_id=iid))["item"]["collection_id"] is None
    assert ok(op(http, "collections.get", owner, project_id=world.project_a1,
                 collection_id=col["id"]))["item_count"] == 0


def test_audit_filters_by_time_and_refuses_bad_filters(http, cli, world):
    owner = world["owner"]
    create_collection(http, owner, world.project_a1, "Audited")
    assert cli("audit", "--since", "2999-01-01T00:00:00Z") == []
    assert [t["operation"] for t in cli("audit", "--since", "2000-01-01")] == [
        "collections.create"]
    assert "ISO 8601" in cli("audit", "--since", "yesterday", expect=2)
    assert "--limit" in cli("audit", "--limit", "0", expect=2)


def _params(project_id: str, collection_id: str, n: int) -> dict[str, Any]:
    from conftest import item_params

    return item_params(project_id, name=f"Scene {n}", collection_id=collection_id)
