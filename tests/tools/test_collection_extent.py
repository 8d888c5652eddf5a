"""A collection's extent follows its live items: create, update, move, delete, lifecycle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest import approx

from conftest import create_collection, create_item, ok, op, square

from geopera_stac_ext.lifecycle.job import run_lifecycle


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


def test_reading_folds_noted_changes_once(client, db, world):
    ed, viewer = world["editor"], world["viewer"]
    col = create_collection(client, ed, world.project_a1)
    for i in range(3):
        create_item(client, ed, world.project_a1, collection_id=col["id"],
                    geometry=square(149.0 + i, -35.0, 0.1))
    pending = db(lambda c: c.fetchval("SELECT count(*) FROM geopera.collection_extent_changes"))
    assert pending == 3  # one noted change per write statement, no lock on the collection
    extent(client, viewer, col["id"])
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.collection_extent_changes")) == 0
