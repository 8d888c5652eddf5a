"""collections.update (patch by presence) and collections.delete (soft, unlinks items)."""

import json
import threading
import time

import httpx
import psycopg
import pytest

from conftest import create_collection, create_item, item_params, ok, op, problem
from geopera_stac_ext.core.settings import dsn_from_env


def test_update_changes_only_given_fields(client, world, db):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1, "May", description="d",
                            color="#2e7d32", show_on_map=True, layer_order=10)
    got = ok(op(client, "collections.update", owner, collection_id=col["id"], name="June",
                color="#AABBCC"))
    assert got["name"] == "June" and got["color"] == "#aabbcc"
    assert got["description"] == "d" and got["show_on_map"] is True and got["layer_order"] == 10
    again = ok(op(client, "collections.get", owner, project_id=world.project_a1,
                  collection_id=col["id"]))
    assert again["name"] == "June"

    async def q(conn):
        return await conn.fetchval("SELECT content->>'title' FROM pgstac.collections"
                                   " WHERE id = $1", col["id"])
    assert db(q) == "June"


@pytest.mark.parametrize("field,initial", [("description", "text"), ("color", "#2e7d32")])
def test_null_clears_and_omission_keeps(client, world, field, initial):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1, **{field: initial})
    kept = ok(op(client, "collections.update", owner, collection_id=col["id"], layer_order=3))
    assert kept[field] == initial and kept["layer_order"] == 3
    assert kept["name"] == "Survey" and kept["show_on_map"] is True
    cleared = ok(op(client, "collections.update", owner, collection_id=col["id"],
                    **{field: None}))
    assert cleared[field] is None


@pytest.mark.parametrize("field,value", [("show_on_map", False), ("layer_order", -5),
                                         ("name", "renamed")])
def test_non_nullable_fields_patch_and_reject_null(client, world, field, value):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    got = ok(op(client, "collections.update", owner, collection_id=col["id"], **{field: value}))
    assert got[field] == value
    body = problem(op(client, "collections.update", owner, collection_id=col["id"],
                      **{field: None}), 400)
    assert field in body["detail"] and "cannot be null" in body["detail"]


@pytest.mark.parametrize("color", ["green", "#12345", "#12345g", "123456"])
def test_update_validates_color(client, world, color):
    col = create_collection(client, world["owner"], world.project_a1)
    body = problem(op(client, "collections.update", world["owner"], collection_id=col["id"],
                      color=color), 400)
    assert "color" in body["detail"] and "#rrggbb" in body["detail"]


def test_update_empty_and_immutable(client, world):
    col = create_collection(client, world["owner"], world.project_a1)
    problem(op(client, "collections.update", world["owner"], collection_id=col["id"]), 400)
    body = problem(op(client, "collections.update", world["owner"], collection_id=col["id"],
                      item_count=5), 400)
    assert "item_count" in body["detail"]


def test_update_wrong_project_is_404(client, world):
    boss = world["org_owner"]
    col = create_collection(client, boss, world.project_a1)
    problem(op(client, "collections.update", boss, collection_id=col["id"],
               project_id=world.project_a2, name="x"), 404)


@pytest.mark.parametrize("actor,status", [("viewer", 403), ("readonly", 403), ("loner", 403),
                                          ("outsider", 403), ("editor", 200), ("admin", 200),
                                          ("owner", 200), ("org_owner", 200)])
def test_update_roles(client, world, actor, status):
    col = create_collection(client, world["owner"], world.project_a1)
    resp = op(client, "collections.update", world[actor], collection_id=col["id"], name="n")
    if status == 200:
        assert ok(resp)["name"] == "n"
    else:
        problem(resp, status)


# ---------------------------------------------------------------- delete

