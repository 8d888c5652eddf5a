"""The ApiExtension that mounts the op API: one POST route per registered op, plus the catalogue."""

import inspect
import logging
from typing import Any

import attr
import orjson
from fastapi import Body, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter
from stac_fastapi.types.extension import ApiExtension

from geopera_stac_ext.auth.guard import authenticate
from geopera_stac_ext.db.pool import connection
from geopera_stac_ext.core.errors import GeoperaError, NotFound, TransientConflict
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Operation, load_all
from geopera_stac_ext.api.problems import PROBLEM_JSON

OP_PREFIX = "/v1/op"
log = logging.getLogger(__name__)


def _json_default(o: Any) -> Any:
    if isinstance(o, BaseModel):
        return o.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(o).__name__}")


def render(result: Any, media_type: str) -> Response:
    body = orjson.dumps(result, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, media_type=media_type)


# NOTE: a transaction the server aborted to break a deadlock (40P01) or a serialization
# conflict (40001) changed nothing (db.pool.translate makes it a TransientConflict), so the
# op is run again, whole, on a fresh transaction.
WRITE_ATTEMPTS = 3


async def run_op(request: Request, operation: Operation, params: BaseModel) -> Any:
    """Authenticate, open a connection (a transaction for writes), run the handler."""
    request_id = request.scope.get("state", {}).get("request_id", "")
    # NOTE: reads too: a search the database picked as a deadlock victim changed nothing.
    attempts = WRITE_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            async with connection(request.app, write=operation.write) as conn:
                principal = await authenticate(conn, request.headers.get("authorization"))
                ctx = OpContext(request=request, conn=conn, principal=principal,
                                op_id=operation.id, request_id=request_id,
                                settings=request.app.state.geopera_settings,
                                clock=request.app.state.clock)
                return await operation.handler(ctx, params)
        except TransientConflict as e:
            if attempt == attempts:
                raise
            log.info("%s: %s (attempt %d of %d); running it again", operation.id,
                     type(e.__cause__).__name__, attempt, attempts)
    raise AssertionError("unreachable")


def _endpoint_for(operation: Operation):
    async def endpoint(request: Request, params: Any) -> Response:
        result = await run_op(request, operation, params)
        return render(result, operation.media_type)

    # NOTE: FastAPI reads the body model from the signature; build it from the registry entry.
    endpoint.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=Request),
        inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=operation.params, default=Body(...)),
    ])
    endpoint.__name__ = operation.id.replace(".", "_")
    return endpoint


def _error_responses(operation: Operation) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for cls in (*operation.errors,):
        out[cls.status] = {"description": cls.title,
                           "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, title in ((400, "Invalid request"), (401, "Authentication required")):
        out.setdefault(status, {"description": title,
                                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    return out


def catalogue(registry: dict[str, Operation]) -> list[dict[str, Any]]:
    """The machine-readable operation catalogue served at GET /v1/op."""
    out = []
    for o in sorted(registry.values(), key=lambda o: o.id):
        out.append({
            "id": o.id,
            "side_effect": o.side_effect,
            "scope": o.scope,
            "purpose": o.purpose,
            "path": f"{OP_PREFIX}/{o.id}",
            "media_type": o.media_type,
            "errors": sorted({e.code for e in o.errors}),
            "params_schema": o.params.model_json_schema(),
            "result_schema": TypeAdapter(o.result).json_schema(),
        })
    return out


@attr.s
class OperationsExtension(ApiExtension):
    """Mounts `POST /v1/op/{operation_id}` for every op in the registry."""

    conformance_classes: list[str] = attr.ib(factory=list)
    schema_href: str | None = attr.ib(default=None)

    def register(self, app: FastAPI) -> None:
        registry = load_all()
        for operation in sorted(registry.values(), key=lambda o: o.id):
            app.add_api_route(
                f"{OP_PREFIX}/{operation.id}",
                _endpoint_for(operation),
                methods=["POST"],
                operation_id=operation.id,
                summary=operation.purpose,
                description=(f"Side effect: `{operation.side_effect}`. "
                             f"Scope: `{operation.scope}`."),
                tags=[operation.id.split(".")[0]],
                response_model=operation.result,
                responses={200: {"content": {operation.media_type: {}}},
                           **_error_responses(operation)},
                openapi_extra={"x-side-effect": operation.side_effect,
                               "x-scope": operation.scope},
            )
        cat = catalogue(registry)

        async def list_operations() -> Response:
            return render({"operations": cat}, "application/json")

        async def unknown_operation(operation_id: str) -> Response:
            raise NotFound(f"unknown operation `{operation_id}`; GET {OP_PREFIX} lists them")

        app.add_api_route(OP_PREFIX, list_operations, methods=["GET"],
                          operation_id="operations.catalogue", tags=["operations"],
                          summary="The machine-readable operation catalogue")
        app.add_api_route(f"{OP_PREFIX}/{{operation_id}}", unknown_operation, methods=["POST"],
                          include_in_schema=False)

        original = app.openapi

        def openapi() -> dict[str, Any]:
            if app.openapi_schema:
                return app.openapi_schema
            schema = original()
            # NOTE: FastAPI documents a 422 HTTPValidationError for every route with a body or
            # query; this service answers bad input with a 400 problem instead (problems.py).
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None:
                        responses.setdefault("400", {
                            "description": "Invalid request",
                            "content": {PROBLEM_JSON: {
                                "schema": {"$ref": "#/components/schemas/Problem"}}}})
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = {
                "type": "object",
                "required": ["type", "title", "status", "detail", "instance", "code",
                             "request_id"],
                "properties": {k: {"type": "integer" if k == "status" else "string"}
                               for k in ("type", "title", "status", "detail", "instance",
                                         "code", "request_id")},
            }
            return schema

        app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["OperationsExtension", "GeoperaError"]
