"""Concurrent items.create in one collection, each outside the datetime range its partition
covers so far, all succeed: pgstac's check_partition widens the partition's `_items_N_dt`
constraint one transaction at a time (pgstac/partitions.py lock_for_write)."""

from __future__ import annotations

import threading
import time

import httpx
import psycopg
from psycopg import sql

from conftest import create_collection, item_params, ok, op
from geopera_stac_ext.core.settings import dsn_from_env

ROUNDS = 3
WRITERS = 4


def _year(rnd: int, k: int) -> int:
    """Each round's years lie outside every earlier round's: half below, half above."""
    return 1990 - WRITERS * rnd - k if k % 2 else 2030 + WRITERS * rnd + k


def _waiting(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'").fetchone()[0]


def test_concurrent_creates_widening_one_partition_all_succeed(client, live_server, world,
                                                               db, db_env):
    owner, project = world["owner"], world.project_a1
    col = create_collection(client, owner, project, "Widening")["id"]
    ok(op(client, "items.create", owner, **item_params(project, "seed", collection_id=col)))
    partition = db(lambda c: c.fetchval(
        "SELECT partition FROM pgstac.partition_stats WHERE collection = $1", col))
    failures: list[str] = []
    made: list[str] = []

    def create(rnd: int, k: int) -> None:
        body = item_params(project, f"r{rnd}-{k}", collection_id=col,
                           datetime=f"{_year(rnd, k)}-06-07T08:09:10Z")
        r = httpx.post(f"{live_server}/v1/op/items.create", json=body, headers=owner.headers,
                       timeout=60)
        if r.status_code == 200:
            made.append(r.json()["item"]["id"])
        else:
            failures.append(f"{r.status_code} {r.text[:300]}")

    for rnd in range(ROUNDS):
        with psycopg.connect(dsn_from_env(db_env)) as holder, \
                psycopg.connect(dsn_from_env(db_env), autocommit=True) as watcher:
            # NOTE: hold the partition so all writers are in flight at once: before the fix
            # each read the constraint, then queued to replace it with its own union, which
            # missed the first writer's row: pgstac swallowed the failed VALIDATE and left the
            # partition without a constraint, and a later writer still holding the old range
            # re-added a narrower one that failed inserts (`_items_N_dt`, 400/500, seen ~1 in
            # 60 concurrent out-of-range creates).
            holder.execute(sql.SQL("LOCK TABLE pgstac.{} IN ACCESS EXCLUSIVE MODE").format(
                sql.Identifier(partition)))
            threads = [threading.Thread(target=create, args=(rnd, k)) for k in range(WRITERS)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while _waiting(watcher) < WRITERS and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _waiting(watcher) == WRITERS  # every writer waits on a lock
            holder.rollback()
            for t in threads:
                t.join(120)
    assert not failures, failures[:5]
    assert len(made) == ROUNDS * WRITERS
    listed = ok(op(client, "items.list", owner, project_id=project, collection_id=col, limit=1))
    assert listed["total"] == ROUNDS * WRITERS + 1
    assert db(lambda c: c.fetchval("SELECT count(*) FROM pgstac.items WHERE collection = $1",
                                   col)) == ROUNDS * WRITERS + 1
    # the partition keeps a valid datetime constraint, and it holds every row
    kept = db(lambda c: c.fetchrow(
        """
        SELECT (SELECT convalidated FROM pg_constraint
                WHERE conrelid = to_regclass('pgstac.' || quote_ident($1)) AND conname = $1 || '_dt')
                AS valid,
               m.constraint_dtrange @> (SELECT tstzrange(min(datetime), max(datetime), '[]')
                                        FROM pgstac.items WHERE collection = $2) AS holds
        FROM pgstac.partition_catalog_meta($1) m
        """, partition, col))
    assert (kept["valid"], kept["holds"]) == (True, True)
