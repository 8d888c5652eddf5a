"""A write op the database aborts to break a deadlock is run again, whole, and succeeds."""

import threading
import time

import httpx
import psycopg

from conftest import create_collection, create_item
from geopera_stac_ext.core.settings import dsn_from_env

ATTEMPTS = 4


def _waiting_on_locks(conn):
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'").fetchone()[0]


def _deadlock(db_env, live_server, owner, item, target) -> httpx.Response | None:
    """Make items.update (moving `item` to `target`) one side of a deadlock.

    Returns the op's answer when the database aborted the op's side (the holder's statement
    went through), None when it aborted the holder's side instead.
    """
    result = {}

    def move():
        result["r"] = httpx.post(f"{live_server}/v1/op/items.update", headers=owner.headers,
                                 json={"item_id": item["id"], "collection_id": target["id"]},
                                 timeout=60)

    with psycopg.connect(dsn_from_env(db_env)) as holder, \
            psycopg.connect(dsn_from_env(db_env), autocommit=True) as watcher:
        # NOTE: the opposite lock order to items.update's (target collection, then the item):
        # the holder takes the item, the op takes the collection and waits for the item, then
        # the holder asks for the collection.
        holder.execute("SELECT 1 FROM geopera.items WHERE id = %s FOR UPDATE", (item["id"],))
        thread = threading.Thread(target=move)
        thread.start()
        deadline = time.monotonic() + 20
        while _waiting_on_locks(watcher) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _waiting_on_locks(watcher) == 1
        try:
            holder.execute("SELECT 1 FROM geopera.collections WHERE id = %s FOR UPDATE",
                           (target["id"],))  # returns once the server aborted the op's attempt
            aborted_holder = False
        except psycopg.errors.DeadlockDetected:
            # NOTE: PostgreSQL checks for a cycle once, deadlock_timeout (1 s) after a backend
            # starts waiting: the op's check ran before the holder's request closed the cycle
            # (a busy machine can take that long between two statements), so the holder's own
            # check found it and aborted the holder. The op then simply went through.
            aborted_holder = True
        holder.rollback()
        thread.join(60)
    return None if aborted_holder else result["r"]


def test_items_update_aborted_by_a_deadlock_is_retried(client, live_server, world, db_env):
    owner = world["owner"]
    for attempt in range(ATTEMPTS):
        target = create_collection(client, owner, world.project_a1, f"Target {attempt}")
        item = create_item(client, owner, world.project_a1, name=f"Scene {attempt}")
        r = _deadlock(db_env, live_server, owner, item, target)
        if r is not None:
            break
    else:
        raise AssertionError(f"the op was never the deadlock victim in {ATTEMPTS} tries")
    with psycopg.connect(dsn_from_env(db_env), autocommit=True) as c:
        aborted = c.execute("SELECT deadlocks FROM pg_stat_database"
                            " WHERE datname = current_database()").fetchone()[0]
    assert aborted >= 1  # a deadlock really happened
    assert r.status_code == 200, r.text  # ... and the op's second attempt went through
    got = client.post("/v1/op/items.get", headers=owner.headers, json={"item_id": item["id"]})
    assert got.json()["item"]["collection_id"] == target["id"]
