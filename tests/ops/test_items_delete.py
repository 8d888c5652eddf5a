"""items.delete: soft delete, absence from every read, the storage-ledger rule, concurrency."""

import threading
import time

import httpx
import psycopg
import pytest

from conftest import create_collection, create_item, item_params, ok, op, problem
from geopera_stac_ext.core.settings import dsn_from_env


def _ledger(db):
    async def q(conn):
        return await conn.fetch("SELECT item_id, asset_id, delta_bytes, reason"
                                " FROM geopera.storage_ledger ORDER BY id")
    return [(str(r["item_id"]), r["delta_bytes"], r["reason"]) for r in db(q)]


TWO_FILES = [
    {"key": "data", "href": "s3://bucket/a.tif", "file_size_bytes": 1000, "roles": ["data"]},
    {"key": "thumbnail", "href": "s3://bucket/a.png", "file_size_bytes": 50},
]


def test_delete_is_soft_and_second_delete_is_404(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    assert ok(op(client, "items.delete", owner, item_id=item["id"])) == {"ok": True,
                                                                          "id": item["id"]}
    body = problem(op(client, "items.delete", owner, item_id=item["id"]), 404)
    assert item["id"] in body["detail"]

    async def q(conn):
        return await conn.fetchrow("SELECT deleted_at, lifecycle_state FROM geopera.items"
                                   " WHERE id = $1", item["id"])
    row = db(q)
    assert row["deleted_at"] is not None and row["lifecycle_state"] == "deleted"


def test_deleted_item_is_absent_from_every_read(client, world):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    keep = create_item(client, owner, world.project_a1, name="keep", collection_id=col["id"])
    gone = create_item(client, owner, world.project_a1, name="gone", collection_id=col["id"])
    ok(op(client, "items.delete", owner, item_id=gone["id"]))
    problem(op(client, "items.get", owner, item_id=gone["id"]), 404)
    problem(op(client, "items.get_stac", owner, item_id=gone["id"]), 404)
    problem(op(client, "items.list_assets", owner, item_id=gone["id"]), 404)
    problem(op(client, "items.lineage", owner, item_id=gone["id"]), 404)
    problem(op(client, "items.update", owner, item_id=gone["id"], name="x"), 404)
    problem(op(client, "items.duplicate", owner, item_id=gone["id"]), 404)
    page = ok(op(client, "items.list", owner, project_id=world.project_a1))
    assert [i["id"] for i in page["items"]] == [keep["id"]] and page["total"] == 1
    page = ok(op(client, "items.list_by_collection", owner, collection_id=col["id"]))
    assert [i["id"] for i in page["items"]] == [keep["id"]] and page["total"] == 1
    got = ok(op(client, "collections.get", owner, project_id=world.project_a1,
                collection_id=col["id"]))
    assert got["item_count"] == 1
    if "items.search" in {o["id"] for o in client.get("/v1/op").json()["operations"]}:
        fc = ok(op(client, "items.search", owner, project_id=world.project_a1))
        assert gone["id"] not in {f["id"] for f in fc["features"]}


def test_delete_writes_one_debit_per_asset(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1, assets=TWO_FILES)
    assert sorted(d for _, d, _ in _ledger(db)) == [50, 1000]
    ok(op(client, "items.delete", owner, item_id=item["id"]))
    ledger = _ledger(db)
    debits = sorted(d for _, d, r in ledger if r == "item_deleted")
    assert debits == [-1000, -50]
    assert sum(d for _, d, _ in ledger) == 0


def test_duplicates_share_files_in_the_ledger(client, world, db):
    owner = world["owner"]
    src = create_item(client, owner, world.project_a1, assets=TWO_FILES)
    copy = ok(op(client, "items.duplicate", owner, item_id=src["id"]))["item"]
    copy2 = ok(op(client, "items.duplicate", owner, item_id=copy["id"]))["item"]
    assert sum(d for _, d, _ in _ledger(db)) == 1050  # copies add no bytes
    # deleting the original while copies still point at the files: no debit
    ok(op(client, "items.delete", owner, item_id=src["id"]))
    assert sum(d for _, d, _ in _ledger(db)) == 1050
    ok(op(client, "items.delete", owner, item_id=copy2["id"]))
    assert sum(d for _, d, _ in _ledger(db)) == 1050
    # the last reference goes: each file is debited exactly once
    ok(op(client, "items.delete", owner, item_id=copy["id"]))
    ledger = _ledger(db)
    assert sum(d for _, d, _ in ledger) == 0
    assert sorted(d for i, d, _ in ledger if d < 0) == [-1000, -50]
    assert {i for i, d, _ in ledger if d < 0} == {copy["id"]}


@pytest.mark.parametrize("actor,status", [("viewer", 403), ("readonly", 403), ("loner", 403),
                                          ("outsider", 403), ("editor", 200), ("admin", 200),
                                          ("owner", 200), ("org_owner", 200)])
def test_delete_roles(client, world, actor, status):
    item = create_item(client, world["owner"], world.project_a1)
    resp = op(client, "items.delete", world[actor], item_id=item["id"])
    if status == 200:
        assert ok(resp)["ok"] is True
    else:
        problem(resp, status)
        ok(op(client, "items.get", world["owner"], item_id=item["id"]))


def test_delete_is_audited_once(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    ok(op(client, "items.delete", owner, item_id=item["id"]))
    problem(op(client, "items.delete", owner, item_id=item["id"]), 404)

    async def q(conn):
        return await conn.fetch("SELECT principal_id, target_ids FROM geopera.audit_log"
                                " WHERE operation = 'items.delete'")
    rows = db(q)
    assert len(rows) == 1 and str(rows[0]["principal_id"]) == owner.user_id


# ---------------------------------------------------------------- concurrency (real server)

def _post(base, actor, op_id, **params):
    return httpx.post(f"{base}/v1/op/{op_id}", json=params, headers=actor.headers, timeout=30)


def _wait_for_lock_waiters(conn, n, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'").fetchone()[0]
        if waiting >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"expected {n} requests blocked on locks")


def _in_threads(*calls):
    results = [None] * len(calls)

    def run(i, fn):
        results[i] = fn()
    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    return threads, results


def test_two_concurrent_deletes_one_200_one_404(live_server, world, db_env):
    owner = world["owner"]
    item = _post(live_server, owner, "items.create", **item_params(world.project_a1)).json()
    item_id = item["item"]["id"]
    with psycopg.connect(dsn_from_env(db_env)) as holder, \
            psycopg.connect(dsn_from_env(db_env), autocommit=True) as watcher:
        # NOTE: hold the item's row lock so both deletes are in flight at the same time.
        holder.execute("SELECT 1 FROM geopera.items WHERE id = %s FOR UPDATE", (item_id,))
        threads, results = _in_threads(
            lambda: _post(live_server, owner, "items.delete", item_id=item_id),
            lambda: _post(live_server, owner, "items.delete", item_id=item_id))
        _wait_for_lock_waiters(watcher, 2)
        holder.rollback()
        for t in threads:
            t.join(30)
        ledger = watcher.execute("SELECT count(*) FROM geopera.storage_ledger"
                                 " WHERE reason = 'item_deleted'").fetchone()[0]
    assert sorted(r.status_code for r in results) == [200, 404]
    assert ledger == 1  # one debit, not two
