"""/api and GET /v1/op are generated from the op registry: one typed path per op."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import TypeAdapter

from conftest import item_params
from geopera_stac_ext.ops.catalog import REGISTRY

FIRST_OPS = ("collections.create", "collections.list", "collections.get", "items.create",
             "items.get", "items.list")


@pytest.fixture
def openapi(client) -> dict:
    resp = client.get("/api")
    assert resp.status_code == 200
    return resp.json()


def resolve(doc: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def test_one_post_path_per_registered_op(openapi):
    op_paths = {p for p in openapi["paths"] if p.startswith("/v1/op/")}
    assert op_paths == {f"/v1/op/{op_id}" for op_id in REGISTRY}
    assert set(FIRST_OPS) <= set(REGISTRY)
    for op_id, operation in REGISTRY.items():
        item = openapi["paths"][f"/v1/op/{op_id}"]
        assert set(item) == {"post"}, op_id
        post = item["post"]
        assert post["operationId"] == op_id
        assert post["summary"] == operation.purpose
        assert post["x-side-effect"] == operation.side_effect
        assert post["x-scope"] == operation.scope


def test_operation_ids_are_unique(openapi):
    ids = [o["operationId"] for item in openapi["paths"].values() for o in item.values()
           if isinstance(o, dict) and "operationId" in o]
    assert len(ids) == len(set(ids))


def test_request_bodies_are_the_params_models(openapi):
    for op_id, operation in REGISTRY.items():
        body = openapi["paths"][f"/v1/op/{op_id}"]["post"]["requestBody"]
        assert body["required"] is True
        schema = resolve(openapi, body["content"]["application/json"]["schema"])
        fields = {f.alias or n: f for n, f in operation.params.model_fields.items()}
        assert set(schema["properties"]) == set(fields), op_id
        assert set(schema.get("required", [])) == {
            n for n, f in fields.items() if f.is_required()}, op_id
        assert schema["additionalProperties"] is False, op_id


def test_response_bodies_are_typed(openapi):
    for op_id, operation in REGISTRY.items():
        responses = openapi["paths"][f"/v1/op/{op_id}"]["post"]["responses"]
        ok = responses["200"]["content"]
        assert operation.media_type in ok, op_id
        schema = next(iter(ok.values())).get("schema") or responses["200"]["content"][
            "application/json"]["schema"]
        schema = resolve(openapi, schema)
        assert schema.get("type") in ("object", "array") or "anyOf" in schema, (op_id, schema)
        for status in ("400", "401"):
            problem = responses[status]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}
        assert "422" not in responses, op_id  # bad input is a 400 problem, not FastAPI's 422


def test_first_ops_have_the_documented_shapes(openapi):
    def body(op_id: str) -> dict:
        ref = openapi["paths"][f"/v1/op/{op_id}"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]
        return resolve(openapi, ref)

    def result(op_id: str) -> dict:
        return openapi["paths"][f"/v1/op/{op_id}"]["post"]["responses"]["200"]["content"][
            "application/json"]["schema"]

    items_list = body("items.list")
    assert items_list["properties"]["project_id"]["format"] == "uuid"
    assert items_list["properties"]["limit"]["minimum"] == 1
    assert items_list["properties"]["limit"]["maximum"] == 1000
    assert items_list["properties"]["offset"]["minimum"] == 0
    assert items_list["properties"]["uncollected"]["type"] == "boolean"
    assert set(resolve(openapi, result("items.list"))["properties"]) >= {"items", "total"}
    assert set(resolve(openapi, result("items.get"))["properties"]) == {"item"}
    assert result("collections.list")["type"] == "array"
    color = body("collections.create")["properties"]["color"]
    assert any(alt.get("pattern") == "^#[0-9a-fA-F]{6}$" for alt in color["anyOf"])
    assert "assets" in body("items.create")["required"]


def test_problem_schema_lists_the_seven_fields(openapi):
    problem = openapi["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance",
                                        "code", "request_id"}
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_openapi_document_is_valid(openapi):
    from openapi_spec_validator import validate

    validate(openapi)


def test_openapi_and_catalogue_need_no_key(client):
    assert client.get("/api").status_code == 200
    assert client.get("/v1/op").status_code == 200


def test_catalogue_matches_the_registry(client):
    resp = client.get("/v1/op")
    assert resp.status_code == 200
    entries = resp.json()["operations"]
    assert [e["id"] for e in entries] == sorted(REGISTRY)
    for e in entries:
        operation = REGISTRY[e["id"]]
        assert e["side_effect"] == operation.side_effect
        assert e["side_effect"] in ("read", "compute", "destructive", "share_export")
        assert e["scope"] == operation.scope
        assert e["purpose"] == operation.purpose
        assert e["path"] == f"/v1/op/{e['id']}"
        assert e["params_schema"] == operation.params.model_json_schema()
        assert e["result_schema"] == TypeAdapter(operation.result).json_schema()
        assert sorted(e["errors"]) == sorted({c.code for c in operation.errors})


def test_catalogue_lists_the_guides_scopes_and_side_effects(client):
    entries = {e["id"]: e for e in client.get("/v1/op").json()["operations"]}
    expected = {
        "items.list": ("read", "items:read"), "items.get": ("read", "items:read"),
        "items.create": ("compute", "items:write"),
        "collections.list": ("read", "collections:read"),
        "collections.get": ("read", "collections:read"),
        "collections.create": ("compute", "collections:write"),
    }
    for op_id, (side_effect, scope) in expected.items():
        assert (entries[op_id]["side_effect"], entries[op_id]["scope"]) == (side_effect, scope)


def test_catalogue_params_schemas_validate_real_bodies(client, world):
    entries = {e["id"]: e for e in client.get("/v1/op").json()["operations"]}
    good = {
        "items.create": item_params(world.project_a1),
        "items.list": {"project_id": world.project_a1, "limit": 50, "offset": 0},
        "collections.create": {"project_id": world.project_a1, "name": "C",
                               "color": "#2e7d32"},
    }
    for op_id, params in good.items():
        jsonschema.validate(params, entries[op_id]["params_schema"])
    bad = [
        ("items.list", {"project_id": world.project_a1, "limit": 0}),
        ("items.list", {"project_id": world.project_a1, "surprise": 1}),
        ("items.list", {}),
        ("collections.create", {"project_id": world.project_a1, "name": "C", "color": "red"}),
    ]
    for op_id, params in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(params, entries[op_id]["params_schema"])
