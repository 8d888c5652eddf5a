"""The lifecycle job: each transition at its boundary, catch-up, batches, idempotence, overlap."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
from conftest import create_item, ok, op, problem

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.storage import buckets
from geopera_stac_ext.lifecycle.job import JOB_LOCK_KEY, run_lifecycle
from geopera_stac_ext.core.settings import dsn_from_env

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def run(db, settings, now, **kw: Any) -> dict[str, Any]:
    return db(lambda c: run_lifecycle(c, settings, now, **kw))


def state(db, item_id: str) -> Any:
    return db(lambda c: c.fetchrow(
        "SELECT lifecycle_state, expires_at, deleted_at FROM geopera.items WHERE id = $1",
        item_id))


def storage(db, org_id: str) -> int:
    return db(lambda c: c.fetchval(
        "SELECT coalesce(sum(delta_bytes), 0) FROM geopera.storage_ledger WHERE org_id = $1",
        org_id))


def test_free_item_walks_every_transition_exactly_at_its_boundary(
        client, db, settings, clock, world):
    t0 = clock.now
    item = create_item(client, world["editor"], world.project_a1)
    warn = settings.free_retention_days - settings.expiry_warning_days
    assert state(db, item["id"])["expires_at"] == t0 + warn * DAY
    assert item["expires_at"].startswith((t0 + warn * DAY).strftime("%Y-%m-%dT%H:%M:%S"))
    assert storage(db, world.org_a) == 1000

    assert run(db, settings, t0 + warn * DAY - SECOND)["items"] == 0
    assert state(db, item["id"])["lifecycle_state"] == "active"
    summary = run(db, settings, t0 + warn * DAY)
    assert summary["transitions"] == {"active->expiring": 1}
    row = state(db, item["id"])
    assert row["lifecycle_state"] == "expiring"
    assert row["expires_at"] == t0 + settings.free_retention_days * DAY

    expired_at = t0 + settings.free_retention_days * DAY
    assert run(db, settings, expired_at - SECOND)["items"] == 0
    assert run(db, settings, expired_at)["transitions"] == {"expiring->expired": 1}
    row = state(db, item["id"])
    assert row["lifecycle_state"] == "expired"
    assert row["expires_at"] == expired_at + settings.expired_grace_days * DAY
    assert row["deleted_at"] is None
    # expired items stay readable (rows and files kept); only downloads stop
    assert ok(op(client, "items.get", world["viewer"], item_id=item["id"]))[
        "item"]["lifecycle_state"] == "expired"
    assert storage(db, world.org_a) == 1000

    gone_at = expired_at + settings.expired_grace_days * DAY
    assert run(db, settings, gone_at - SECOND)["items"] == 0
    assert run(db, settings, gone_at)["transitions"] == {"expired->deleted": 1}
    row = state(db, item["id"])
    assert (row["lifecycle_state"], row["expires_at"], row["deleted_at"]) == (
        "deleted", None, gone_at)
    problem(op(client, "items.get", world["viewer"], item_id=item["id"]), 404)
    assert storage(db, world.org_a) == 0
    reasons = db(lambda c: c.fetch(
        "SELECT reason, delta_bytes FROM geopera.storage_ledger ORDER BY id"))
    assert [(r["reason"], r["delta_bytes"]) for r in reasons] == [
        ("asset_created", 1000), ("lifecycle_deleted", -1000)]
    events = db(lambda c: c.fetch(
        "SELECT from_state, to_state FROM geopera.lifecycle_events ORDER BY id"))
    assert [(e["from_state"], e["to_state"]) for e in events] == [
        ("active", "expiring"), ("expiring", "expired"), ("expired", "deleted")]
    # the row is kept
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.items")) == 1


def test_paid_item_is_archived_at_its_boundary_and_stays(client, db, settings, clock, world):
    db(lambda c: tenancy.set_plan(c, world.org_a, "paid"))
    t0 = clock.now
    item = create_item(client, world["editor"], world.project_a1)
    due = t0 + settings.paid_archive_after_days * DAY
    assert state(db, item["id"])["expires_at"] == due
    assert run(db, settings, due - SECOND)["items"] == 0
    assert run(db, settings, due)["transitions"] == {"active->archived": 1}
    row = state(db, item["id"])
    assert (row["lifecycle_state"], row["expires_at"], row["deleted_at"]) == (
        "archived", None, None)
    assert run(db, settings, due + 3650 * DAY)["items"] == 0
    assert state(db, item["id"])["lifecycle_state"] == "archived"


def test_a_late_run_catches_up_and_a_second_run_at_the_same_now_changes_nothing(
        client, db, settings, clock, world):
    ids = [create_item(client, world["editor"], world.project_a1)["id"] for _ in range(2)]
    late = clock.now + 365 * DAY
    first = run(db, settings, late)
    assert first["transitions"] == {"active->expiring": 2, "expiring->expired": 2,
                                    "expired->deleted": 2}
    assert {state(db, i)["lifecycle_state"] for i in ids} == {"deleted"}
    before = db(lambda c: c.fetchval("SELECT count(*) FROM geopera.lifecycle_events"))
    ledger_before = db(lambda c: c.fetchval("SELECT count(*) FROM geopera.storage_ledger"))
    second = run(db, settings, late)
    assert second["ran"] is True and second["items"] == 0 and second["transitions"] == {}
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.lifecycle_events")) == before
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.storage_ledger")) == (
        ledger_before)


def test_runs_in_batches_until_nothing_is_due(client, db, settings, clock, world):
    ids = [create_item(client, world["editor"], world.project_a1, name=f"S{i}")["id"]
           for i in range(7)]
    summary = run(db, settings, clock.now + 24 * DAY, batch_size=3)
    assert summary["batches"] == 3 and summary["items"] == 7
    assert summary["transitions"] == {"active->expiring": 7}
    assert {state(db, i)["lifecycle_state"] for i in ids} == {"expiring"}


def test_item_without_organization_follows_the_free_plan(client, db, settings, clock, world):
    async def orgless(conn: Any) -> str:
        project = await tenancy.create_project(conn, "Solo")
        await buckets.allow_bucket(conn, None, project["id"], "s3://bucket/")
        await tenancy.grant(conn, world["editor"].user_id, "editor", project_id=project["id"])
        return project["id"]

    pid = db(orgless)
    item = create_item(client, world["editor"], pid)
    summary = run(db, settings, clock.now + 100 * DAY)
    assert summary["transitions"]["expired->deleted"] == 1
    assert state(db, item["id"])["lifecycle_state"] == "deleted"


def test_a_run_while_another_holds_the_lock_does_nothing(client, db, db_env, settings, clock,
                                                         world):
    item = create_item(client, world["editor"], world.project_a1)

    async def overlapped(conn: Any) -> dict[str, Any]:
        holder = await asyncpg.connect(dsn_from_env(db_env))
        try:
            assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", JOB_LOCK_KEY)
            return await run_lifecycle(conn, settings, clock.now + 24 * DAY)
        finally:
            await holder.close()

    skipped = db(overlapped)
    assert skipped["ran"] is False and "in progress" in skipped["reason"]
    assert state(db, item["id"])["lifecycle_state"] == "active"
    assert run(db, settings, clock.now + 24 * DAY)["transitions"] == {"active->expiring": 1}


def test_concurrent_runs_advance_each_item_exactly_once(client, db, db_env, settings, clock,
                                                        world):
    ids = [create_item(client, world["editor"], world.project_a1, name=f"S{i}")["id"]
           for i in range(12)]
    now = clock.now + 100 * DAY

    async def race(_: Any) -> list[dict[str, Any]]:
        conns = [await asyncpg.connect(dsn_from_env(db_env)) for _ in range(4)]
        try:
            return await asyncio.gather(*(run_lifecycle(c, settings, now, batch_size=2)
                                          for c in conns))
        finally:
            for c in conns:
                await c.close()

    results = db(race)
    total: dict[str, int] = {}
    for r in results:
        for k, v in r["transitions"].items():
            total[k] = total.get(k, 0) + v
    assert total == {"active->expiring": 12, "expiring->expired": 12, "expired->deleted": 12}
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.lifecycle_events")) == 36
    assert {state(db, i)["lifecycle_state"] for i in ids} == {"deleted"}
    debits = db(lambda c: c.fetchval(
        "SELECT count(*) FROM geopera.storage_ledger WHERE delta_bytes < 0"))
    assert debits == 12 and storage(db, world.org_a) == 0


def test_clients_cannot_drive_the_lifecycle(client, db, settings, clock, world):
    item = create_item(client, world["editor"], world.project_a1)
    ops = ok(client.get("/v1/op"))["operations"]
    assert not [o["id"] for o in ops if "lifecycle" in o["id"]]
    clock.now += 30 * DAY
    run(db, settings, clock.now)
    assert state(db, item["id"])["lifecycle_state"] == "expired"
    resp = op(client, "items.update", world["owner"], item_id=item["id"],
              lifecycle_state="active")
    assert resp.status_code in (400, 403), resp.text
    assert state(db, item["id"])["lifecycle_state"] == "expired"
