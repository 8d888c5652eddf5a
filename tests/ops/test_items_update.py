"""items.update: patch by presence, moves between collections, lifecycle transitions, roles."""

import pytest

from conftest import create_collection, create_item, ok, op, problem, square


def _get(client, actor, item_id):
    return ok(op(client, "items.get", actor, item_id=item_id))["item"]


def _pgstac_collection(db, item_id):
    async def q(conn):
        return await conn.fetchval("SELECT collection FROM pgstac.items WHERE id = $1", item_id)
    return db(q)


def test_update_changes_only_given_fields(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1, name="Field 12", description="raw",
                       properties={"platform": "aerial-a"})
    out = ok(op(client, "items.update", owner, item_id=item["id"], name="Field 12 — corrected"))
    got = out["item"]
    assert got["name"] == "Field 12 — corrected"
    assert got["description"] == "raw"
    assert got["cloud_cover"] == 4.1 and got["gsd"] == 0.5
    assert got["properties"] == {"platform": "aerial-a"}
    for k in ("geometry", "bbox", "datetime", "lifecycle_state", "collection_id", "type"):
        assert got[k] == item[k], k
    assert _get(client, owner, item["id"])["name"] == "Field 12 — corrected"
    other = ok(op(client, "items.update", owner, item_id=item["id"], description="new"))["item"]
    assert other["name"] == "Field 12 — corrected" and other["description"] == "new"


# Every mutable field that may be cleared: explicit null clears it, omission keeps it.
@pytest.mark.parametrize("field,initial,cleared", [
    ("description", "raw scene", None),
    ("cloud_cover", 4.1, None),
    ("gsd", 0.5, None),
    ("properties", {"platform": "aerial-a"}, {}),
])
def test_null_clears_and_omission_keeps(client, world, field, initial, cleared):
    owner = world["owner"]
    kw = {field: initial}
    item = create_item(client, owner, world.project_a1, **kw)
    kept = ok(op(client, "items.update", owner, item_id=item["id"], name="renamed"))["item"]
    assert kept[field] == initial
    got = ok(op(client, "items.update", owner, item_id=item["id"], **{field: None}))["item"]
    assert got[field] == cleared
    assert _get(client, owner, item["id"])[field] == cleared


@pytest.mark.parametrize("field", ["name", "geometry", "lifecycle_state"])
def test_null_on_required_field_is_400(client, world, field):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    body = problem(op(client, "items.update", owner, item_id=item["id"], **{field: None}), 400)
    assert field in body["detail"] and "cannot be null" in body["detail"]
    assert _get(client, owner, item["id"])["name"] == "Scene"


@pytest.mark.parametrize("field,value", [("project_id", "00000000-0000-0000-0000-000000000001"),
                                         ("id", "00000000-0000-0000-0000-000000000001"),
                                         ("type", "mosaic"), ("created_at", "2026-01-01T00:00:00Z"),
                                         ("expires_at", "2030-01-01T00:00:00Z")])
def test_immutable_field_is_400_naming_it(client, world, field, value):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    body = problem(op(client, "items.update", owner, item_id=item["id"], name="x",
                      **{field: value}), 400)
    assert field in body["detail"] and "immutable" in body["detail"]
    assert _get(client, owner, item["id"])["name"] == "Scene"


