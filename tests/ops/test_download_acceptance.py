"""Acceptance: the guide's "Worked example: organize a delivery", unchanged, over real HTTP."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import timedelta

import httpx
from download_helpers import local_item
from guide import WORKED_EXAMPLE


def test_worked_example_runs_unchanged_and_the_url_returns_the_exact_bytes(
        db, settings, clock, world, live_server):
    # NOTE: seeding goes through the live server too: a TestClient on the same app would run
    # a second lifespan and replace the pools the server's event loop is using.
    files = {}
    with httpx.Client(base_url=live_server, timeout=30) as http:
        for i in range(3):
            clock.now += timedelta(seconds=1)
            item, _, data = local_item(http, db, settings, world["editor"], world.project_a1,
                                       name=f"  Scene {i}  ")
            files[item["id"]] = data
    code = (WORKED_EXAMPLE
            .replace('Geopera(api_key="gpra_your_api_key")',
                     f'Geopera(api_key="{world["editor"].key}", base_url="{live_server}")')
            .replace('"8f2c1e4a-..."', f'"{world.project_a1}"'))
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "worked_example", "exec"), scope)
    printed = out.getvalue()
    assert "May 2026 aerial survey now holds 3 items" in printed
    m = re.search(r"^download: (\S+) expires in 900 s$", printed, re.M)
    assert m, printed
    assert m.group(1).startswith(live_server + "/download/")
    first_id = scope["first"]["id"]
    assert scope["first"]["name"] == "Scene 2"  # newest first, name stripped by step 2
    got = httpx.get(m.group(1))
    assert got.status_code == 200
    assert got.content == files[first_id]
    assert got.headers["content-length"] == str(len(files[first_id]))