def test_delete_unlinks_items_and_hides_collection(client, world, db):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    other = create_collection(client, owner, world.project_a1, "Other")
    items = [create_item(client, owner, world.project_a1, name=f"S{i}",
                         collection_id=col["id"]) for i in range(3)]
    elsewhere = create_item(client, owner, world.project_a1, collection_id=other["id"])
    ok(op(client, "items.delete", owner, item_id=items[0]["id"]))
    out = ok(op(client, "collections.delete", owner, collection_id=col["id"]))
    assert out == {"ok": True, "id": col["id"], "unlinked_items": 2}
    problem(op(client, "collections.delete", owner, collection_id=col["id"]), 404)
    problem(op(client, "collections.get", owner, project_id=world.project_a1,
               collection_id=col["id"]), 404)
    problem(op(client, "items.list_by_collection", owner, collection_id=col["id"]), 404)
    listed = ok(op(client, "collections.list", owner, project_id=world.project_a1))
    assert [c["id"] for c in listed] == [other["id"]]
    loose = ok(op(client, "items.list", owner, project_id=world.project_a1, uncollected=True))
    assert sorted(i["id"] for i in loose["items"]) == sorted(i["id"] for i in items[1:])
    for it in items[1:]:
        got = ok(op(client, "items.get", owner, item_id=it["id"]))["item"]
        assert got["collection_id"] is None and got["name"] == it["name"]
        assert got["geometry"] == it["geometry"] and got["cloud_cover"] == 4.1
    assert ok(op(client, "items.get", owner, item_id=elsewhere["id"]))["item"][
        "collection_id"] == other["id"]

    async def q(conn):
        return (await conn.fetchval("SELECT count(*) FROM pgstac.collections WHERE id = $1",
                                    col["id"]),
                await conn.fetchval(
                    "SELECT count(*) FROM geopera.items i JOIN pgstac.items p"
                    " ON p.id = i.id::text AND p.collection = i.pgstac_collection"
                    " WHERE i.project_id = $1", world.project_a1))
    pg_collections, joined = db(q)
    assert pg_collections == 0
    assert joined == 4  # every item, the deleted one too, still has its STAC content
    # a STAC API client no longer sees the collection
    resp = client.get(f"/collections/{col['id']}", headers=owner.headers)
    assert resp.status_code == 404


def test_moving_into_deleted_collection_is_400(client, world):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    item = create_item(client, owner, world.project_a1)
    ok(op(client, "collections.delete", owner, collection_id=col["id"]))
    problem(op(client, "items.update", owner, item_id=item["id"], collection_id=col["id"]), 400)
    problem(op(client, "items.create", owner,
               **item_params(world.project_a1, collection_id=col["id"])), 400)


@pytest.mark.parametrize("actor,status", [("viewer", 403), ("editor", 403), ("readonly", 403),
                                          ("loner", 403), ("outsider", 403), ("admin", 200),
                                          ("owner", 200), ("org_owner", 200)])
def test_delete_roles(client, world, actor, status):
    col = create_collection(client, world["owner"], world.project_a1)
    resp = op(client, "collections.delete", world[actor], collection_id=col["id"])
    if status == 200:
        assert ok(resp)["ok"] is True
    else:
        problem(resp, status)
        ok(op(client, "collections.get", world["owner"], project_id=world.project_a1,
              collection_id=col["id"]))


def test_delete_other_project_guard(client, world):
    boss = world["org_owner"]
    col = create_collection(client, boss, world.project_a1)
    problem(op(client, "collections.delete", boss, collection_id=col["id"],
               project_id=world.project_a2), 404)
    ok(op(client, "collections.delete", boss, collection_id=col["id"],
          project_id=world.project_a1))


def test_delete_is_audited_once(client, world, db):
    col = create_collection(client, world["owner"], world.project_a1)
    ok(op(client, "collections.delete", world["owner"], collection_id=col["id"]))

    async def q(conn):
        return await conn.fetch("SELECT target_ids FROM geopera.audit_log"
                                " WHERE operation IN ('collections.delete', 'collections.update')")
    rows = db(q)
    assert len(rows) == 1 and col["id"] in rows[0]["target_ids"]


# ---------------------------------------------------------------- race with items.update

def _post(base, actor, op_id, **params):
    return httpx.post(f"{base}/v1/op/{op_id}", json=params, headers=actor.headers, timeout=30)


def _wait_waiters(conn, n, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                        " current_database() AND wait_event_type = 'Lock'").fetchone()[0] >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"expected {n} lock waiters")


def _no_item_in_deleted_collection(conn):
    return conn.execute(
        "SELECT count(*) FROM geopera.items i JOIN geopera.collections c ON c.id = i.collection_id"
        " WHERE c.deleted_at IS NOT NULL").fetchone()[0] == 0 and conn.execute(
        "SELECT count(*) FROM geopera.items i LEFT JOIN pgstac.items p"
        " ON p.id = i.id::text AND p.collection = i.pgstac_collection"
        " WHERE p.id IS NULL").fetchone()[0] == 0


