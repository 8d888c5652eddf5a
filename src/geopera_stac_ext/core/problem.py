"""problem+json rendering: a GeoperaError as an RFC 9457 response, pydantic errors as named fields."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from geopera_stac_ext.core.errors import GeoperaError
from geopera_stac_ext.core.jsonsafe import FieldValueError

PROBLEM_JSON = "application/problem+json"


def problem_response(request: Request | None, err: GeoperaError, scope: Scope | None = None
                     ) -> Response:
    scope = scope if scope is not None else (request.scope if request else {})
    request_id = scope.get("state", {}).get("request_id") or new_request_id()
    body = err.problem(instance=scope.get("path", ""), request_id=request_id)
    headers = {"X-Request-ID": request_id, **err.headers}
    return Response(orjson.dumps(body), status_code=err.status, media_type=PROBLEM_JSON,
                    headers=headers)


def new_request_id() -> str:
    return uuid.uuid4().hex


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """A sentence naming each bad field, plus a machine-readable list."""
    items = []
    for e in errors:
        field = _loc(tuple(e.get("loc", ())))
        kind = e.get("type", "")
        if kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "missing" and field == "body":
            msg = "the request body must be a JSON object"
        elif kind == "missing":
            msg = "required field missing"
        elif kind in ("json_invalid", "json_type"):
            field, msg = "body", "body is not valid JSON"
        elif kind in ("model_attributes_type", "dict_type", "model_type") and field in ("body", ""):
            field, msg = "body", "body must be a JSON object"
        elif isinstance(err := (e.get("ctx") or {}).get("error"), FieldValueError):
            # NOTE: a whole-body check (core/jsonsafe.py) names the field itself.
            prefix = field if field not in ("body", "") else ""
            field = ".".join(p for p in (prefix, err.field) if p)
            msg = err.message
        else:
            # NOTE: pydantic prefixes errors raised by our validators with "Value error, ".
            msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
        items.append({"field": field, "message": msg})
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in items) or "invalid request"
    return detail, items