def test_empty_patch_is_400(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    body = problem(op(client, "items.update", owner, item_id=item["id"]), 400)
    assert "nothing to update" in body["detail"]


def test_datetime_null_needs_a_range(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    body = problem(op(client, "items.update", owner, item_id=item["id"], datetime=None), 400)
    assert "start_datetime" in body["detail"]
    got = ok(op(client, "items.update", owner, item_id=item["id"], datetime=None,
                properties={"start_datetime": "2026-05-01T00:00:00Z",
                            "end_datetime": "2026-05-02T00:00:00Z"}))["item"]
    assert got["datetime"] is None
    assert got["properties"]["start_datetime"] == "2026-05-01T00:00:00Z"
    again = ok(op(client, "items.update", owner, item_id=item["id"],
                  datetime="2026-06-01T10:00:00Z"))["item"]
    assert again["datetime"].startswith("2026-06-01T10:00:00")


def test_geometry_change_rederives_bbox_and_bbox_must_contain_geometry(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    got = ok(op(client, "items.update", owner, item_id=item["id"],
                geometry=square(150.0, -34.0, 0.1)))["item"]
    assert got["bbox"] == pytest.approx([150.0, -34.0, 150.1, -33.9])
    body = problem(op(client, "items.update", owner, item_id=item["id"],
                      bbox=[1.0, 1.0, 2.0, 2.0]), 400)
    assert "does not contain the geometry" in body["detail"]
    wider = ok(op(client, "items.update", owner, item_id=item["id"],
                  bbox=[149.0, -35.0, 151.0, -33.0]))["item"]
    assert wider["bbox"] == [149.0, -35.0, 151.0, -33.0]
    reset = ok(op(client, "items.update", owner, item_id=item["id"], bbox=None))["item"]
    assert reset["bbox"] == pytest.approx([150.0, -34.0, 150.1, -33.9])


def test_move_between_collections_and_unassign(client, world, db):
    owner = world["owner"]
    c1 = create_collection(client, owner, world.project_a1, "C1")
    c2 = create_collection(client, owner, world.project_a1, "C2")
    item = create_item(client, owner, world.project_a1, collection_id=c1["id"])
    assert _pgstac_collection(db, item["id"]) == c1["id"]
    moved = ok(op(client, "items.update", owner, item_id=item["id"], collection_id=c2["id"]))
    assert moved["item"]["collection_id"] == c2["id"]
    assert moved["item"]["name"] == "Scene" and moved["item"]["cloud_cover"] == 4.1
    assert _pgstac_collection(db, item["id"]) == c2["id"]
    counts = {c["name"]: c["item_count"] for c in
              ok(op(client, "collections.list", owner, project_id=world.project_a1))}
    assert counts == {"C1": 0, "C2": 1}
    # name alone keeps the collection (omitted), null unassigns
    ok(op(client, "items.update", owner, item_id=item["id"], name="still in C2"))
    assert _get(client, owner, item["id"])["collection_id"] == c2["id"]
    out = ok(op(client, "items.update", owner, item_id=item["id"], collection_id=None))
    assert out["item"]["collection_id"] is None
    assert _pgstac_collection(db, item["id"]).startswith("inbox-")
    loose = ok(op(client, "items.list", owner, project_id=world.project_a1, uncollected=True))
    assert [i["id"] for i in loose["items"]] == [item["id"]]


def test_move_into_other_projects_collection_is_400(client, world):
    owner = world["org_owner"]
    other = create_collection(client, owner, world.project_a2, "A2 col")
    item = create_item(client, owner, world.project_a1)
    body = problem(op(client, "items.update", owner, item_id=item["id"],
                      collection_id=other["id"]), 400)
    assert other["id"] in body["detail"]
    assert _get(client, owner, item["id"])["collection_id"] is None


def test_lifecycle_transitions(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    # free plan: archiving is a paid-plan state
    body = problem(op(client, "items.update", owner, item_id=item["id"],
                      lifecycle_state="archived"), 400)
    assert "paid" in body["detail"]
    for state in ("expiring", "expired", "deleted"):
        body = problem(op(client, "items.update", owner, item_id=item["id"],
                          lifecycle_state=state), 400)
        assert f"from active to {state}" in body["detail"]
    # same state is a no-op
    assert ok(op(client, "items.update", owner, item_id=item["id"],
                 lifecycle_state="active"))["item"]["lifecycle_state"] == "active"

    async def paid(conn):
        await conn.execute("UPDATE geopera.organizations SET plan = 'paid' WHERE id = $1",
                           world.org_a)
    db(paid)
    got = ok(op(client, "items.update", owner, item_id=item["id"], lifecycle_state="archived"))
    assert got["item"]["lifecycle_state"] == "archived"
    back = ok(op(client, "items.update", owner, item_id=item["id"], lifecycle_state="active"))
    assert back["item"]["lifecycle_state"] == "active"


def test_client_can_never_unexpire(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)

    async def expire(conn):
        await conn.execute("UPDATE geopera.items SET lifecycle_state = 'expired' WHERE id = $1",
                           item["id"])
    db(expire)
    for state in ("active", "archived", "expiring"):
        body = problem(op(client, "items.update", owner, item_id=item["id"],
                          lifecycle_state=state), 400)
        assert "upgrading the organization's plan" in body["detail"]
    assert _get(client, owner, item["id"])["lifecycle_state"] == "expired"


def test_unknown_lifecycle_state_is_400(client, world):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    problem(op(client, "items.update", owner, item_id=item["id"], lifecycle_state="zombie"), 400)


@pytest.mark.parametrize("actor,status", [("viewer", 403), ("readonly", 403), ("loner", 403),
                                          ("outsider", 403), ("editor", 200), ("admin", 200),
                                          ("owner", 200), ("org_owner", 200)])
def test_update_roles(client, world, actor, status):
    item = create_item(client, world["owner"], world.project_a1)
    resp = op(client, "items.update", world[actor], item_id=item["id"], name="by " + actor)
    if status == 200:
        assert ok(resp)["item"]["name"] == "by " + actor
    else:
        problem(resp, status)
        assert _get(client, world["owner"], item["id"])["name"] == "Scene"


def test_update_missing_item_is_404(client, world):
    problem(op(client, "items.update", world["owner"],
               item_id="00000000-0000-4000-8000-000000000000", name="x"), 404)


def test_update_is_audited_once(client, world, db):
    owner = world["owner"]
    item = create_item(client, owner, world.project_a1)
    ok(op(client, "items.update", owner, item_id=item["id"], name="n"))

    async def q(conn):
        return await conn.fetch("SELECT operation, target_ids, request_id FROM geopera.audit_log"
                                " WHERE operation = 'items.update'")
    rows = db(q)
    assert len(rows) == 1 and item["id"] in rows[0]["target_ids"] and rows[0]["request_id"]
