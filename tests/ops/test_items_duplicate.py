"""items.duplicate and items.lineage: copies, shared files, retargeting, the lineage tree."""

import asyncpg
import pytest

from conftest import create_collection, create_item, item_params, ok, op, problem


def _ledger(db, item_ids=None):
    async def q(conn):
        return await conn.fetch("SELECT item_id, asset_id, delta_bytes, reason"
                                " FROM geopera.storage_ledger ORDER BY id")
    rows = db(q)
    return [r for r in rows if item_ids is None or str(r["item_id"]) in item_ids]


def test_duplicate_copies_item_assets_and_viz(client, world, db):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    profiles = {"rgb": {"bands": [3, 2, 1]}}
    src = ok(op(client, "items.create", owner, **item_params(
        world.project_a1, name="Field 12", collection_id=col["id"], viz_profiles=profiles,
        description="d", properties={"platform": "x"})))["item"]
    copy = ok(op(client, "items.duplicate", owner, item_id=src["id"],
                 new_name="Field 12 — working copy"))["item"]
    assert copy["id"] != src["id"]
    assert copy["name"] == "Field 12 — working copy"
    assert copy["collection_id"] == col["id"]
    assert copy["viz_profiles"] == profiles
    for k in ("description", "geometry", "bbox", "datetime", "cloud_cover", "gsd", "properties",
              "type", "project_id"):
        assert copy[k] == src[k], k
    src_assets = ok(op(client, "items.list_assets", owner, item_id=src["id"]))
    copy_assets = ok(op(client, "items.list_assets", owner, item_id=copy["id"]))
    assert [a["href"] for a in copy_assets] == [a["href"] for a in src_assets]
    assert {a["id"] for a in copy_assets}.isdisjoint({a["id"] for a in src_assets})
    # no storage duplication: only the source's creation credited bytes
    assert [r["delta_bytes"] for r in _ledger(db)] == [1000]
    got = ok(op(client, "items.get", owner, item_id=copy["id"]))["item"]
    assert got["viz_profiles"] == profiles
    assert ok(op(client, "collections.get", owner, project_id=world.project_a1,
                 collection_id=col["id"]))["item_count"] == 2


def test_duplicate_default_name_and_explicit_uncollect(client, world):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    src = create_item(client, owner, world.project_a1, name="S", collection_id=col["id"])
    copy = ok(op(client, "items.duplicate", owner, item_id=src["id"],
                 target_collection_id=None))["item"]
    assert copy["name"] == "S (copy)" and copy["collection_id"] is None


def test_duplicate_to_other_project_and_collection(client, world):
    boss = world["org_owner"]
    src = create_item(client, boss, world.project_a1)
    col2 = create_collection(client, boss, world.project_a2, "A2 col")
    copy = ok(op(client, "items.duplicate", boss, item_id=src["id"],
                 target_project_id=world.project_a2, target_collection_id=col2["id"]))["item"]
    assert copy["project_id"] == world.project_a2 and copy["collection_id"] == col2["id"]
    # the collection must belong to the target project
    problem(op(client, "items.duplicate", boss, item_id=src["id"],
               target_collection_id=col2["id"]), 400)


def test_duplicate_needs_write_on_target(client, world):
    src = create_item(client, world["owner"], world.project_a1)
    # owner of A1 has no role on A2
    problem(op(client, "items.duplicate", world["owner"], item_id=src["id"],
               target_project_id=world.project_a2), 403)
    problem(op(client, "items.duplicate", world["viewer"], item_id=src["id"]), 403)
    problem(op(client, "items.duplicate", world["outsider"], item_id=src["id"]), 403)
    problem(op(client, "items.duplicate", world["outsider"], item_id=src["id"],
               target_project_id=world.project_b1), 403)
    ok(op(client, "items.duplicate", world["editor"], item_id=src["id"]))


def test_duplicate_of_expired_item_is_410(client, world, db):
    owner = world["owner"]
    src = create_item(client, owner, world.project_a1)

    async def expire(conn):
        await conn.execute("UPDATE geopera.items SET lifecycle_state = 'expired' WHERE id = $1",
                           src["id"])
    db(expire)
    problem(op(client, "items.duplicate", owner, item_id=src["id"]), 410)


