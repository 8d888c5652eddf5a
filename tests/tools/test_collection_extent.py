"""A collection's extent follows its live items: create, update, move, delete, lifecycle."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import orjson
import psycopg
from pytest import approx

from conftest import create_collection, create_item, item_params, ok, op, square

from geopera_stac_ext.admin.recovery import restore_item
from geopera_stac_ext.lifecycle.job import run_lifecycle
from geopera_stac_ext.ingest.run import load_file
from geopera_stac_ext.core.settings import dsn_from_env


def extent(client, actor, cid: str) -> tuple[Any, list[str | None]]:
    doc = ok(client.get(f"/collections/{cid}", headers=actor.headers))
    listed = next(c for c in ok(client.get("/collections", headers=actor.headers))["collections"]
                  if c["id"] == cid)
    assert listed["extent"] == doc["extent"]
    # NOTE: approx: 149.1 + 0.02 is not 149.12 in binary floating point
    return approx(doc["extent"]["spatial"]["bbox"][0]), doc["extent"]["temporal"]["interval"][0]


def test_extent_follows_create_update_move_and_delete(client, world):
    ed, viewer = world["editor"], world["viewer"]
    col = create_collection(client, ed, world.project_a1)
    other = create_collection(client, ed, world.project_a1, name="Other")
    declared = ok(client.get(f"/collections/{col['id']}", headers=viewer.headers))["extent"]
    a = create_item(client, ed, world.project_a1, collection_id=col["id"],
                    geometry=square(149.1, -35.3, 0.02), datetime="2026-05-18T01:20:00Z")
    assert extent(client, viewer, col["id"]) == (
        [149.1, -35.3, 149.12, -35.28], ["2026-05-18T01:20:00Z", "2026-05-18T01:20:00Z"])
    b = create_item(client, ed, world.project_a1, collection_id=col["id"],
                    geometry=square(150.0, -36.0, 0.5), datetime="2026-06-01T00:00:00Z")
    assert extent(client, viewer, col["id"]) == (
        [149.1, -36.0, 150.5, -35.28], ["2026-05-18T01:20:00Z", "2026-06-01T00:00:00Z"])
    ok(op(client, "items.update", ed, item_id=b["id"], geometry=square(148.0, -35.0, 0.1),
          datetime="2026-04-01T00:00:00Z"))
    assert extent(client, viewer, col["id"]) == (
        [148.0, -35.3, 149.12, -34.9], ["2026-04-01T00:00:00Z", "2026-05-18T01:20:00Z"])
    ok(op(client, "items.update", ed, item_id=b["id"], collection_id=other["id"]))
    assert extent(client, viewer, col["id"]) == (
        [149.1, -35.3, 149.12, -35.28], ["2026-05-18T01:20:00Z", "2026-05-18T01:20:00Z"])
    assert extent(client, viewer, other["id"]) == (
        [148.0, -35.0, 148.1, -34.9], ["2026-04-01T00:00:00Z", "2026-04-01T00:00:00Z"])
    ok(op(client, "items.delete", ed, item_id=a["id"]))
    # NOTE: without live items a collection shows the extent it was created with
    assert ok(client.get(f"/collections/{col['id']}", headers=viewer.headers))["extent"] \
        == declared


def test_extent_drops_items_deleted_by_retention(client, db, settings, clock, world):
    ed, viewer = world["editor"], world["viewer"]
    col = create_collection(client, ed, world.project_a1)
    create_item(client, ed, world.project_a1, collection_id=col["id"],
                geometry=square(149.1, -35.3, 0.02), datetime="2026-05-18T01:20:00Z")
    clock.now += timedelta(days=settings.free_retention_days - 1)
    create_item(client, ed, world.project_a1, collection_id=col["id"],
                geometry=square(10.0, 10.0, 1.0), datetime="2026-07-01T00:00:00Z")
    assert extent(client, viewer, col["id"])[0] == [10.0, -35.3, 149.12, 11.0]
    clock.now += timedelta(days=settings.expired_grace_days + 2)
    db(lambda c: run_lifecycle(c, settings, clock.now))
    assert extent(client, viewer, col["id"]) == (
        [10.0, 10.0, 11.0, 11.0], ["2026-07-01T00:00:00Z", "2026-07-01T00:00:00Z"])


def stored(db, cid: str) -> Any:
    return db(lambda c: c.fetchrow(
        "SELECT extent_bbox, extent_start, extent_end, xmin::text AS version"
        " FROM geopera.collection_extents WHERE collection_id = $1", cid))


def test_extent_is_kept_on_write_and_reads_write_nothing(client, db, world):
    ed, viewer = world["editor"], world["viewer"]
    col = create_collection(client, ed, world.project_a1)
    for i in range(3):
        create_item(client, ed, world.project_a1, collection_id=col["id"],
                    geometry=square(149.0 + i, -35.0, 0.1))
    row = stored(db, col["id"])
    assert row["extent_bbox"] == approx([149.0, -35.0, 151.1, -34.9])  # before any read
    # NOTE: the notes of a transaction are applied at its commit; none are left behind
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.collection_extent_pending")) == 0
    extent(client, viewer, col["id"])
    assert stored(db, col["id"])["version"] == row["version"]  # the read wrote nothing


def test_removing_an_item_inside_the_extent_recomputes_nothing(client, db, world):
    ed, viewer = world["editor"], world["viewer"]
    col = create_collection(client, ed, world.project_a1)
    for lon in (149.0, 149.5, 150.0):
        create_item(client, ed, world.project_a1, collection_id=col["id"],
                    geometry=square(lon, -35.0, 0.1), datetime="2026-05-18T00:00:00Z")
    inner = create_item(client, ed, world.project_a1, collection_id=col["id"],
                        geometry=square(149.5, -35.0, 0.01), datetime="2026-05-18T00:00:00Z")
    # NOTE: a wider stored extent than the items' is left alone by a removal inside it (no
    # recompute ran), and corrected by a removal at its edge (one recompute).
    db(lambda c: c.execute("UPDATE geopera.collection_extents SET extent_bbox = '{0,-90,151,90}',"
                           " extent_start = '2000-01-01Z', extent_end = '2100-01-01Z'"
                           " WHERE collection_id = $1", col["id"]))
    ok(op(client, "items.delete", ed, item_id=inner["id"]))
    assert extent(client, viewer, col["id"])[0] == [0, -90, 151, 90]
    edge = create_item(client, ed, world.project_a1, collection_id=col["id"],
                       geometry=square(0.0, 0.0, 0.1), datetime="2026-05-18T00:00:00Z")
    ok(op(client, "items.delete", ed, item_id=edge["id"]))
    assert extent(client, viewer, col["id"]) == (
        [149.0, -35.0, 150.1, -34.9], ["2026-05-18T00:00:00Z", "2026-05-18T00:00:00Z"])


def test_extent_follows_duplicate_restore_and_collection_delete(client, db, settings, world):
    ed, viewer = world["editor"], world["viewer"]
    col = create_collection(client, ed, world.project_a1)
    other = create_collection(client, ed, world.project_a1, name="Other")
    a = create_item(client, ed, world.project_a1, collection_id=col["id"],
                    geometry=square(5.0, 5.0, 1.0), datetime="2026-01-01T00:00:00Z")
    ok(op(client, "items.duplicate", ed, item_id=a["id"], target_collection_id=other["id"]))
    assert extent(client, viewer, other["id"])[0] == [5.0, 5.0, 6.0, 6.0]
    ok(op(client, "items.delete", ed, item_id=a["id"]))
    assert stored(db, col["id"])["extent_bbox"] is None
    db(lambda c: restore_item(c, settings, a["id"]))
    assert extent(client, viewer, col["id"])[0] == [5.0, 5.0, 6.0, 6.0]
    ok(op(client, "collections.delete", world["admin"], collection_id=col["id"]))
    assert stored(db, col["id"])["extent_bbox"] is None


def test_bulk_loaded_items_set_the_extent(client, db, db_env, settings, world, tmp_path):
    col = create_collection(client, world["editor"], world.project_a1)
    items = [{"type": "Feature", "stac_version": "1.0.0", "id": str(uuid.uuid4()),
              "collection": col["id"], "geometry": square(lon, 10.0, 1.0),
              "bbox": [lon, 10.0, lon + 1.0, 11.0], "links": [],
              "assets": {"data": {"href": "s3://bucket/x.tif", "roles": ["data"]}},
              "properties": {"datetime": f"2026-0{m}-01T00:00:00Z"}}
             for lon, m in ((20.0, 3), (-5.0, 1), (7.0, 2))]
    src = tmp_path / "items.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(i) for i in items))
    with psycopg.connect(dsn_from_env(db_env), options="-c search_path=pgstac,public") as conn:
        summary = load_file(conn, settings, src, world.project_a1, batch_size=2,
                            report=lambda m: None)
    assert summary.loaded == 3
    assert extent(client, world["viewer"], col["id"]) == (
        [-5.0, 10.0, 21.0, 11.0], ["2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"])


def test_concurrent_writers_of_one_collection_neither_deadlock_nor_lose_bounds(
        client, db, live_server, world):
    ed, viewer = world["editor"], world["viewer"]
    col = create_collection(client, ed, world.project_a1)
    edge = create_item(client, ed, world.project_a1, collection_id=col["id"],
                       geometry=square(-50.0, -50.0, 1.0), datetime="2020-01-01T00:00:00Z")
    # NOTE: the concurrent items fall inside the time range pgstac's partition constraint
    # already covers: concurrent creates that widen it race in pgstac's check_partition
    # (`_items_N_dt` violations, a separate issue from extents).
    create_item(client, ed, world.project_a1, collection_id=col["id"],
                geometry=square(5.0, 5.0, 0.1), datetime="2026-12-31T00:00:00Z")

    def create(i: int) -> int:
        params = item_params(world.project_a1, collection_id=col["id"],
                             geometry=square(float(i), float(i), 0.5),
                             datetime=f"2026-01-{i + 1:02d}T00:00:00Z")
        r = httpx.post(f"{live_server}/v1/op/items.create", json=params,
                       headers=ed.headers, timeout=60)
        return r.status_code if r.status_code == 200 else r.text

    def delete_edge(_: int) -> int:
        # NOTE: removing the edge item makes this transaction recompute while others grow
        return httpx.post(f"{live_server}/v1/op/items.delete", json={"item_id": edge["id"]},
                          headers=ed.headers, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(create, i) for i in range(12)] + [pool.submit(delete_edge, 0)]
        assert [j.result() for j in jobs] == [200] * 13
    assert extent(client, viewer, col["id"]) == (
        [0.0, 0.0, 11.5, 11.5], ["2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z"])
