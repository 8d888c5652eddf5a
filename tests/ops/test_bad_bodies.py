"""Bad request bodies and transport errors: 400 naming the field, 404/405/413/500 as problems."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from conftest import create_collection, item_params, ok, op, problem, square


def post_raw(client: TestClient, op_id: str, actor, content: bytes | str,
             content_type: str | None = "application/json"):
    headers = dict(actor.headers)
    if content_type:
        headers["Content-Type"] = content_type
    return client.post(f"/v1/op/{op_id}", content=content, headers=headers)


def fields_of(body: dict) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


# ------------------------------------------------------------------ not a JSON object


@pytest.mark.parametrize("content", [b'{"project_id": ', b"not json at all", b"{'a': 1}"])
def test_body_that_is_not_json_is_400(client, world, content):
    body = problem(post_raw(client, "items.list", world["owner"], content), 400)
    assert "not valid JSON" in body["detail"]
    assert fields_of(body) == {"body"}


@pytest.mark.parametrize("content", [b"[1, 2]", b'"items"', b"42", b"true", b"null"])
def test_body_that_is_not_an_object_is_400(client, world, content):
    body = problem(post_raw(client, "items.list", world["owner"], content), 400)
    assert "JSON object" in body["detail"], body
    assert fields_of(body) == {"body"}


def test_empty_body_is_400_asking_for_an_object(client, world):
    body = problem(post_raw(client, "items.list", world["owner"], b""), 400)
    assert "JSON object" in body["detail"], body


def test_body_with_non_json_content_type_is_400(client, world):
    body = problem(post_raw(client, "items.list", world["owner"],
                            b'{"project_id": "x"}', "text/plain"), 400)
    assert "JSON object" in body["detail"], body


# ------------------------------------------------------------------ field-level errors


def test_unknown_field_is_400_naming_it(client, world):
    body = problem(op(client, "items.list", world["owner"], project_id=world.project_a1,
                      colour="red"), 400)
    assert "colour" in body["detail"] and "unknown field" in body["detail"]
    assert fields_of(body) == {"colour"}


def test_unknown_nested_field_is_400_naming_its_path(client, world):
    params = item_params(world.project_a1)
    params["assets"][0]["sha"] = "abc"
    body = problem(op(client, "items.create", world["owner"], **params), 400)
    assert fields_of(body) == {"assets.0.sha"}


@pytest.mark.parametrize("op_id,params,field", [
    ("items.list", {"limit": "many"}, "limit"),
    ("items.list", {"uncollected": "maybe"}, "uncollected"),
    ("items.list", {"offset": [1]}, "offset"),
    ("items.list", {"limit": True}, "limit"),
    ("items.list", {"limit": "7"}, "limit"),
    ("items.list", {"limit": 2.5}, "limit"),
    ("items.list", {"uncollected": "yes"}, "uncollected"),
    ("collections.create", {"show_on_map": "no"}, "show_on_map"),
    ("collections.create", {"name": 12}, "name"),
    ("collections.create", {"layer_order": "top"}, "layer_order"),
    ("items.create", {"cloud_cover": "cloudy"}, "cloud_cover"),
    ("items.create", {"properties": ["a"]}, "properties"),
])
def test_wrong_type_is_400_naming_the_field(client, world, op_id, params, field):
    base = {"items.list": {"project_id": world.project_a1},
            "collections.create": {"project_id": world.project_a1, "name": "C"},
            "items.create": item_params(world.project_a1)}[op_id]
    body = problem(op(client, op_id, world["owner"], **{**base, **params}), 400)
    assert field in fields_of(body), body
    assert body["detail"].startswith(f"{field}:") or f"; {field}:" in body["detail"]


@pytest.mark.parametrize("op_id,params,missing", [
    ("items.list", {}, {"project_id"}),
    ("items.get", {}, {"item_id"}),
    ("collections.get", {"project_id": str(uuid.uuid4())}, {"collection_id"}),
    ("collections.create", {}, {"project_id", "name"}),
])
def test_missing_required_field_is_400_naming_each(client, world, op_id, params, missing):
    body = problem(op(client, op_id, world["owner"], **params), 400)
    assert fields_of(body) == missing
    for f in missing:
        assert f"{f}: required field missing" in body["detail"]


def test_items_create_without_assets_names_assets(client, world):
    params = item_params(world.project_a1)
    del params["assets"]
    body = problem(op(client, "items.create", world["owner"], **params), 400)
    assert fields_of(body) == {"assets"}


@pytest.mark.parametrize("limit", [0, 1001, -5])
def test_limit_out_of_range_is_400(client, world, limit):
    body = problem(op(client, "items.list", world["owner"], project_id=world.project_a1,
                      limit=limit), 400)
    assert fields_of(body) == {"limit"}


def test_limit_bounds_are_inclusive(client, world):
    for limit in (1, 1000):
        assert ok(op(client, "items.list", world["owner"], project_id=world.project_a1,
                     limit=limit))["total"] == 0


def test_negative_offset_is_400(client, world):
    body = problem(op(client, "items.list", world["owner"], project_id=world.project_a1,
                      offset=-1), 400)
    assert fields_of(body) == {"offset"}


@pytest.mark.parametrize("value", ["8f2c1e4a-...", "not-a-uuid", 12, ""])
def test_bad_uuid_is_400(client, world, value):
    body = problem(op(client, "items.get", world["owner"], item_id=value), 400)
    assert fields_of(body) == {"item_id"}
    assert "UUID" in body["detail"]


@pytest.mark.parametrize("color", ["red", "#12345", "#gggggg", "2e7d32"])
def test_bad_color_is_400(client, world, color):
    body = problem(op(client, "collections.create", world["owner"],
                      project_id=world.project_a1, name="C", color=color), 400)
    assert fields_of(body) == {"color"}
    assert "#rrggbb" in body["detail"]


@pytest.mark.parametrize("geometry", [
    {"type": "Circle", "coordinates": [0, 0]},
    {"type": "Point", "coordinates": [200, 0]},
    {"type": "Point", "coordinates": ["a", "b"]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
    "POINT(0 0)",
])
def test_bad_geometry_is_400(client, world, geometry):
    body = problem(op(client, "items.create", world["owner"],
                      **item_params(world.project_a1, geometry=geometry)), 400)
    assert fields_of(body) == {"geometry"}


@pytest.mark.parametrize("bbox", [[0, 0, 1], [0, 10, 1, 5], [0, -95, 1, 0], "0,0,1,1"])
def test_bad_bbox_is_400(client, world, bbox):
    params = item_params(world.project_a1, bbox=bbox)
    body = problem(op(client, "items.create", world["owner"], **params), 400)
    assert fields_of(body) == {"bbox"}


def test_bad_datetime_is_400(client, world):
    body = problem(op(client, "items.create", world["owner"],
                      **item_params(world.project_a1, datetime="yesterday")), 400)
    assert fields_of(body) == {"datetime"}
    assert "RFC 3339" in body["detail"]


def test_asset_list_without_data_asset_is_400(client, world):
    params = item_params(world.project_a1)
    params["assets"][0]["key"] = "thumbnail"
    body = problem(op(client, "items.create", world["owner"], **params), 400)
    assert "data" in body["detail"] and "assets" in body["detail"]
    assert "Value error" not in body["detail"]


def test_empty_asset_list_is_400(client, world):
    body = problem(op(client, "items.create", world["owner"],
                      **item_params(world.project_a1, assets=[])), 400)
    assert fields_of(body) == {"assets"}


def test_duplicate_asset_keys_are_400(client, world):
    params = item_params(world.project_a1)
    params["assets"] = params["assets"] * 2
    body = problem(op(client, "items.create", world["owner"], **params), 400)
    assert "unique" in body["detail"]


def test_item_without_geometry_or_bbox_is_400(client, world):
    params = item_params(world.project_a1)
    del params["geometry"]
    body = problem(op(client, "items.create", world["owner"], **params), 400)
    assert "geometry" in body["detail"]


def test_collection_id_and_uncollected_together_are_400(client, world):
    body = problem(op(client, "items.list", world["owner"], project_id=world.project_a1,
                      collection_id=str(uuid.uuid4()), uncollected=True), 400)
    assert "collection_id" in body["detail"] and "uncollected" in body["detail"]


def test_items_create_into_collection_of_another_project_is_400(client, world):
    org_owner = world["org_owner"]
    other = create_collection(client, org_owner, world.project_a2)
    resp = op(client, "items.create", org_owner,
              **item_params(world.project_a1, collection_id=other["id"]))
    body = problem(resp, 400)
    assert other["id"] in body["detail"] and "collection_id" in body["detail"]
    # NOTE: nothing was written: the project still has no items.
    assert ok(op(client, "items.list", org_owner, project_id=world.project_a1))["total"] == 0


def test_items_create_into_unknown_collection_is_400(client, world):
    body = problem(op(client, "items.create", world["owner"],
                      **item_params(world.project_a1, collection_id=str(uuid.uuid4()))), 400)
    assert "collection_id" in body["detail"]


def test_problem_detail_lists_every_bad_field(client, world):
    body = problem(op(client, "items.list", world["owner"], project_id="nope", limit=0,
                      offset=-1, extra=1), 400)
    assert fields_of(body) == {"project_id", "limit", "offset", "extra"}
    for f in ("project_id", "limit", "offset", "extra"):
        assert f in body["detail"]


# ------------------------------------------------------------------ routing and transport


def test_unknown_operation_is_404(client, world):
    body = problem(op(client, "items.teleport", world["owner"], item_id=str(uuid.uuid4())), 404)
    assert "items.teleport" in body["detail"] and "GET /v1/op" in body["detail"]


def test_unknown_path_is_404_problem(client, world):
    body = problem(client.get("/v2/nothing", headers=world["owner"].headers), 404)
    assert "/v2/nothing" in body["detail"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_an_op_are_405(client, world, method):
    resp = client.request(method, "/v1/op/items.list", headers=world["owner"].headers)
    body = problem(resp, 405)
    assert body["code"] == "method_not_allowed"
    assert "POST" in resp.headers.get("allow", "")


def test_body_over_limit_with_content_length_is_413(client, world, settings):
    big = b'{"project_id": "' + b"x" * settings.max_body_bytes + b'"}'
    body = problem(post_raw(client, "items.list", world["owner"], big), 413)
    assert str(settings.max_body_bytes) in body["detail"]


def test_chunked_body_over_limit_is_413(client, world, settings):
    def chunks():
        yield b'{"project_id": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    resp = client.post("/v1/op/items.list", content=chunks(),
                       headers={**world["owner"].headers, "Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in resp.request.headers}
    body = problem(resp, 413)
    assert str(settings.max_body_bytes) in body["detail"]


def test_chunked_body_over_limit_is_413_over_a_real_socket(live_server, world, settings):
    def chunks():
        yield b'{"project_id": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    resp = httpx.post(f"{live_server}/v1/op/items.list", content=chunks(), timeout=60,
                      headers={**world["owner"].headers, "Content-Type": "application/json"})
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    problem(resp, 413)


def test_body_limit_comes_from_settings(settings, db_env, clock, world):
    from geopera_stac_ext.app import create_app

    settings = settings.model_copy(update={"max_body_bytes": 200})
    with TestClient(create_app(settings, pg_env=db_env, clock=clock)) as small:
        assert ok(op(small, "items.list", world["owner"], project_id=world.project_a1))
        resp = op(small, "items.list", world["owner"], project_id=world.project_a1,
                  pad="y" * 300)
        problem(resp, 413)


def test_unexpected_error_is_500_problem_without_internals(app, world, caplog):
    secret_sql = "SELECT secret FROM geopera.api_keys WHERE key_hash = $1"

    async def explode():
        raise RuntimeError(f"boom while running {secret_sql}")

    app.add_api_route("/v1/op-test/explode", explode, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/v1/op-test/explode", headers=world["owner"].headers)
    for record in caplog.records:  # NOTE: the ERROR log of this 500 is what we provoke here.
        record.expected_in_test = True
    body = problem(resp, 500)
    assert body["code"] == "internal_error"
    assert "request_id" in body["detail"]
    text = resp.text
    for leak in ("Traceback", "RuntimeError", "boom", "SELECT", "api_keys", ".py"):
        assert leak not in text
    # The server log does carry the exception for operators, tagged with the request id.
    logged = [r for r in caplog.records if r.exc_info and body["request_id"] in r.getMessage()]
    assert logged, "the unexpected error was not logged with its request id"


def test_database_error_in_a_handler_is_a_problem_not_a_trace(app, world, caplog):
    from geopera_stac_ext.db.pool import connection

    async def bad_sql(request: Request):
        async with connection(request.app) as conn:
            await conn.fetchval("SELECT * FROM geopera.no_such_table")

    app.add_api_route("/v1/op-test/bad-sql", bad_sql, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/v1/op-test/bad-sql")
    for record in caplog.records:
        record.expected_in_test = True
    problem(resp, 500)
    assert "no_such_table" not in resp.text and "SELECT" not in resp.text


# ------------------------------------------------------------------ problem shape, request ids


def test_every_problem_has_the_seven_fields_and_matching_request_id(client, world):
    owner = world["owner"]
    responses = [
        (op(client, "items.list", None, project_id=world.project_a1), 401),
        (op(client, "items.list", world["readonly"], project_id=world.project_a1), 200),
        (op(client, "collections.create", world["viewer"], project_id=world.project_a1,
            name="x"), 403),
        (op(client, "items.get", owner, item_id=str(uuid.uuid4())), 404),
        (op(client, "items.list", owner, limit=0), 400),
        (client.get("/v1/op/items.list", headers=owner.headers), 405),
        (client.get("/collections"), 401),
    ]
    seen = set()
    for resp, status in responses:
        if status == 200:
            ok(resp)
            continue
        body = problem(resp, status)
        assert body["type"].endswith(body["code"])
        assert body["instance"] == resp.request.url.path
        assert body["title"] and body["detail"]
        seen.add(body["request_id"])
    assert len(seen) == 6, "request ids must be unique per request"


def test_client_supplied_request_id_is_echoed(client, world):
    resp = client.post("/v1/op/items.list", json={"project_id": world.project_a1},
                       headers={**world["owner"].headers, "X-Request-ID": "trace-abc-123"})
    assert resp.headers["x-request-id"] == "trace-abc-123"
    resp = client.post("/v1/op/items.list", json={},
                       headers={**world["owner"].headers, "X-Request-ID": "trace-def-456"})
    assert problem(resp, 400)["request_id"] == "trace-def-456"


def test_successful_responses_carry_a_request_id_too(client, world):
    resp = op(client, "items.list", world["owner"], project_id=world.project_a1)
    ok(resp)
    assert len(resp.headers["x-request-id"]) >= 16


def test_request_id_is_in_the_access_log_line(client, world, caplog):
    caplog.set_level(logging.INFO, logger="geopera_stac_ext.access")
    resp = op(client, "items.get", world["owner"], item_id=str(uuid.uuid4()))
    body = problem(resp, 404)
    lines = [r.getMessage() for r in caplog.records if r.name == "geopera_stac_ext.access"]
    mine = [line for line in lines if body["request_id"] in line]
    assert len(mine) == 1, lines
    assert "POST /v1/op/items.get 404" in mine[0]


def test_access_log_has_the_request_id_of_a_413(client, world, caplog, settings):
    caplog.set_level(logging.INFO, logger="geopera_stac_ext.access")
    big = b"{" + b" " * (settings.max_body_bytes + 1) + b"}"
    body = problem(post_raw(client, "items.list", world["owner"], big), 413)
    assert any(body["request_id"] in r.getMessage() and " 413 " in r.getMessage()
               for r in caplog.records if r.name == "geopera_stac_ext.access")


def test_http_client_sees_problem_json_over_a_real_socket(live_server, world):
    resp = httpx.post(f"{live_server}/v1/op/items.list", content=b"[]",
                      headers={**world["owner"].headers, "Content-Type": "application/json"})
    body = problem(resp, 400)
    assert body["instance"] == "/v1/op/items.list"


def test_square_helper_is_a_valid_geometry(client, world):
    # NOTE: guards the fixtures the 400 tests perturb: the unperturbed body must succeed.
    item = ok(op(client, "items.create", world["owner"],
                 **item_params(world.project_a1, geometry=square(10, 10))))["item"]
    assert item["geometry"]["type"] == "Polygon"


def test_nul_character_is_400_naming_where_it_is(client, world):
    params = item_params(world.project_a1, name="ok")
    params["properties"] = {"note": "a\x00b"}
    body = problem(op(client, "items.create", world["owner"], **params), 400)
    assert "properties.note" in body["detail"] and "NUL" in body["detail"]
    listed = ok(op(client, "items.list", world["owner"], project_id=world.project_a1))
    assert listed["total"] == 0
