"""The OpenAPI document's house rules: 400 problem+json instead of 422, and the bearer key."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from geopera_stac_ext.api.stac_auth import MGMT_PREFIX
from geopera_stac_ext.core.problem import PROBLEM_JSON

SECURITY_SCHEME = "geopera_key"
# Routes that answer without a key (everything else declares the bearer scheme).
OPEN_ROUTES = {("/api", "get"), ("/api.html", "get"), ("/v1/op", "get")}
PROBLEM_REF = {"schema": {"$ref": "#/components/schemas/Problem"}}
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance", "code", "request_id"],
    "properties": {k: {"type": "integer" if k == "status" else "string"}
                   for k in ("type", "title", "status", "detail", "instance", "code",
                             "request_id")},
}


def install_openapi(app: FastAPI) -> None:
    """Generate the document once with FastAPI's own generator, then apply the house rules.

    NOTE: assigning `app.openapi` is FastAPI's documented way to customise the generated
    schema (https://fastapi.tiangolo.com/how-to/extending-openapi/); this is the one place
    that does it, and tests/ops/test_openapi.py pins the result.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        problems_instead_of_422(schema)
        require_the_key(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def problems_instead_of_422(schema: dict[str, Any]) -> None:
    """FastAPI documents a 422 HTTPValidationError for every route with a body or query; this
    service answers bad input with a 400 problem instead (api/problems.py)."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", {"description": "Invalid request",
                                             "content": {PROBLEM_JSON: PROBLEM_REF}})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["Problem"] = PROBLEM_SCHEMA


def require_the_key(schema: dict[str, Any]) -> None:
    """/api declares the bearer API key and every protected route requires it, so Swagger UI
    (/api.html) offers Authorize and its "Try it out" calls carry the key."""
    schema.setdefault("components", {})["securitySchemes"] = {SECURITY_SCHEME: {
        "type": "http", "scheme": "bearer", "bearerFormat": "gpra_… API key",
        "description": "A Geopera API key, sent as `Authorization: Bearer <key>`.",
    }}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or (path, method) in OPEN_ROUTES \
                    or path.startswith(MGMT_PREFIX):
                continue
            operation["security"] = [{SECURITY_SCHEME: []}]
            operation.setdefault("responses", {}).setdefault(
                "401", {"description": "Authentication required"})
