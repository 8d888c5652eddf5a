"""The item counters (migration 0060) equal a count of the rows after every write path, also
under concurrent writers, and the totals searches and listings report come from them."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import httpx
from conftest import (
    UNPAIRED,
    create_collection,
    create_item,
    item_params,
    ok,
    op,
)

from geopera_stac_ext.lifecycle.job import run_lifecycle
from test_loader import _load

ROWS = """
    SELECT project_id::text, coalesce(collection_id::text, 'nil'), type, lifecycle_state, count(*)
    FROM geopera.items WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
COUNTERS = """
    SELECT project_id::text, CASE WHEN collection_id = '00000000-0000-0000-0000-000000000000'
           THEN 'nil' ELSE collection_id::text END, type, lifecycle_state, sum(n)
    FROM geopera.item_counts GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4
"""


def assert_counters_exact(db) -> list[tuple]:
    async def both(conn: Any) -> tuple[list, list, list]:
        return ([tuple(r) for r in await conn.fetch(ROWS)],
                [tuple(r) for r in await conn.fetch(COUNTERS)],
                [tuple(r) for r in await conn.fetch(UNPAIRED)])
    rows, counters, unpaired = db(both)
    assert counters == rows
    assert unpaired == []
    return rows


def test_counters_follow_every_write_path(client, db, db_env, settings, clock, world, tmp_path):
    owner, p = world["owner"], world.project_a1
    a = create_collection(client, owner, p, "A")
    b = create_collection(client, owner, p, "B")
    items = [create_item(client, owner, p, name=f"i{n}", collection_id=a["id"],
                         cloud_cover=[None, 0, 55.5, 100][n]) for n in range(4)]
    loose = create_item(client, owner, p, name="loose", type="dem")
    assert_counters_exact(db)
    ok(op(client, "items.update", owner, item_id=items[0]["id"], collection_id=b["id"],
          cloud_cover=12))
    ok(op(client, "items.update", owner, item_id=items[1]["id"], name="renamed"))
    ok(op(client, "items.update", owner, item_id=items[2]["id"], cloud_cover=None))
    ok(op(client, "items.duplicate", owner, item_id=items[2]["id"]))
    ok(op(client, "items.delete", owner, item_id=items[3]["id"]))
    ok(op(client, "items.delete", owner, item_id=loose["id"]))
    assert_counters_exact(db)
    ok(op(client, "collections.delete", owner, collection_id=b["id"]))  # items go to the inbox
    assert_counters_exact(db)
    # lifecycle moves states (free plan: active -> expiring -> expired)
    db(lambda c: run_lifecycle(c, settings, clock.now + timedelta(days=40)))
    rows = assert_counters_exact(db)
    assert {r[3] for r in rows} - {"active"}
    # the bulk loader's COPY
    lines = [json.dumps({"type": "Feature", "id": f"00000000-0000-4000-8000-{n:012d}",
                         "collection": "Loaded", "geometry": item_params(p)["geometry"],
                         "properties": {"datetime": "2025-01-01T00:00:00Z",
                                        **({"eo:cloud_cover": n * 3} if n % 4 else {})},
                         "assets": {"data": {"href": f"s3://b/{n}.tif"}}}) for n in range(30)]
    src = tmp_path / "items.ndjson"
    src.write_text("\n".join(lines) + "\n")
    done = _load(db_env, tmp_path, src, "--project", p, "--batch-size", "7", "--writers", "2")
    assert done.returncode == 0, done.stderr
    assert_counters_exact(db)
    # and the totals reported come from them
    fc = ok(op(client, "items.search", owner, project_id=p, limit=1))
    listed = ok(op(client, "items.list", owner, project_id=p, limit=1))
    live = sum(r[4] for r in assert_counters_exact(db) if r[0] == p)
    assert fc["numberMatched"] == listed["total"] == live


def test_counters_do_not_drift_under_concurrent_writers(client, db, live_server, world):
    owner, p = world["owner"], world.project_a1
    cols = [create_collection(client, owner, p, f"C{n}")["id"] for n in range(3)]
    seed = [create_item(client, owner, p, name=f"s{n}", collection_id=cols[n % 3])
            for n in range(12)]
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=live_server, headers=owner.headers, timeout=60) as h:
            def call(op_id: str, **params: Any) -> dict:
                r = h.post(f"/v1/op/{op_id}", json=params)
                if r.status_code != 200:
                    errors.append(f"{op_id}: {r.status_code} {r.text[:200]}")
                return r.json()
            for k in range(6):
                made = call("items.create", **item_params(p, f"w{n}-{k}",
                                                          collection_id=cols[(n + k) % 3]))
                mine = seed[n * 2 + k % 2]["id"]
                if k % 3 == 0:
                    call("items.update", item_id=mine, collection_id=cols[(n + k + 1) % 3])
                elif k % 3 == 1:
                    call("items.duplicate", item_id=made["item"]["id"])
                else:
                    call("items.delete", item_id=made["item"]["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    rows = assert_counters_exact(db)
    assert sum(r[4] for r in rows if r[0] == p) == 12 + 6 * 6 - 6 * 2 + 6 * 2


def test_counted_totals_match_a_scan_for_each_counted_shape(client, db, world):
    owner, p = world["owner"], world.project_a1
    col = create_collection(client, owner, p, "Only")
    for n in range(3):
        create_item(client, owner, p, name=f"c{n}", collection_id=col["id"])
    for n in range(2):
        create_item(client, owner, p, name=f"u{n}", type="dem")
    gone = create_item(client, owner, p, name="gone", collection_id=col["id"])
    ok(op(client, "items.delete", owner, item_id=gone["id"]))

    def total(**kw: Any) -> int:
        return ok(op(client, "items.search", owner, project_id=p, limit=1, **kw))["numberMatched"]

    assert total() == 5
    assert total(collections=[col["id"]]) == 3
    assert total(type="dem") == 2
    assert total(type=["dem", "image"], collections=[col["id"]]) == 3
    assert ok(op(client, "items.list", owner, project_id=p, uncollected=True,
                 limit=1))["total"] == 2
    assert ok(op(client, "items.list", owner, project_id=p, collection_id=col["id"],
                 limit=1))["total"] == 3
    # STAC: the collection's items page reports the same number
    fc = ok(client.get(f"/collections/{col['id']}/items", params={"limit": 1},
                       headers=owner.headers))
    assert fc["numberMatched"] == 3
