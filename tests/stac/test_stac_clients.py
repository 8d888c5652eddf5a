"""Acceptance: pystac-client and stac-api-validator against a seeded live server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import ok
from pystac_client import Client
from seed import T0, grid, seed_items

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "tests" / "schemas"


def _collection(url: str, actor, project_id: str, name: str) -> dict:
    # NOTE: only the live server runs the app here (a TestClient would start a second lifespan).
    return ok(httpx.post(f"{url}/v1/op/collections.create", headers=actor.headers,
                         json={"project_id": project_id, "name": name}))


def _seed(url, db, world, n_a1: int) -> tuple[dict, list, list]:
    col = _collection(url, world["editor"], world.project_a1, "Big survey")
    theirs = _collection(url, world["outsider"], world.project_b1, "Theirs")

    async def go(conn):
        mine = await seed_items(conn, world.project_a1, grid(n_a1), collection_id=col["id"])
        gone = await seed_items(conn, world.project_a1, grid(5, deleted=True),
                                collection_id=col["id"])
        foreign = await seed_items(conn, world.project_b1, grid(30), collection_id=theirs["id"])
        return mine, gone + foreign

    mine, hidden = db(go)
    return col, mine, hidden


def test_pystac_client_lists_searches_and_pages_beyond_1000(db, world, live_server):
    col, mine, hidden = _seed(live_server, db, world, 1205)
    cat = Client.open(live_server, headers={"Authorization": f"Bearer {world['viewer'].key}"})
    assert [c.id for c in cat.get_collections()] == [col["id"]]

    search = cat.search(collections=[col["id"]], limit=500)
    got = [it.id for it in search.items()]
    assert search.matched() == 1205
    assert len(got) == len(set(got)) == 1205
    assert set(got) == {m["id"] for m in mine}
    assert not set(got) & {h["id"] for h in hidden}

    # bbox + datetime + CQL2 filter, compared with the same filter applied in Python
    bbox = [149.0, -35.5, 149.2, -35.3]
    start, end = T0.isoformat(), (T0.replace(day=20)).isoformat()
    search = cat.search(bbox=bbox, datetime=f"{start}/{end}",
                        filter="eo:cloud_cover < 30 AND gsd = 0.5", filter_lang="cql2-text",
                        limit=100, method="GET")
    items = list(search.items())
    expected = {m["id"] for m in mine
                if 149.0 <= m["lon"] <= 149.2 and -35.5 <= m["lat"] <= -35.3
                and T0 <= m["datetime"] <= T0.replace(day=20) and m["cloud_cover"] < 30}
    assert {i.id for i in items} == expected and search.matched() == len(expected) > 0
    # the same filter as CQL2 JSON over POST
    cql2_json = {"op": "and", "args": [
        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]},
        {"op": "=", "args": [{"property": "gsd"}, 0.5]}]}
    search = cat.search(bbox=bbox, datetime=f"{start}/{end}", filter=cql2_json, method="POST")
    assert {i.id for i in search.items()} == expected

    # a POST search paged by pystac-client: the next body is ours, never a guard or `conf`
    pages = list(cat.search(collections=[col["id"]], limit=1000, method="POST").pages_as_dicts())
    assert [len(p["features"]) for p in pages] == [1000, 205]
    nxt = next(link for link in pages[0]["links"] if link["rel"] == "next")
    assert set(nxt["body"]) == {"collections", "limit", "token"}
    assert nxt["body"]["token"].startswith("k1.")  # a signed keyset token (search/paging.py)


def test_stac_api_validator_reports_no_errors(db, world, live_server):
    col, _, _ = _seed(live_server, db, world, 30)
    env = {**os.environ, "PYTHONPATH": f"{SCHEMAS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    exe = Path(sys.executable).parent / "stac-api-validator"
    cmd = [str(exe), "--root-url", live_server,
           "--conformance", "core", "--conformance", "collections",
           "--conformance", "features", "--conformance", "item-search",
           "--conformance", "filter",
           "--collection", col["id"],
           "--geometry", '{"type": "Polygon", "coordinates": [[[148, -36], [151, -36], '
                         '[151, -34], [148, -34], [148, -36]]]}',
           "--auth-bearer-token", world["viewer"].key,
           # NOTE: the validator's closing pystac walk sends --headers, not the bearer token.
           "--headers", f"Authorization:Bearer {world['viewer'].key}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "Errors: none" in out, out[-4000:]