def test_lineage_walks_both_directions_any_depth(client, world):
    owner = world["owner"]
    a = create_item(client, owner, world.project_a1, name="A")
    b = ok(op(client, "items.duplicate", owner, item_id=a["id"], new_name="B"))["item"]
    c = ok(op(client, "items.duplicate", owner, item_id=b["id"], new_name="C"))["item"]
    d = ok(op(client, "items.duplicate", owner, item_id=b["id"], new_name="D"))["item"]
    tree = ok(op(client, "items.lineage", world["viewer"], item_id=a["id"]))
    assert tree["item_id"] == a["id"] and tree["parents"] == []
    [child] = tree["children"]
    assert child["id"] == b["id"] and child["depth"] == 1 and not child["hidden"]
    assert child["relation"] == "derived_from"
    assert sorted(g["name"] for g in child["children"]) == ["C", "D"]
    assert all(g["depth"] == 2 for g in child["children"])
    up = ok(op(client, "items.lineage", owner, item_id=c["id"]))
    assert up["children"] == []
    [p1] = up["parents"]
    assert p1["id"] == b["id"] and p1["parents"][0]["id"] == a["id"]
    assert p1["parents"][0]["depth"] == 2
    mid = ok(op(client, "items.lineage", owner, item_id=b["id"]))
    assert [p["id"] for p in mid["parents"]] == [a["id"]]
    assert sorted(x["id"] for x in mid["children"]) == sorted([c["id"], d["id"]])


def test_lineage_hides_inaccessible_and_omits_deleted(client, world):
    boss = world["org_owner"]
    a = create_item(client, boss, world.project_a1, name="A")
    # B lives in A2, where the A1 owner has no role; C is back in A1
    b = ok(op(client, "items.duplicate", boss, item_id=a["id"], new_name="B secret",
              target_project_id=world.project_a2))["item"]
    c = ok(op(client, "items.duplicate", boss, item_id=b["id"], new_name="C",
              target_project_id=world.project_a1))["item"]
    tree = ok(op(client, "items.lineage", world["owner"], item_id=a["id"]))
    [hidden] = tree["children"]
    assert hidden["hidden"] is True and "id" not in hidden and "name" not in hidden
    assert b["id"] not in str(tree) and "secret" not in str(tree)
    assert hidden["children"][0]["id"] == c["id"] and hidden["children"][0]["depth"] == 2
    # the org owner sees everything
    full = ok(op(client, "items.lineage", boss, item_id=a["id"]))
    assert full["children"][0]["id"] == b["id"]
    # a deleted item is gone from lineage, and so is the branch only reachable through it
    ok(op(client, "items.delete", boss, item_id=b["id"]))
    after = ok(op(client, "items.lineage", boss, item_id=a["id"]))
    assert after["children"] == []
    assert ok(op(client, "items.lineage", boss, item_id=c["id"]))["parents"] == []
    problem(op(client, "items.lineage", boss, item_id=b["id"]), 404)


def test_lineage_cycles_are_impossible(client, world, db):
    owner = world["owner"]
    a = create_item(client, owner, world.project_a1, name="A")
    b = ok(op(client, "items.duplicate", owner, item_id=a["id"]))["item"]
    c = ok(op(client, "items.duplicate", owner, item_id=b["id"]))["item"]

    async def close_cycle(conn):
        await conn.execute("INSERT INTO geopera.lineage (parent_id, child_id) VALUES ($1, $2)",
                           c["id"], a["id"])
    with pytest.raises(asyncpg.CheckViolationError, match="cycle"):
        db(close_cycle)
    tree = ok(op(client, "items.lineage", owner, item_id=b["id"]))
    assert [p["id"] for p in tree["parents"]] == [a["id"]]


def test_lineage_access_rules(client, world):
    a = create_item(client, world["owner"], world.project_a1)
    problem(op(client, "items.lineage", world["loner"], item_id=a["id"]), 403)
    problem(op(client, "items.lineage", world["owner"],
               item_id="00000000-0000-4000-8000-000000000000"), 404)


def test_duplicate_is_audited_once(client, world, db):
    owner = world["owner"]
    a = create_item(client, owner, world.project_a1)
    copy = ok(op(client, "items.duplicate", owner, item_id=a["id"]))["item"]

    async def q(conn):
        return await conn.fetch("SELECT target_ids FROM geopera.audit_log"
                                " WHERE operation = 'items.duplicate'")
    rows = db(q)
    assert len(rows) == 1 and {copy["id"], a["id"]} <= set(rows[0]["target_ids"])
