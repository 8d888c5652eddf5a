"""One organization's collection create/delete loop never fails another organization's reads
(searches lock every pgstac partition; deletes drop one: the lock order must not deadlock)."""

from __future__ import annotations

import threading

import httpx
import psycopg

from conftest import create_collection, create_item, ok, op, run_while_serving
from geopera_stac_ext.app import create_app
from geopera_stac_ext.core.settings import dsn_from_env

LOOP_SECONDS = 15


def _deadlocks(db_env) -> int:
    with psycopg.connect(dsn_from_env(db_env), autocommit=True) as c:
        return c.execute("SELECT deadlocks FROM pg_stat_database"
                         " WHERE datname = current_database()").fetchone()[0]


def test_collection_deletes_never_fail_other_tenants_searches(client, settings, world,
                                                              db_env, db):
    deleter, reader = world["org_owner"], world["outsider"]
    col_b = create_collection(client, reader, world.project_b1, "B survey")
    for i in range(5):
        create_item(client, reader, world.project_b1, collection_id=col_b["id"], name=f"b{i}")
    stop = threading.Event()
    cycles: list[int] = []
    failures: list[str] = []
    reads: list[int] = []
    before = _deadlocks(db_env)
    settings.search_concurrency_per_user = 10  # NOTE: six readers of one user, not a flood

    def churn(project: str, live_server: str) -> None:
        with httpx.Client(base_url=live_server, headers=deleter.headers, timeout=60) as c:
            while not stop.is_set():
                col = c.post("/v1/op/collections.create",
                              json={"project_id": project, "name": "tmp"})
                if col.status_code != 200:
                    failures.append(f"create {col.status_code} {col.text[:200]}")
                    continue
                cid = col.json()["id"]
                it = c.post("/v1/op/items.create", json={
                    "project_id": project, "collection_id": cid, "name": "x",
                    "bbox": [149, -35, 149.1, -34.9],
                    "assets": [{"key": "data", "href": "s3://bucket/x.tif"}]})
                gone = c.post("/v1/op/collections.delete",
                              json={"project_id": project, "collection_id": cid})
                if it.status_code != 200 or gone.status_code != 200:
                    failures.append(f"A {it.status_code}/{gone.status_code} {gone.text[:200]}")
                cycles.append(1)

    def search(kind: int, live_server: str) -> None:
        with httpx.Client(base_url=live_server, headers=reader.headers, timeout=60) as c:
            while not stop.is_set():
                if kind == 0:
                    r = c.post("/search", json={"limit": 3})
                elif kind == 1:
                    r = c.get(f"/collections/{col_b['id']}/items", params={"limit": 2})
                else:
                    r = c.post("/v1/op/items.search_org", json={"limit": 3})
                if r.status_code != 200 or r.json()["numberMatched"] != 5:
                    failures.append(f"B {kind}: {r.status_code} {r.text[:200]}")
                reads.append(1)

    # NOTE: measured on main before the fix: 4 deadlocks in 15 s with two loops and six readers.
    # NOTE: one loop per project: two deletes moving rows into the same inbox partition at
    # once is the same-project case, tests/security/test_same_project_churn.py.
    loops = [lambda url, p=p: churn(p, url) for p in (world.project_a1, world.project_a2)] + [
        lambda url, k=k: search(k % 3, url) for k in range(6)]
    run_while_serving(create_app(settings, pg_env=db_env), loops, LOOP_SECONDS, stop,
                      join_timeout=60)
    assert not failures, failures[:5]
    assert len(cycles) >= 5 and len(reads) >= 50, (len(cycles), len(reads))
    assert _deadlocks(db_env) == before
    assert ok(op(client, "collections.list", deleter, project_id=world.project_a1)) == []
    assert db(lambda c: c.fetchval(
        "SELECT count(*) FROM geopera.collections g JOIN pgstac.collections p"
        " ON p.id = g.id::text WHERE g.deleted_at IS NOT NULL")) == 0
