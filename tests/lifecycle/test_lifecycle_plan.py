"""Plan changes move items between timelines: upgrade restores expired items, deleted stay."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from conftest import create_item, ok, problem
from download_helpers import download, local_item
from test_lifecycle_job import DAY, run, state

from geopera_stac_ext.admin import tenancy


def test_upgrade_reactivates_expired_and_expiring_items_but_not_deleted(
        client, db, settings, clock, world):
    editor = world["editor"]
    t0 = clock.now
    gone = create_item(client, editor, world.project_a1, name="old")
    clock.now = t0 + 30 * DAY
    expired, asset_id, data = local_item(client, db, settings, editor, world.project_a1)
    other_org = create_item(client, world["outsider"], world.project_b1)
    clock.now = t0 + 30 * DAY + 7 * DAY
    expiring = create_item(client, editor, world.project_a1, name="newer")
    fresh = create_item(client, world["org_owner"], world.project_a2, name="fresh")
    clock.now = t0 + 60 * DAY
    run(db, settings, clock.now)
    assert state(db, gone["id"])["lifecycle_state"] == "deleted"
    assert state(db, expired["id"])["lifecycle_state"] == "expired"
    assert state(db, expiring["id"])["lifecycle_state"] == "expiring"
    assert state(db, fresh["id"])["lifecycle_state"] == "expiring"
    assert state(db, other_org["id"])["lifecycle_state"] == "expired"
    problem(download(client, world["viewer"], expired["id"], asset_id), 410)

    before = datetime.now(timezone.utc)
    result = db(lambda c: tenancy.set_plan(c, world.org_a, "paid"))
    assert result["previous_plan"] == "free" and result["reactivated_items"] == 3
    for item in (expired, expiring, fresh):
        row = state(db, item["id"])
        assert row["lifecycle_state"] == "active"
        due = before + timedelta(days=settings.paid_archive_after_days)
        assert abs((row["expires_at"] - due).total_seconds()) < 60
    assert state(db, gone["id"])["lifecycle_state"] == "deleted"
    assert state(db, other_org["id"])["lifecycle_state"] == "expired"
    body = ok(download(client, world["viewer"], expired["id"], asset_id))
    assert client.get(body["url"]).content == data
    events = db(lambda c: c.fetch(
        "SELECT from_state, reason FROM geopera.lifecycle_events WHERE item_id = $1"
        " ORDER BY id", expired["id"]))
    assert [(e["from_state"], e["reason"]) for e in events][-1] == ("expired",
                                                                    "plan:free->paid")
    # the same plan again changes nothing
    assert db(lambda c: tenancy.set_plan(c, world.org_a, "paid"))["reactivated_items"] == 0


def test_downgrade_puts_active_and_archived_items_on_the_free_timeline(
        client, db, settings, clock, world):
    db(lambda c: tenancy.set_plan(c, world.org_a, "paid"))
    old = create_item(client, world["editor"], world.project_a1)
    clock.now += 400 * DAY
    run(db, settings, clock.now)
    assert state(db, old["id"])["lifecycle_state"] == "archived"
    young = create_item(client, world["editor"], world.project_a1)
    before = datetime.now(timezone.utc)
    result = db(lambda c: tenancy.set_plan(c, world.org_a, "free"))
    assert result["reactivated_items"] == 0
    free_due = before + timedelta(days=settings.free_retention_days
                                  - settings.expiry_warning_days)
    for item in (old, young):
        row = state(db, item["id"])
        assert row["lifecycle_state"] == "active"
        assert abs((row["expires_at"] - free_due).total_seconds()) < 60


def test_cli_set_plan_reports_reactivated_items(client, db, db_env, settings, clock, world,
                                                tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    create_item(client, world["editor"], world.project_a1)
    run(db, settings, clock.now + 31 * DAY)
    env = {**os.environ, **db_env, "GEOPERA_HOME": str(tmp_path)}
    out = subprocess.run([str(Path(sys.executable).parent / "geopera-stac"), "admin", "set-plan",
                          "--org", world.org_a, "--plan", "paid"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reactivated_items"] == 1


def test_in_process_runner_advances_items_when_enabled(db, db_env, settings, clock, world):
    from fastapi.testclient import TestClient

    from geopera_stac_ext.app import create_app

    settings.lifecycle_interval_seconds = 0.05
    with TestClient(create_app(settings, pg_env=db_env, clock=clock)) as c:
        item = create_item(c, world["editor"], world.project_a1)
        assert c.app.state.lifecycle_runner.task is not None
        clock.now += 24 * DAY
        deadline = time.monotonic() + 10
        while state(db, item["id"])["lifecycle_state"] != "expiring":
            assert time.monotonic() < deadline, "the periodic runner did not advance the item"
            time.sleep(0.05)
    assert c.app.state.lifecycle_runner.task.done()


def test_runner_is_off_by_default(client):
    assert client.app.state.lifecycle_runner.task is None
