"""STAC Browser 4.x (built from npm) served on another origin and driven in headless system
Chromium against the live server: key, catalog, collection, item + rendered thumbnail, search
with an added filter, asset download. Screenshots: test-artifacts/stac-browser/ (gitignored)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from demo_world import ARTIFACTS, Demo, demo  # noqa: F401  (pytest fixture)

from geopera_stac_ext.demo.imagery import DATA_DIR

HERE = Path(__file__).resolve().parent / "stac-browser"
SHOTS = ARTIFACTS / "stac-browser"


@pytest.fixture(scope="session")
def stac_browser_build() -> Path:
    """The built app (cached per package-lock.json: a fresh machine builds it once, minutes)."""
    res = subprocess.run(["bash", str(HERE / "build.sh")], capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    return Path(res.stdout.strip().splitlines()[-1])


def browser_config(api_url: str) -> dict:
    """The runtime config.js this deployment needs (docs/clients.md shows the same)."""
    return {
        "catalogUrl": f"{api_url}/",
        "catalogTitle": "Geopera STAC",
        "allowExternalAccess": False,
        "historyMode": "hash",
        "locale": "en", "detectLocaleFromBrowser": False, "storeLocale": False,
        # The key as a bearer header on every request to the catalog's own URLs (asset
        # downloads included); STAC Browser asks for it on the first 401.
        "authConfig": {"type": "apiKey", "in": "header", "name": "Authorization",
                       "formatter": "Bearer",
                       "description": "Paste your Geopera API key (`gpra_…`)."},
    }


@pytest.fixture
def browser_site(stac_browser_build: Path, demo: Demo) -> Iterator[str]:
    """The app on its own origin (another port), its config.js pointing at the live server."""
    config = ("window.STAC_BROWSER_CONFIG = " + json.dumps(browser_config(demo.url)) + ";\n"
              ).encode()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] == "/config.js":
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript")
                self.send_header("Content-Length", str(len(config)))
                self.end_headers()
                self.wfile.write(config)
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Handler, directory=str(stac_browser_build / "dist"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def drive(build: Path, **cfg: object) -> dict:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    env = dict(os.environ, NODE_PATH=str(build / "node_modules"),
               PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    res = subprocess.run(["node", str(HERE / "drive.js"), json.dumps(cfg)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    (SHOTS / "run.json").write_text(json.dumps(out, indent=2))
    return out


def test_stac_browser_on_another_origin_browses_searches_and_downloads_with_the_key(
        demo: Demo, browser_site: str, stac_browser_build: Path):
    items = {i["properties"]["title"]: i for i in demo.items()}
    title = "Field 12 — 2026-05-18"
    item = items[title]
    scene = DATA_DIR / (item["assets"]["data"]["href"].rsplit("/", 1)[-1])
    out = drive(stac_browser_build, browserUrl=browser_site, apiUrl=demo.url, key=demo.key,
                artifacts=str(SHOTS), collectionTitle="Demo survey", itemTitle=title,
                downloadAssetTitle="RGB image (COG)",
                # NOTE: two filters: STAC Browser 4.0.1 sends a single one as a one-argument
                # `and`, which CQL2 JSON does not allow and /search refuses (400).
                filters=[{"property": "eo:cloud_cover", "operator": "less than", "value": 10},
                         {"property": "gsd", "operator": "less than", "value": 1}])
    steps = {s["name"]: s["value"] for s in out["steps"]}
    assert "error" not in out, out["error"] + f"\nsteps: {list(steps)}\nscreenshots: {SHOTS}"
    # The item page shows the item's thumbnail asset, rendered: <img src> sends no header, so
    # the href's key-bound access token is what authorised the bytes (a 128 px demo PNG).
    thumb = steps["thumbnail"]
    href = item["assets"]["thumbnail"]["href"]
    assert thumb["src"].split("?")[0] == href.split("?")[0], (thumb, href)
    assert "access_token=" in thumb["src"]
    assert thumb["naturalWidth"] == 128 and thumb["naturalHeight"] > 0, thumb
    # The downloaded file is the COG, byte for byte.
    got = steps["download"]
    assert got["sha256"] == hashlib.sha256(scene.read_bytes()).hexdigest(), got
    # The search ran with the added filter, and only the matching item came back.
    search = steps["search"]
    assert search["status"] == 200, search
    assert "eo:cloud_cover" in search["request"] and "gsd" in search["request"]
    assert title in search["titles"] and "Field 13 — 2026-05-18" not in search["titles"]
