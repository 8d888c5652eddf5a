"""Billing attribution: a stored file's storage bytes are debited from the account that was
credited for them, whatever the order in which copies in other organizations are deleted."""

from __future__ import annotations

import pytest
from conftest import create_item, make_actor, ok, op

from geopera_stac_ext.lifecycle.usage import org_usage

SIZE = 5000


def _storage(db, org: str) -> int:
    return db(lambda c: org_usage(c, org, None))["storage_bytes"]


def _ledger_nets(db) -> dict[str, int]:
    rows = db(lambda c: c.fetch(
        "SELECT org_id::text AS org, sum(delta_bytes) AS net FROM geopera.storage_ledger"
        " GROUP BY org_id"))
    return {r["org"]: int(r["net"]) for r in rows}


@pytest.mark.parametrize("first", ["source", "copy"])
def test_cross_org_duplicate_deleted_in_either_order_nets_both_orgs_to_zero(
        client, db, world, first):
    both = db(lambda c: make_actor(c, "both@x.example", [("project", world.project_a1, "editor"),
                                                          ("org", world.org_b, "editor")]))
    item = create_item(client, both, world.project_a1, assets=[
        {"key": "data", "href": "s3://bucket/shared.tif", "file_size_bytes": SIZE}])
    copy = ok(op(client, "items.duplicate", both, item_id=item["id"],
                 target_project_id=world.project_b1))["item"]
    assert (_storage(db, world.org_a), _storage(db, world.org_b)) == (SIZE, 0)
    order = [item, copy] if first == "source" else [copy, item]
    ok(op(client, "items.delete", both, item_id=order[0]["id"]))
    assert (_storage(db, world.org_a), _storage(db, world.org_b)) == (SIZE, 0)
    ok(op(client, "items.delete", both, item_id=order[1]["id"]))
    assert (_storage(db, world.org_a), _storage(db, world.org_b)) == (0, 0)
    assert _ledger_nets(db) == {world.org_a: 0}


def test_the_debit_row_names_the_credited_org_and_project(client, db, world):
    both = db(lambda c: make_actor(c, "both@x.example", [("project", world.project_a1, "editor"),
                                                          ("org", world.org_b, "editor")]))
    item = create_item(client, both, world.project_a1, assets=[
        {"key": "data", "href": "s3://bucket/shared.tif", "file_size_bytes": SIZE}])
    copy = ok(op(client, "items.duplicate", both, item_id=item["id"],
                 target_project_id=world.project_b1))["item"]
    ok(op(client, "items.delete", both, item_id=item["id"]))
    ok(op(client, "items.delete", both, item_id=copy["id"]))
    rows = db(lambda c: c.fetch(
        "SELECT org_id::text, project_id::text, delta_bytes, reason FROM geopera.storage_ledger"
        " ORDER BY id"))
    assert [tuple(r) for r in rows] == [
        (world.org_a, world.project_a1, SIZE, "asset_created"),
        (world.org_a, world.project_a1, -SIZE, "item_deleted")]
