"""pgstac creates partitions one transaction at a time here: concurrent first items and
concurrent bulk loads that each create collections all succeed (pgstac/partitions.py)."""

import json
import subprocess
import sys
import threading
import time

import httpx
import psycopg

from conftest import create_collection, item_params
from geopera_stac_ext.pgstac.partitions import PARTITION_LOCK
from geopera_stac_ext.core.settings import dsn_from_env
from test_loader import GEN, _load


def _post(base, actor, op_id, **params):
    return httpx.post(f"{base}/v1/op/{op_id}", json=params, headers=actor.headers, timeout=60)


def _advisory_waiters(conn):
    return conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND objid = %s", (PARTITION_LOCK,)).fetchone()[0]


def test_first_items_of_new_collections_at_once_all_succeed(client, live_server, world, db_env):
    owner = world["owner"]
    n = 6
    cols = [create_collection(client, owner, world.project_a1, f"Fresh {i}") for i in range(n)]
    results = [None] * n

    def create(i):
        results[i] = _post(live_server, owner, "items.create", **item_params(
            world.project_a1, f"First {i}", collection_id=cols[i]["id"]))

    with psycopg.connect(dsn_from_env(db_env), autocommit=True) as holder:
        # NOTE: hold the partition lock so all six first items are in flight together, the
        # situation in which pgstac deadlocked creating their partitions.
        holder.execute("SELECT pg_advisory_lock(%s)", (PARTITION_LOCK,))
        threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while _advisory_waiters(holder) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _advisory_waiters(holder) == n  # each first item waits for the lock
        holder.execute("SELECT pg_advisory_unlock(%s)", (PARTITION_LOCK,))
        for t in threads:
            t.join(60)
        partitions = holder.execute(
            "SELECT count(*) FROM pgstac.partition_stats WHERE collection = ANY(%s)",
            ([c["id"] for c in cols],)).fetchone()[0]
    assert [r.status_code for r in results] == [200] * n, [r.text for r in results]
    assert partitions == n
    # a later item of a collection that has its partition does not wait for the lock
    with psycopg.connect(dsn_from_env(db_env), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (PARTITION_LOCK,))
        second = _post(live_server, owner, "items.create", **item_params(
            world.project_a1, "Second", collection_id=cols[0]["id"]))
        holder.execute("SELECT pg_advisory_unlock(%s)", (PARTITION_LOCK,))
    assert second.status_code == 200, second.text


def test_two_loads_creating_collections_at_once_both_succeed(client, world, db_env, tmp_path,
                                                            db):
    runs = {}
    srcs = {}
    for seed, project in enumerate((world.project_a1, world.project_a2), 1):
        srcs[project] = tmp_path / f"{seed}.ndjson"
        subprocess.run([sys.executable, str(GEN), "--items", "60", "--collections", "5",
                        "--seed", str(seed), "--out-items", str(srcs[project]),
                        "--out-collections", str(tmp_path / f"{seed}-cols.ndjson")], check=True)

    def load(project):
        runs[project] = _load(db_env, tmp_path, srcs[project], "--project", project,
                              "--batch-size", 12)

    threads = [threading.Thread(target=load, args=(p,)) for p in srcs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for run in runs.values():
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        assert (summary["loaded"], summary["collections_created"]) == (60, 5)

    async def count(conn):
        return await conn.fetchval("SELECT count(*) FROM geopera.items i JOIN pgstac.items p"
                                   " ON p.id = i.id::text AND p.collection = i.pgstac_collection")
    assert db(count) == 120
