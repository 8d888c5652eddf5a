"""@geopera/sdk (clients/js): its `node --test` suite against a live server on a real database."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import _free_port, serving

from geopera import Geopera
from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.app import create_app
from geopera_stac_ext.lifecycle.job import run_lifecycle
from geopera_stac_ext.core.settings import Settings
from geopera_stac_ext.storage.hrefs import project_area

JS = Path(__file__).resolve().parents[2] / "clients" / "js"
NODE = shutil.which("node") or "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"
# NOTE: the 429 tests need a limit that is reached at once and a window that passes quickly:
# one grant per asset per 3 s (the server's Retry-After is then 1–3 s).
DOWNLOAD_WINDOW_SECONDS = 3
TIFF = b"II*\x00\x08\x00\x00\x00"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
SQUARE = {"type": "Polygon", "coordinates": [[[149.1, -35.3], [149.2, -35.3], [149.2, -35.2],
                                              [149.1, -35.2], [149.1, -35.3]]]}


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=JS, capture_output=True, text=True, timeout=timeout, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{out}"
    return out


@pytest.fixture(scope="session")
def sdk_built() -> Path:
    """clients/js with its pinned devDependencies (npm ci) and a fresh build in dist/."""
    if not (JS / "node_modules" / ".package-lock.json").exists():
        _run([NPM, "ci", "--no-audit", "--no-fund"], timeout=600)
    _run([NODE, "node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], timeout=300)
    return JS


def _real_clock() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture
def page_port() -> int:
    """The port of the browser test's page server: another origin than the API's."""
    return _free_port()


@pytest.fixture
def sdk_server(settings: Settings, db_env: dict[str, str], page_port: int):
    """The service on a real clock (Retry-After waits are real), allowing the page's origin."""
    update: dict[str, Any] = {"asset_download_limit_free": 1,
                              "asset_download_window_seconds": DOWNLOAD_WINDOW_SECONDS}
    # NOTE: exactly the page's origin, so another origin is refused (the browser test checks).
    update["cors_origins"] = f"http://127.0.0.1:{page_port}"
    live = settings.model_copy(update=update)
    with serving(create_app(live, pg_env=db_env, clock=_real_clock)) as url:
        yield url, live


def _file_asset(settings: Settings, key: str, data: bytes, project_id: str) -> dict[str, Any]:
    """A real file in the project's storage area (a little-endian TIFF header, then `data`)."""
    data = data if data.startswith(TIFF) else TIFF + data
    rel = f"sdk/{hashlib.sha256(data).hexdigest()[:16]}-{key}.tif"
    path = project_area(settings.resolved_storage_dir, project_id) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"key": key, "href": rel, "media_type": COG, "file_size_bytes": len(data),
            "roles": ["data"] if key == "data" else []}


def _item(c: Geopera, project_id: str, name: str, assets: list[dict[str, Any]],
          **kw: Any) -> dict[str, Any]:
    item = c.op("items.create", project_id=project_id, name=name, type="image",
                geometry=SQUARE, cloud_cover=4.1, gsd=0.5, assets=assets, **kw)["item"]
    item["assets"] = {a["key"]: a["id"] for a in c.op("items.list_assets", item_id=item["id"])}
    return item


def _seed_gone(boss: Geopera, world, db, settings: Settings) -> dict[str, Any]:
    """410: an item the retention machinery expired. NOTE: seeded before anything else, so
    the lifecycle runs (warning, then retention + 1 day ahead) expire nothing but it."""
    gone = _item(boss, world.project_a2, "Expired scene", [_file_asset(settings, "data", b"x", world.project_a2)])
    later = datetime.now(timezone.utc) + timedelta(days=settings.free_retention_days + 1)
    db(lambda conn: run_lifecycle(conn, settings, later - timedelta(days=8)))
    db(lambda conn: run_lifecycle(conn, settings, later))
    assert boss.op("items.get", item_id=gone["id"])["item"]["lifecycle_state"] == "expired"
    return {"item_id": gone["id"], "asset_id": gone["assets"]["data"]}


def _seed_samples(editor: Geopera, world, settings: Settings) -> dict[str, Any]:
    """The guide samples' project: three items (newest last) and the collection '3a9b...'."""
    names = ("Field 12 — 2026-05-18", "Field 13 — 2026-05-18", "Lake run — 2026-05-20")
    items = [_item(editor, world.project_a1, n,
                   [_file_asset(settings, "data", n.encode(), world.project_a1)],
                   datetime=f"2026-05-{18 + i}T01:20:00Z") for i, n in enumerate(names)]
    survey = editor.op("collections.create", project_id=world.project_a1, name="Survey 3a9b")
    return {"item_id": items[0]["id"], "asset_id": items[0]["assets"]["data"],
            "collection_id": survey["id"], "newest": names[-1], "count": len(names)}


