"""The authorization matrix of the README for the first ops: 401, 403 and 404 across roles."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conftest import (
    Actor,
    bearer,
    create_collection,
    create_item,
    item_params,
    make_actor,
    ok,
    op,
    problem,
)
from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.storage import buckets

READ_OPS = ("collections.list", "collections.get", "items.get", "items.list")
WRITE_OPS = ("collections.create", "items.create")
ALL_OPS = READ_OPS + WRITE_OPS


@pytest.fixture
def a1(client, world) -> dict[str, Any]:
    """One collection and one item in project A1, created by its owner."""
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    item = create_item(client, owner, world.project_a1, collection_id=col["id"])
    return {"collection": col, "item": item}


def params_for(op_id: str, project_id: str, collection_id: str, item_id: str) -> dict[str, Any]:
    return {
        "collections.create": {"project_id": project_id, "name": "New"},
        "collections.list": {"project_id": project_id},
        "collections.get": {"project_id": project_id, "collection_id": collection_id},
        "items.create": item_params(project_id),
        "items.get": {"item_id": item_id},
        "items.list": {"project_id": project_id},
    }[op_id]


def call(client, op_id: str, actor: Actor | None, world, a1) -> Any:
    return op(client, op_id, actor, **params_for(op_id, world.project_a1, a1["collection"]["id"],
                                                  a1["item"]["id"]))


def extra_actor(db, email: str, grants, scopes: str | None = None) -> Actor:
    return db(lambda conn: make_actor(conn, email, grants, scopes))


# ------------------------------------------------------------------ 401


@pytest.mark.parametrize("authorization,needle", [
    (None, "missing Authorization"),
    ("", "missing Authorization"),
    ("gpra_abc", "Bearer"),
    ("Basic dXNlcjpwYXNz", "Bearer"),
    ("Bearer", "Bearer"),
    ("Bearer    ", "Bearer"),
    ("Bearer not-a-geopera-key", "invalid API key"),
    ("Bearer gpra_" + "A" * 43, "invalid API key"),
])
def test_missing_malformed_or_unknown_key_is_401_for_every_op(client, world, a1, authorization,
                                                              needle):
    headers = {} if authorization is None else {"Authorization": authorization}
    for op_id in ALL_OPS:
        params = params_for(op_id, world.project_a1, a1["collection"]["id"], a1["item"]["id"])
        resp = client.post(f"/v1/op/{op_id}", json=params, headers=headers)
        body = problem(resp, 401)
        assert needle in body["detail"], (op_id, body)
        assert resp.headers["www-authenticate"].startswith("Bearer")
    # The STAC API is behind the same key.
    resp = client.get("/collections", headers=headers)
    assert needle in problem(resp, 401)["detail"]


def test_revoked_key_is_401_for_every_op(client, world, a1, db):
    owner = world["owner"]
    ok(call(client, "items.list", owner, world, a1))
    db(lambda conn: tenancy.revoke_key(conn, owner.key_id))
    for op_id in ALL_OPS:
        body = problem(call(client, op_id, owner, world, a1), 401)
        assert "revoked" in body["detail"], (op_id, body)
    assert "revoked" in problem(client.get("/search", headers=owner.headers), 401)["detail"]
    # Revoking one key leaves the user's other keys working.
    other = db(lambda conn: tenancy.create_key(conn, owner.user_id))
    resp = client.post("/v1/op/items.list", json={"project_id": world.project_a1},
                       headers=bearer(other["api_key"]))
    assert ok(resp)["total"] == 1


def test_no_key_with_a_bad_body_is_still_401(client, world):
    # NOTE: the key is checked before the body: an anonymous caller learns nothing from 400s.
    for body in (b"[]", b"{", b'{"limit": 0}'):
        resp = client.post("/v1/op/items.list", content=body,
                           headers={"Content-Type": "application/json"})
        problem(resp, 401)
    resp = client.post("/v1/op/items.list", content=b"{",
                       headers={"Content-Type": "application/json",
                                "Authorization": "Bearer gpra_unknown"})
    problem(resp, 401)


def test_valid_key_with_a_bad_body_is_400(client, world):
    resp = client.post("/v1/op/items.list", content=b"[]",
                       headers={"Content-Type": "application/json", **world["loner"].headers})
    problem(resp, 400)


# ------------------------------------------------------------------ roles on A1

EXPECTED = {
    # actor: (status for reads, status for writes) on project A1
    "viewer": (200, 403),
    "editor": (200, 200),
    "admin": (200, 200),
    "owner": (200, 200),
    "org_owner": (200, 200),
    "readonly": (200, 403),   # owner role, but the key lacks the :write scopes
    "outsider": (403, 403),   # owner of another organization
    "loner": (403, 403),      # no memberships at all
}


@pytest.mark.parametrize("actor_name", sorted(EXPECTED))
def test_role_matrix_on_project_a1(client, world, a1, actor_name):
    actor = world[actor_name]
    read_status, write_status = EXPECTED[actor_name]
    for op_id in ALL_OPS:
        want = read_status if op_id in READ_OPS else write_status
        resp = call(client, op_id, actor, world, a1)
        if want == 200:
            ok(resp)
        else:
            body = problem(resp, want)
            assert body["code"] == "forbidden", (op_id, body)


def test_forbidden_messages_say_what_is_missing(client, world, a1):
    viewer_write = problem(call(client, "items.create", world["viewer"], world, a1), 403)
    assert "editor" in viewer_write["detail"] and "viewer" in viewer_write["detail"]
    no_scope = problem(call(client, "collections.create", world["readonly"], world, a1), 403)
    assert "collections:write" in no_scope["detail"]
    outsider = problem(call(client, "items.list", world["outsider"], world, a1), 403)
    assert "not a member" in outsider["detail"]


@pytest.mark.parametrize("scopes,allowed", [
    ("items:read", {"items.get", "items.list"}),
    ("items:read,items:write", {"items.get", "items.list", "items.create"}),
    ("collections:read", {"collections.list", "collections.get"}),
    ("collections:read,collections:write",
     {"collections.list", "collections.get", "collections.create"}),
])
def test_each_op_needs_its_own_scope(client, world, a1, db, scopes, allowed):
    actor = extra_actor(db, "scoped@a.example", [("project", world.project_a1, "owner")], scopes)
    for op_id in ALL_OPS:
        resp = call(client, op_id, actor, world, a1)
        if op_id in allowed:
            ok(resp)
        else:
            scope = {"items": "items", "collections": "collections"}[op_id.split(".")[0]]
            need = f"{scope}:{'write' if op_id in WRITE_OPS else 'read'}"
            assert need in problem(resp, 403)["detail"], (op_id, scopes)


def test_missing_scope_is_403_even_for_a_missing_target(client, world, db):
    actor = extra_actor(db, "scoped@a.example", [("project", world.project_a1, "owner")],
                        "collections:read")
    # NOTE: order of checks: scope (403) comes before the target's existence (404).
    problem(op(client, "items.get", actor, item_id=str(uuid.uuid4())), 403)
    problem(op(client, "items.list", actor, project_id=str(uuid.uuid4())), 403)


# ------------------------------------------------------------------ org-level grants


def test_org_grant_applies_to_every_project_of_the_org(client, world, db):
    org_viewer = extra_actor(db, "orgviewer@a.example", [("org", world.org_a, "viewer")])
    org_editor = extra_actor(db, "orgeditor@a.example", [("org", world.org_a, "editor")])
    for project in (world.project_a1, world.project_a2):
        col = create_collection(client, org_editor, project)
        item = create_item(client, org_editor, project, collection_id=col["id"])
        for op_id in READ_OPS:
            ok(op(client, op_id, org_viewer,
                  **params_for(op_id, project, col["id"], item["id"])))
        for op_id in WRITE_OPS:
            problem(op(client, op_id, org_viewer,
                       **params_for(op_id, project, col["id"], item["id"])), 403)
    # ...but not to another organization's project.
    for actor in (org_viewer, org_editor):
        problem(op(client, "items.list", actor, project_id=world.project_b1), 403)
        problem(op(client, "collections.create", actor, project_id=world.project_b1,
                   name="x"), 403)


def test_project_grant_does_not_extend_to_sibling_projects(client, world):
    owner = world["owner"]  # owner of A1 only
    item = create_item(client, world["org_owner"], world.project_a2)
    col = create_collection(client, world["org_owner"], world.project_a2)
    for op_id in ALL_OPS:
        problem(op(client, op_id, owner,
                   **params_for(op_id, world.project_a2, col["id"], item["id"])), 403)


def test_strongest_of_project_and_org_role_counts(client, world, db):
    both = extra_actor(db, "both@a.example", [("org", world.org_a, "viewer"),
                                              ("project", world.project_a1, "editor")])
    create_item(client, both, world.project_a1)                 # editor via the project grant
    problem(op(client, "items.create", both, **item_params(world.project_a2)), 403)  # org viewer
    ok(op(client, "items.list", both, project_id=world.project_a2))
    org_admin = extra_actor(db, "orgadmin@a.example", [("org", world.org_a, "admin"),
                                                       ("project", world.project_a1, "viewer")])
    create_item(client, org_admin, world.project_a1)            # org admin beats project viewer


def test_project_without_organization_uses_project_grants_only(client, world, db):
    async def setup(conn):
        project = await tenancy.create_project(conn, "Solo")
        await buckets.allow_bucket(conn, None, project["id"], "s3://bucket/")
        actor = await make_actor(conn, "solo@x.example", [("project", project["id"], "editor")])
        return project["id"], actor

    solo, actor = db(setup)
    create_item(client, actor, solo)
    assert ok(op(client, "items.list", actor, project_id=solo))["total"] == 1
    problem(op(client, "items.list", world["org_owner"], project_id=solo), 403)


def test_another_orgs_principal_sees_nothing_of_a(client, world, a1):
    outsider = world["outsider"]
    # Its own project works...
    create_item(client, outsider, world.project_b1)
    assert ok(op(client, "items.list", outsider, project_id=world.project_b1))["total"] == 1
    # ...but every A1 op is 403 and never returns A1 data.
    for op_id in ALL_OPS:
        resp = call(client, op_id, outsider, world, a1)
        body = problem(resp, 403)
        assert a1["item"]["name"] not in resp.text and "Survey" not in resp.text, body
    # A's item id addressed with B's project id is not a way around the check.
    problem(op(client, "collections.get", outsider, project_id=world.project_b1,
               collection_id=a1["collection"]["id"]), 404)


# ------------------------------------------------------------------ 404


def test_missing_project_is_404_for_project_ops(client, world):
    ghost = str(uuid.uuid4())
    for op_id in ("collections.create", "collections.list", "collections.get", "items.create",
                  "items.list"):
        body = problem(op(client, op_id, world["owner"],
                          **params_for(op_id, ghost, str(uuid.uuid4()), str(uuid.uuid4()))), 404)
        assert ghost in body["detail"], (op_id, body)


def test_missing_item_is_404(client, world):
    ghost = str(uuid.uuid4())
    body = problem(op(client, "items.get", world["owner"], item_id=ghost), 404)
    assert ghost in body["detail"]
    # Also for a non-member: a missing item is 404, not 403 (the guide's items.get rule).
    problem(op(client, "items.get", world["loner"], item_id=ghost), 404)


def test_soft_deleted_item_is_404_and_gone_from_lists(client, world, a1, db):
    owner, item_id = world["owner"], a1["item"]["id"]
    db(lambda conn: conn.execute(
        "UPDATE geopera.items SET deleted_at = now(), lifecycle_state = 'deleted' "
        "WHERE id = $1", uuid.UUID(item_id)))
    for actor in (owner, world["viewer"], world["org_owner"], world["loner"]):
        problem(op(client, "items.get", actor, item_id=item_id), 404)
    assert ok(op(client, "items.list", owner, project_id=world.project_a1)) == {
        "items": [], "total": 0}
    listed = ok(op(client, "collections.list", owner, project_id=world.project_a1))
    assert listed[0]["item_count"] == 0


def test_existing_item_of_inaccessible_project_is_403(client, world, a1):
    for name in ("loner", "outsider"):
        body = problem(op(client, "items.get", world[name], item_id=a1["item"]["id"]), 403)
        assert a1["item"]["name"] not in str(body)


def test_missing_or_soft_deleted_collection_is_404(client, world, a1, db):
    owner = world["owner"]
    problem(op(client, "collections.get", owner, project_id=world.project_a1,
               collection_id=str(uuid.uuid4())), 404)
    cid = a1["collection"]["id"]
    db(lambda conn: conn.execute(
        "UPDATE geopera.collections SET deleted_at = now() WHERE id = $1", uuid.UUID(cid)))
    problem(op(client, "collections.get", owner, project_id=world.project_a1,
               collection_id=cid), 404)
    assert ok(op(client, "collections.list", owner, project_id=world.project_a1)) == []


def test_collection_of_another_project_is_404_even_for_a_member_of_both(client, world):
    org_owner = world["org_owner"]
    in_a2 = create_collection(client, org_owner, world.project_a2, name="A2 only")
    body = problem(op(client, "collections.get", org_owner, project_id=world.project_a1,
                      collection_id=in_a2["id"]), 404)
    assert "A2 only" not in str(body)
    got = ok(op(client, "collections.get", org_owner, project_id=world.project_a2,
                collection_id=in_a2["id"]))
    assert got["name"] == "A2 only"


def test_soft_deleted_collection_cannot_receive_items(client, world, a1, db):
    cid = a1["collection"]["id"]
    db(lambda conn: conn.execute(
        "UPDATE geopera.collections SET deleted_at = now() WHERE id = $1", uuid.UUID(cid)))
    body = problem(op(client, "items.create", world["owner"],
                      **item_params(world.project_a1, collection_id=cid)), 400)
    assert cid in body["detail"]


def test_denied_writes_leave_nothing_behind(client, world, a1, db):
    for name in ("viewer", "readonly", "outsider", "loner"):
        for op_id in WRITE_OPS:
            call(client, op_id, world[name], world, a1)
    counts = db(lambda conn: conn.fetchrow(
        "SELECT (SELECT count(*) FROM geopera.items) AS items,"
        " (SELECT count(*) FROM geopera.collections) AS collections,"
        " (SELECT count(*) FROM pgstac.items) AS stac_items,"
        " (SELECT count(*) FROM geopera.audit_log) AS audits"))
    assert dict(counts) == {"items": 1, "collections": 1, "stac_items": 1, "audits": 2}
