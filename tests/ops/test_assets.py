"""assets.delete: ownership guard, the last-data guard, ledger debit, roles, audit."""

import pytest

from conftest import create_item, ok, op, problem

ASSETS = [
    {"key": "data", "href": "s3://bucket/a.tif", "file_size_bytes": 1000, "roles": ["data"]},
    {"key": "thumbnail", "href": "s3://bucket/a.png", "file_size_bytes": 50,
     "roles": ["thumbnail"]},
]


def _assets(client, actor, item_id):
    return {a["key"]: a for a in ok(op(client, "items.list_assets", actor, item_id=item_id))}


def _ledger_sum(db):
    async def q(conn):
        return await conn.fetchval(
            "SELECT coalesce(sum(delta_bytes), 0) FROM geopera.storage_ledger")
    return db(q)


def test_delete_asset_removes_it_and_debits(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1, assets=ASSETS)
    thumb = _assets(client, owner, item["id"])["thumbnail"]
    assert _ledger_sum(db) == 1050
    out = ok(op(client, "assets.delete", owner, item_id=item["id"], asset_id=thumb["id"]))
    assert out == {"ok": True, "id": thumb["id"]}
    assert set(_assets(client, owner, item["id"])) == {"data"}
    assert _ledger_sum(db) == 1000
    feature = ok(op(client, "items.get_stac", owner, item_id=item["id"]))
    assert set(feature["assets"]) == {"data"}
    problem(op(client, "assets.delete", owner, item_id=item["id"], asset_id=thumb["id"]), 404)


def test_last_data_asset_cannot_be_deleted(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1, assets=ASSETS)
    data = _assets(client, owner, item["id"])["data"]
    body = problem(op(client, "assets.delete", owner, item_id=item["id"], asset_id=data["id"]),
                   400)
    assert "data" in body["detail"]
    assert "data" in _assets(client, owner, item["id"])


def test_asset_of_another_item_is_403(client, world):
    owner = world["owner"]
    a = create_item(client, owner, world.project_a1, assets=ASSETS)
    b = create_item(client, owner, world.project_a1, assets=ASSETS)
    thumb_b = _assets(client, owner, b["id"])["thumbnail"]
    body = problem(op(client, "assets.delete", owner, item_id=a["id"], asset_id=thumb_b["id"]),
                   403)
    assert "does not belong" in body["detail"]
    assert "thumbnail" in _assets(client, owner, b["id"])


def test_unknown_asset_or_item_is_404(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    problem(op(client, "assets.delete", owner, item_id=item["id"],
               asset_id="00000000-0000-4000-8000-000000000000"), 404)
    problem(op(client, "assets.delete", owner, item_id="00000000-0000-4000-8000-000000000000",
               asset_id="00000000-0000-4000-8000-000000000000"), 404)


def test_duplicate_asset_delete_does_not_debit(client, world, db):
    owner = world["owner"]
    src = create_item(client, owner, world.project_a1, assets=ASSETS)
    copy = ok(op(client, "items.duplicate", owner, item_id=src["id"]))["item"]
    ok(op(client, "assets.delete", owner, item_id=copy["id"],
          asset_id=_assets(client, owner, copy["id"])["thumbnail"]["id"]))
    assert _ledger_sum(db) == 1050  # the source still references the thumbnail file
    ok(op(client, "assets.delete", owner, item_id=src["id"],
          asset_id=_assets(client, owner, src["id"])["thumbnail"]["id"]))
    assert _ledger_sum(db) == 1000  # last reference gone: debited once


@pytest.mark.parametrize("actor,status", [("viewer", 403), ("readonly", 403), ("loner", 403),
                                          ("outsider", 403), ("editor", 200), ("admin", 200),
                                          ("owner", 200)])
def test_assets_delete_roles(client, world, actor, status):
    item = create_item(client, world["owner"], world.project_a1, assets=ASSETS)
    thumb = _assets(client, world["owner"], item["id"])["thumbnail"]
    resp = op(client, "assets.delete", world[actor], item_id=item["id"], asset_id=thumb["id"])
    if status == 200:
        ok(resp)
    else:
        problem(resp, status)
        assert "thumbnail" in _assets(client, world["owner"], item["id"])


def test_assets_delete_audited_once(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1, assets=ASSETS)
    thumb = _assets(client, owner, item["id"])["thumbnail"]
    ok(op(client, "assets.delete", owner, item_id=item["id"], asset_id=thumb["id"]))

    async def q(conn):
        return await conn.fetch("SELECT target_ids FROM geopera.audit_log"
                                " WHERE operation = 'assets.delete'")
    rows = db(q)
    assert len(rows) == 1 and thumb["id"] in rows[0]["target_ids"]
