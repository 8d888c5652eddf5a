"""Storage confinement: a local href resolves inside its project's area, so no tenant can name,
register or download another tenant's files (docs/security.md "Storage layout")."""

from __future__ import annotations

import os

import pytest

from conftest import create_item, make_actor, ok, op, problem
from download_helpers import COG, download, local_item

from geopera_stac_ext.storage.hrefs import project_area


def _asset(href: str) -> list[dict]:
    return [{"key": "data", "href": href, "media_type": COG, "roles": ["data"]}]


def _fetch(client, url: str):
    return client.get(url.replace("http://testserver", ""))


@pytest.fixture
def a_file(client, db, settings, world):
    """Org A's private file: item in A1 with a real local file; (item, asset id, bytes, rel)."""
    item, asset_id, data = local_item(client, db, settings, world["editor"], world.project_a1)
    rel = db(lambda c: c.fetchval("SELECT href FROM geopera.assets WHERE id = $1", asset_id))
    return item, asset_id, data, rel


def test_a_tenant_cannot_download_another_tenants_file_by_naming_its_path(
        client, db, settings, world, a_file):
    _, _, data, rel = a_file
    root = settings.resolved_storage_dir
    b = world["outsider"]
    # The attack: org B registers a path that, on a shared root, is org A's file.
    for href in (rel, f"projects/{world.project_a1}/{rel}"):
        item = create_item(client, b, world.project_b1, assets=_asset(href))
        aid = db(lambda c, item=item: c.fetchval(
            "SELECT id::text FROM geopera.assets WHERE item_id = $1", item["id"]))
        resp = download(client, b, item["id"], aid)
        # B's href names a file in B's own area, which does not exist: never A's bytes.
        body = problem(resp, 404)
        assert "missing" in body["detail"]
        assert not (project_area(root, world.project_b1) / href).exists()


@pytest.mark.parametrize("form", [
    "../{a1}/{rel}", "{root}/projects/{a1}/{rel}", "file://{root}/projects/{a1}/{rel}",
    "file://{root}/projects/{b1}/%2e%2e/{a1}/{rel}", "file://{root}/projects/{b1}/%2E%2E/{a1}/{rel}",
    "sub/../../{a1}/{rel}", "..\\{a1}\\{rel}", "./../{a1}/{rel}", "file://otherhost/{rel}",
    "{rel}\r\n", "file:///etc/passwd", "/etc/passwd",
])
def test_traversal_absolute_encoded_and_backslash_hrefs_are_400(client, settings, world, a_file,
                                                               form):
    _, _, _, rel = a_file
    href = form.format(a1=world.project_a1, b1=world.project_b1, rel=rel,
                       root=settings.resolved_storage_dir)
    params = {"project_id": world.project_b1, "name": "x",
              "geometry": {"type": "Point", "coordinates": [1, 2]}, "assets": _asset(href)}
    body = problem(op(client, "items.create", world["outsider"], **params), 400)
    assert "assets[0].href" in body["detail"] or "assets" in str(body.get("errors")), body
    assert ok(op(client, "items.list", world["outsider"], project_id=world.project_b1))[
        "total"] == 0


def test_a_nul_byte_in_an_href_is_400(client, world, a_file):
    _, _, _, rel = a_file
    params = {"project_id": world.project_b1, "name": "x",
              "geometry": {"type": "Point", "coordinates": [1, 2]},
              "assets": _asset(rel + "\x00.tif")}
    problem(op(client, "items.create", world["outsider"], **params), 400)


def test_a_symlink_into_another_area_is_refused_at_create_and_at_download(
        client, db, settings, world, a_file):
    _, _, data, rel = a_file
    root = settings.resolved_storage_dir
    b_area = project_area(root, world.project_b1)
    b_area.mkdir(parents=True, exist_ok=True)
    (b_area / "link.tif").symlink_to(project_area(root, world.project_a1) / rel)
    params = {"project_id": world.project_b1, "name": "x",
              "geometry": {"type": "Point", "coordinates": [1, 2]}, "assets": _asset("link.tif")}
    problem(op(client, "items.create", world["outsider"], **params), 400)
    # A link swapped in after a legitimate create is caught when serving.
    (b_area / "own.tif").write_bytes(b"own bytes")
    item = create_item(client, world["outsider"], world.project_b1, assets=_asset("own.tif"))
    aid = db(lambda c: c.fetchval("SELECT id::text FROM geopera.assets WHERE item_id = $1",
                                  item["id"]))
    url = ok(download(client, world["outsider"], item["id"], aid))["url"]
    os.unlink(b_area / "own.tif")
    (b_area / "own.tif").symlink_to(project_area(root, world.project_a1) / rel)
    resp = _fetch(client, url)
    problem(resp, 403)
    assert data not in resp.content
    # ...and so is a fresh grant of the same asset.
    problem(download(client, world["outsider"], item["id"], aid), 403)


