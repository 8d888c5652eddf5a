"""Billing: storage ledger sums across creates/deletes/duplicates, usage report, lifecycle CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import create_item, ok, op
from download_helpers import download, local_item

from geopera_stac_ext.lifecycle.usage import org_usage

DAY = timedelta(days=1)


def usage(db, org: str, now=None) -> dict[str, Any]:
    return db(lambda c: org_usage(c, org, now))


def assets_of(db, item_id: str) -> dict[str, str]:
    rows = db(lambda c: c.fetch(
        "SELECT key, id::text FROM geopera.assets WHERE item_id = $1 AND deleted_at IS NULL",
        item_id))
    return {r["key"]: r["id"] for r in rows}


def cli(db_env: dict[str, str], home, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **db_env, "GEOPERA_HOME": str(home)}
    return subprocess.run([str(Path(sys.executable).parent / "geopera-stac"), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_storage_bytes_count_each_stored_file_once(client, db, db_env, world, tmp_path):
    editor = world["editor"]
    two = [{"key": "data", "href": "s3://b/a.tif", "file_size_bytes": 1000},
           {"key": "thumb", "href": "s3://b/a.png", "file_size_bytes": 200}]
    item = create_item(client, editor, world.project_a1, assets=two)
    other = create_item(client, editor, world.project_a1)  # 1000 bytes
    assert usage(db, world.org_a)["storage_bytes"] == 2200
    copy = ok(op(client, "items.duplicate", editor, item_id=item["id"]))["item"]
    assert usage(db, world.org_a)["storage_bytes"] == 2200  # re-points, no new bytes
    thumb = assets_of(db, item["id"])["thumb"]
    ok(op(client, "assets.delete", editor, item_id=item["id"], asset_id=thumb))
    assert usage(db, world.org_a)["storage_bytes"] == 2200  # the copy still holds the png
    ok(op(client, "items.delete", editor, item_id=item["id"]))
    assert usage(db, world.org_a)["storage_bytes"] == 2200
    ok(op(client, "items.delete", editor, item_id=copy["id"]))
    assert usage(db, world.org_a)["storage_bytes"] == 1000
    ok(op(client, "items.delete", editor, item_id=other["id"]))
    assert usage(db, world.org_a)["storage_bytes"] == 0
    assert usage(db, world.org_b)["storage_bytes"] == 0
    out = cli(db_env, tmp_path, "admin", "usage", "--org", world.org_a)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["storage_bytes"] == 0
    assert report["items_by_lifecycle_state"] == {"active": 0, "expiring": 0, "expired": 0,
                                                  "archived": 0, "deleted": 3}


def test_usage_reports_egress_in_24h_and_30d_windows_and_states(
        client, db, db_env, settings, clock, world, tmp_path):
    t0 = clock.now
    a, aid, data = local_item(client, db, settings, world["editor"], world.project_a1)
    b, bid, _ = local_item(client, db, settings, world["editor"], world.project_a1,
                           data=b"y" * 300)
    ok(download(client, world["viewer"], a["id"], aid))
    clock.now = t0 + 2 * DAY
    ok(download(client, world["viewer"], b["id"], bid))
    ok(download(client, world["viewer"], b["id"], bid))
    now = usage(db, world.org_a, clock.now)
    assert now["egress_bytes_24h"] == 600 and now["egress_bytes_30d"] == 600 + len(data)
    assert now["egress_grants_24h"] == 2 and now["egress_grants_30d"] == 3
    assert now["storage_bytes"] == len(data) + 300
    assert now["items_by_lifecycle_state"]["active"] == 2
    later = usage(db, world.org_a, t0 + 31 * DAY)
    assert later["egress_bytes_24h"] == 0 and later["egress_bytes_30d"] == 600
    assert usage(db, world.org_b, clock.now)["egress_bytes_30d"] == 0
    out = cli(db_env, tmp_path, "admin", "usage", "--org", world.org_a, "--now",
              (t0 + 2 * DAY).isoformat())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["egress_bytes_24h"] == 600


@pytest.mark.parametrize("args,message", [
    (["admin", "usage", "--org", "not-a-uuid"], "org must be a UUID"),
    (["admin", "usage", "--org", "00000000-0000-0000-0000-000000000000"], "not found"),
    (["lifecycle", "run", "--now", "yesterday"], "--now must be an ISO 8601"),
    (["lifecycle", "run", "--batch-size", "0"], "--batch-size must be at least 1"),
])
def test_cli_bad_input_exits_2_with_a_message(db_env, tmp_path, world, args, message):
    out = cli(db_env, tmp_path, *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_cli_lifecycle_run_is_idempotent_at_the_same_now(client, db, db_env, clock, world,
                                                         tmp_path):
    ids = [create_item(client, world["editor"], world.project_a1)["id"] for _ in range(3)]
    when = (clock.now + 31 * DAY).isoformat().replace("+00:00", "Z")
    first = cli(db_env, tmp_path, "lifecycle", "run", "--now", when, "--batch-size", "2")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["ran"] is True and summary["batches"] == 2
    assert summary["transitions"] == {"active->expiring": 3, "expiring->expired": 3}
    states = db(lambda c: c.fetch("SELECT DISTINCT lifecycle_state FROM geopera.items"
                                  " WHERE id = ANY($1::uuid[])", ids))
    assert [r["lifecycle_state"] for r in states] == ["expired"]
    second = json.loads(cli(db_env, tmp_path, "lifecycle", "run", "--now", when).stdout)
    assert second["items"] == 0 and second["transitions"] == {}
