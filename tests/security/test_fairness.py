"""One tenant's heavy searches cannot stall another's reads: geometry limits, a per-user search
cap (429 + Retry-After, across processes), and a bounded wait for a pooled connection (503)."""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from conftest import _free_port, create_item, ok, op, problem, serving
from geopera_stac_ext.app import create_app
from geopera_stac_ext.search.gate import SLOT_NAMESPACE
from geopera_stac_ext.core.settings import dsn_from_env


def ring(n: int, lon: float = 149.1, lat: float = -35.3, r: float = 0.5) -> dict[str, Any]:
    """A closed polygon of n vertices (n - 1 distinct)."""
    pts = [[lon + r * math.cos(2 * math.pi * i / (n - 1)),
            lat + r * math.sin(2 * math.pi * i / (n - 1))] for i in range(n - 1)]
    return {"type": "Polygon", "coordinates": [pts + [pts[0]]]}


def test_request_geometries_over_the_limits_are_400_naming_them(client, world):
    owner = world["owner"]
    big = ring(20_000)
    for resp in (
        op(client, "items.search", owner, project_id=world.project_a1, intersects=big),
        op(client, "items.search", owner, project_id=world.project_a1,
           filter={"op": "s_intersects", "args": [{"property": "geometry"}, big]}),
        client.post("/search", json={"intersects": big}, headers=owner.headers),
        op(client, "items.create", owner, project_id=world.project_a1, name="Big",
           geometry=big, assets=[{"key": "data", "href": "s3://bucket/x.tif"}]),
    ):
        body = problem(resp, 400)
        assert "10000 vertices" in body["detail"], body["detail"]
        assert "GEOPERA_MAX_GEOMETRY_VERTICES" in body["detail"]
    item = create_item(client, owner, world.project_a1)
    body = problem(op(client, "items.update", owner, item_id=item["id"], geometry=big), 400)
    assert "geometry" in body["detail"] and "vertices" in body["detail"]
    # within the limit: accepted
    ok(op(client, "items.search", owner, project_id=world.project_a1, intersects=ring(5_000)))


def test_geometry_byte_limit_names_it(settings, db_env, world):
    settings.max_geometry_bytes = 4096
    with serving(create_app(settings, pg_env=db_env)) as url:
        resp = httpx.post(f"{url}/search", json={"intersects": ring(400)},
                          headers=world["owner"].headers)
    body = problem(resp, 400)
    assert "4096" in body["detail"] and "GEOPERA_MAX_GEOMETRY_BYTES" in body["detail"]


def _hold_slots(conn: psycopg.Connection, user_id: str, n: int) -> None:
    """Take n of the user's search slots as another API process would."""
    for s in range(n):
        assert conn.execute("SELECT pg_try_advisory_lock(%s + %s, hashtext(%s))",
                            (SLOT_NAMESPACE, s, user_id)).fetchone()[0]


def test_search_cap_is_per_user_and_shared_across_processes(client, world, db_env, settings):
    outsider, owner = world["outsider"], world["owner"]
    create_item(client, outsider, world.project_b1)
    create_item(client, owner, world.project_a1)
    cap = settings.search_concurrency_per_user
    with psycopg.connect(dsn_from_env(db_env), autocommit=True) as other_replica:
        _hold_slots(other_replica, outsider.user_id, cap)
        for resp in (client.post("/search", json={}, headers=outsider.headers),
                     client.get("/search", headers=outsider.headers),
                     client.get(f"/collections/inbox-{world.project_b1}/items",
                                headers=outsider.headers),
                     op(client, "items.search_org", outsider),
                     op(client, "items.search", outsider, project_id=world.project_b1)):
            if resp.status_code == 404:  # the inbox collection is not listed (README)
                continue
            body = problem(resp, 429)
            assert resp.headers["retry-after"] == "1"
            assert f"at most {cap}" in body["detail"]
        # another user (another tenant) is not affected, nor are the capped user's point reads
        assert ok(client.post("/search", json={}, headers=owner.headers))["numberMatched"] == 1
        ok(op(client, "items.list", outsider, project_id=world.project_b1))
        other_replica.execute("SELECT pg_advisory_unlock_all()")
    assert ok(client.post("/search", json={}, headers=outsider.headers))["numberMatched"] == 1