def _seed_paging(boss: Geopera, world) -> dict[str, Any]:
    """Seven items in a collection of project A2."""
    pages = boss.op("collections.create", project_id=world.project_a2, name="Paging")
    ids = [_item(boss, world.project_a2, f"Paged {i}", [{"key": "data", "href": f"s3://b/{i}.tif"}],
                 collection_id=pages["id"], datetime=f"2026-03-0{i + 1}T00:00:00Z")["id"]
           for i in range(7)]
    return {"project_id": world.project_a2, "collection_id": pages["id"], "ids": ids}


def _seed_downloads(boss: Geopera, world, settings: Settings) -> dict[str, Any]:
    """One asset per download test (the limit is one grant per asset per window)."""
    blob = TIFF + os.urandom(300_000)
    keys = ("file", "stream", "retry", "bounded", "abort", "ratelimit", "browser")
    item = _item(boss, world.project_a2, "Download scene",
                 [_file_asset(settings, "data", b"d", world.project_a2)]
                 + [_file_asset(settings, k, blob, world.project_a2) for k in keys])
    return {"item_id": item["id"], "assets": {k: item["assets"][k] for k in keys},
            "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}


def seed(url: str, world, db, settings: Settings) -> dict[str, Any]:
    """The data the JS tests read; written to a JSON file whose path is GEOPERA_SDK_TEST."""
    with Geopera(api_key=world["org_owner"].key, base_url=url) as boss, \
            Geopera(api_key=world["editor"].key, base_url=url) as editor, \
            Geopera(api_key=world["outsider"].key, base_url=url) as outsider:
        out: dict[str, Any] = {"base_url": url, "project_id": world.project_a1,
                               "keys": {name: a.key for name, a in world.actors.items()},
                               "download_window_seconds": DOWNLOAD_WINDOW_SECONDS}
        out["gone"] = _seed_gone(boss, world, db, settings)
        out["samples"] = _seed_samples(editor, world, settings)
        out["paging"] = _seed_paging(boss, world)
        out["download"] = _seed_downloads(boss, world, settings)
        # 402: org B's subscription is past due.
        unpaid = _item(outsider, world.project_b1, "Unpaid scene",
                       [_file_asset(settings, "data", b"p", world.project_b1)])
        db(lambda conn: tenancy.set_subscription(conn, world.org_b, "past_due"))
        out["past_due"] = {"item_id": unpaid["id"], "asset_id": unpaid["assets"]["data"]}
    return out


def node_test(files: list[str], fixture: dict[str, Any], tmp_path: Path, timeout: float,
              extra_env: dict[str, str] | None = None) -> str:
    """Run `node --test` on `files` with the fixture; returns its output (asserts it passed)."""
    path = tmp_path / "sdk-fixture.json"
    path.write_text(json.dumps(fixture))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOPERA_")}
    env.update({"GEOPERA_SDK_TEST": str(path), "NO_COLOR": "1"}, **(extra_env or {}))
    flags = []
    major = int(subprocess.run([NODE, "-p", "process.versions.node.split('.')[0]"],
                               capture_output=True, text=True, check=True).stdout)
    if major < 22:
        flags.append("--experimental-websocket")  # NOTE: the CDP client (Node 22 has it built in)
    out = _run([NODE, *flags, "--test", "--test-reporter=spec", *files], timeout=timeout, env=env)
    assert "# fail 0" in out or "\u2139 fail 0" in out, out
    print(out)  # NOTE: the node report, shown with -s or -rA
    return out


BROWSER_SUITE = "test/browser.test.mjs"
# NOTE: every suite file of clients/js/test except the browser one (its own test below).
JS_SUITES = sorted(str(p.relative_to(JS)) for p in (JS / "test").glob("*.test.mjs")
                   if str(p.relative_to(JS)) != BROWSER_SUITE)


def test_node_suite_passes_against_a_live_server(sdk_built, sdk_server, world, db, tmp_path):
    url, live = sdk_server
    fixture = seed(url, world, db, live)
    assert len(JS_SUITES) >= 9, JS_SUITES
    node_test(JS_SUITES, fixture, tmp_path, timeout=900)


def test_sdk_bundle_lists_items_in_headless_chromium(sdk_built, sdk_server, world, db, tmp_path,
                                                     page_port):
    url, live = sdk_server
    fixture = seed(url, world, db, live)
    fixture["page_port"] = page_port
    node_test([BROWSER_SUITE], fixture, tmp_path, timeout=300)
