"""Smoke tests of the spine: dispatcher, auth, problem documents, first ops."""

from datetime import timedelta

from conftest import create_collection, create_item, ok, op, problem


def test_items_list_returns_created_items_with_exact_total(client, world, clock):
    owner = world["owner"]
    for i in range(3):
        clock.now += timedelta(seconds=1)
        create_item(client, owner, world.project_a1, name=f"Scene {i}")
    page = ok(op(client, "items.list", owner, project_id=world.project_a1, limit=2))
    assert page["total"] == 3
    assert [i["name"] for i in page["items"]] == ["Scene 2", "Scene 1"]


def test_unknown_operation_is_404_problem(client, world):
    body = problem(op(client, "items.nope", world["owner"]), 404)
    assert "items.nope" in body["detail"]


def test_missing_key_is_401_problem(client, world):
    problem(op(client, "items.list", None, project_id=world.project_a1), 401)


def test_collections_list_counts_live_items(client, world):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1, color="#2E7D32")
    assert col["color"] == "#2e7d32"
    create_item(client, owner, world.project_a1, collection_id=col["id"])
    listed = ok(op(client, "collections.list", owner, project_id=world.project_a1))
    assert [(c["id"], c["item_count"]) for c in listed] == [(col["id"], 1)]