def test_projects_of_one_org_are_confined_from_each_other(client, db, settings, world, a_file):
    """Per-project areas: an A2-only member cannot read A1's files through an A2 item."""
    _, _, data, rel = a_file
    a2_editor = db(lambda c: make_actor(c, "a2@a.example", [("project", world.project_a2,
                                                               "editor")]))
    item = create_item(client, a2_editor, world.project_a2, assets=_asset(rel))
    aid = db(lambda c: c.fetchval("SELECT id::text FROM geopera.assets WHERE item_id = $1",
                                  item["id"]))
    problem(download(client, a2_editor, item["id"], aid), 404)


def test_a_duplicate_keeps_serving_its_sources_file(client, db, settings, world, a_file):
    """items.duplicate re-points at the source's stored file (the source project's area)."""
    item, _, data, _ = a_file
    copy = ok(op(client, "items.duplicate", world["org_owner"], item_id=item["id"],
                 target_project_id=world.project_a2))["item"]
    aid = db(lambda c: c.fetchval("SELECT id::text FROM geopera.assets WHERE item_id = $1",
                                  copy["id"]))
    url = ok(download(client, world["org_owner"], copy["id"], aid))["url"]
    resp = _fetch(client, url)
    assert resp.status_code == 200 and resp.content == data


def test_move_storage_brings_legacy_files_into_their_projects_area(
        client, db, db_env, settings, world, tmp_path):
    """Upgrade path: hrefs relative to the shared root keep working once the operator runs
    `admin move-storage --apply`; a path two projects claim is never handed to either."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from geopera_stac_ext.core.settings import dsn_from_env

    root = settings.resolved_storage_dir
    (root / "legacy").mkdir()
    (root / "legacy" / "a.tif").write_bytes(b"org A legacy bytes")
    (root / "legacy" / "shared.tif").write_bytes(b"contested bytes")

    def legacy_item(actor, project, href):
        item = create_item(client, actor, project)
        aid = db(lambda c: c.fetchval(
            "UPDATE geopera.assets SET href = $2 WHERE item_id = $1 RETURNING id::text",
            item["id"], href))
        return item, aid

    mine, mine_aid = legacy_item(world["editor"], world.project_a1, "legacy/a.tif")
    legacy_item(world["editor"], world.project_a1, "legacy/shared.tif")
    theirs, theirs_aid = legacy_item(world["outsider"], world.project_b1, "legacy/shared.tif")
    problem(download(client, world["editor"], mine["id"], mine_aid), 404)  # not moved yet

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL=dsn_from_env(db_env), GEOPERA_HOME=str(tmp_path / "home"),
               GEOPERA_STORAGE_DIR=str(root))
    cli = str(Path(sys.executable).parent / "geopera-stac")

    def run(*args):
        res = subprocess.run([cli, "admin", "move-storage", *args], env=env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    dry = run()
    assert dry["applied"] is False and dry["counts"]["link"] == 1
    assert dry["counts"]["conflict"] == 2
    assert not (project_area(root, world.project_a1) / "legacy" / "a.tif").exists()
    done = run("--apply")
    assert done["counts"]["linked"] == 1
    url = ok(download(client, world["editor"], mine["id"], mine_aid))["url"]
    assert _fetch(client, url).content == b"org A legacy bytes"
    # the contested file went to nobody: B still cannot read it
    problem(download(client, world["outsider"], theirs["id"], theirs_aid), 404)
    assert not (project_area(root, world.project_b1) / "legacy" / "shared.tif").exists()