@contextmanager
def server_process(db_env: dict[str, str], tmp_path: Path, **env: str) -> Iterator[str]:
    """`geopera-stac serve` in its own process (its own GIL: the load generator's threads
    would otherwise slow the server down) on the test database."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "geopera-stac"), "--log-level", "warning", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **db_env, "GEOPERA_HOME": str(tmp_path),
             "GEOPERA_SIGNING_SECRET": "test-signing-secret-" + "x" * 32, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/v1/op", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_flood_of_heavy_searches_gets_429_while_another_tenant_reads(db_env, world, client,
                                                                        tmp_path):
    """20 concurrent 10,000-vertex searches by org B; org A's items.get keeps succeeding."""
    flooder, reader = world["outsider"], world["owner"]
    for i in range(30):
        create_item(client, flooder, world.project_b1, name=f"b{i}")
    mine = create_item(client, reader, world.project_a1)
    # NOTE: serialised once, as a flooding client would.
    heavy = orjson.dumps({"intersects": ring(10_000), "limit": 100})
    statuses: list[int] = []
    details: list[str] = []
    reads: list[tuple[int, float]] = []
    stop = threading.Event()
    with server_process(db_env, tmp_path, GEOPERA_DB_POOL_MAX="6") as url:
        def flood() -> None:
            headers = {**flooder.headers, "content-type": "application/json"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
                while not stop.is_set():
                    r = c.post("/search", content=heavy)
                    statuses.append(r.status_code)
                    if r.status_code >= 500:
                        details.append(r.text[:300])

        def read() -> None:
            with httpx.Client(base_url=url, headers=reader.headers, timeout=60) as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    r = c.post("/v1/op/items.get", json={"item_id": mine["id"]})
                    reads.append((r.status_code, time.perf_counter() - t0))

        with cf.ThreadPoolExecutor(22) as pool:
            futures = [pool.submit(flood) for _ in range(20)] + [pool.submit(read)]
            time.sleep(10)
            stop.set()
            for f in futures:
                f.result()
    lat = sorted(t for _, t in reads)
    print(f"flood: {len(statuses)} {dict((s, statuses.count(s)) for s in set(statuses))}; "
          f"reads {len(reads)} p50 {lat[len(lat) // 2]:.3f} max {lat[-1]:.3f}; {details[:2]}")
    assert statuses and set(statuses) <= {200, 429}, (sorted(set(statuses)), details[:3])
    assert statuses.count(429) > 0 and statuses.count(200) > 0
    assert reads and all(s == 200 for s, _ in reads), {s for s, _ in reads}
    # NOTE: a regression guard, loose for a shared machine that also runs the load generator;
    # the figures (p99 < 1 s) are in benchmarks/fairness. Before the cap: 29 s; with the cap
    # but the bodies parsed on the event loop: 9 s.
    assert lat[len(lat) // 2] < 1.5 and lat[-1] < 10, (lat[len(lat) // 2], lat[-1])


def test_a_saturated_pool_answers_503_fast_with_retry_after(settings, db_env, world, client):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    settings.db_pool_max = 2
    settings.db_acquire_timeout_seconds = 0.5
    results: list[httpx.Response] = []
    with serving(create_app(settings, pg_env=db_env)) as url, \
            psycopg.connect(dsn_from_env(db_env)) as holder:
        # NOTE: the lock makes two reads hold both pooled connections while they wait.
        holder.execute("LOCK TABLE geopera.viz_profiles IN ACCESS EXCLUSIVE MODE")

        def get() -> None:
            results.append(httpx.post(f"{url}/v1/op/items.get", json={"item_id": item["id"]},
                                      headers=owner.headers, timeout=60))

        blocked = [threading.Thread(target=get) for _ in range(2)]
        for t in blocked:
            t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and holder.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] < 2:
            time.sleep(0.05)
        t0 = time.perf_counter()
        busy = httpx.post(f"{url}/v1/op/items.get", json={"item_id": item["id"]},
                          headers=owner.headers, timeout=60)
        elapsed = time.perf_counter() - t0
        holder.rollback()
        for t in blocked:
            t.join(30)
    body = problem(busy, 503)
    assert busy.headers["retry-after"] == "1" and "busy" in body["detail"]
    assert elapsed < 3, elapsed
    assert [r.status_code for r in results] == [200, 200]