def _setup_race(base, owner, project):
    col = _post(base, owner, "collections.create", project_id=project, name="C").json()
    mover = _post(base, owner, "items.create", **item_params(project)).json()["item"]
    member = _post(base, owner, "items.create",
                   **item_params(project, collection_id=col["id"])).json()["item"]
    return col, mover, member


def test_update_moving_in_then_delete_unlinks_it(live_server, world, db_env):
    """items.update holds the collection share lock first: the delete waits, then unlinks."""
    owner = world["owner"]
    col, mover, _ = _setup_race(live_server, owner, world.project_a1)
    out = {}
    with psycopg.connect(dsn_from_env(db_env)) as holder, \
            psycopg.connect(dsn_from_env(db_env), autocommit=True) as watch:
        # NOTE: pin the update after it took FOR SHARE on the collection (it waits on the item).
        holder.execute("SELECT 1 FROM geopera.items WHERE id = %s FOR UPDATE", (mover["id"],))
        t1 = threading.Thread(target=lambda: out.__setitem__("update", _post(
            live_server, owner, "items.update", item_id=mover["id"], collection_id=col["id"])))
        t1.start()
        _wait_waiters(watch, 1)
        t2 = threading.Thread(target=lambda: out.__setitem__("delete", _post(
            live_server, owner, "collections.delete", collection_id=col["id"])))
        t2.start()
        _wait_waiters(watch, 2)
        holder.rollback()
        t1.join(30)
        t2.join(30)
        assert out["update"].status_code == 200, out["update"].text
        assert out["delete"].status_code == 200, out["delete"].text
        assert out["delete"].json()["unlinked_items"] == 2
        assert _no_item_in_deleted_collection(watch)
        row = watch.execute("SELECT collection_id FROM geopera.items WHERE id = %s",
                            (mover["id"],)).fetchone()
        assert row[0] is None


def test_delete_first_then_update_moving_in_is_refused(live_server, world, db_env):
    """collections.delete holds the collection lock first: the update waits, then gets 400."""
    owner = world["owner"]
    col, mover, member = _setup_race(live_server, owner, world.project_a1)
    out = {}
    with psycopg.connect(dsn_from_env(db_env)) as holder, \
            psycopg.connect(dsn_from_env(db_env), autocommit=True) as watch:
        # NOTE: pin the delete after it locked the collection (it waits on its member item).
        holder.execute("SELECT 1 FROM geopera.items WHERE id = %s FOR UPDATE", (member["id"],))
        t1 = threading.Thread(target=lambda: out.__setitem__("delete", _post(
            live_server, owner, "collections.delete", collection_id=col["id"])))
        t1.start()
        _wait_waiters(watch, 1)
        t2 = threading.Thread(target=lambda: out.__setitem__("update", _post(
            live_server, owner, "items.update", item_id=mover["id"], collection_id=col["id"])))
        t2.start()
        _wait_waiters(watch, 2)
        holder.rollback()
        t1.join(30)
        t2.join(30)
        assert out["delete"].status_code == 200, out["delete"].text
        assert out["delete"].json()["unlinked_items"] == 1
        assert out["update"].status_code == 400, out["update"].text
        assert _no_item_in_deleted_collection(watch)


def test_delete_rehydrates_when_base_items_differ(client, world, db):
    """A collection re-based in pgstac (item_assets added) takes the hydrate/dehydrate path."""
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    items = [create_item(client, owner, world.project_a1, name=f"S{i}", collection_id=col["id"],
                         properties={"platform": "p"}) for i in range(2)]

    async def rebase(conn):
        doc = await conn.fetchval("SELECT content::text FROM pgstac.collections WHERE id = $1",
                                  col["id"])
        doc = json.loads(doc)
        doc["item_assets"] = {"data": {"type": "image/tiff", "roles": ["data"]}}
        await conn.execute("SELECT pgstac.update_collection($1::text::jsonb)", json.dumps(doc))
        return await conn.fetchval("SELECT count(*) FROM pgstac.base_items WHERE collection = $1",
                                   col["id"])
    assert db(rebase) == 2
    assert ok(op(client, "collections.delete", owner, collection_id=col["id"]))[
        "unlinked_items"] == 2
    for it in items:
        got = ok(op(client, "items.get", owner, item_id=it["id"]))["item"]
        assert got["collection_id"] is None
        assert (got["name"], got["cloud_cover"], got["properties"]) == (
            it["name"], 4.1, {"platform": "p"})
        assert got["geometry"] == it["geometry"] and got["datetime"] == it["datetime"]
