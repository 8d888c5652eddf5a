"""Request ids, body limits and the exception handlers that render every error as problem+json."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geopera_stac_ext.core.jsonsafe import FieldValueError
from geopera_stac_ext.core.errors import (
    GeoperaError,
    InternalError,
    InvalidRequest,
    PayloadTooLarge,
    for_status,
)

log = logging.getLogger("geopera_stac_ext.access")
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


def install_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json: ours, FastAPI's, Starlette's, stac-fastapi's, bugs."""

    async def on_geopera(request: Request, exc: GeoperaError) -> Response:
        return problem_response(request, exc)

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/v1/op/"):
            # NOTE: FastAPI validates the body before the op runs; the key is checked first
            # (README: key → scope → target), so an anonymous caller gets 401, not 400s.
            from geopera_stac_ext.auth.guard import authenticate
            from geopera_stac_ext.db.pool import connection

            try:
                async with connection(request.app) as conn:
                    await authenticate(conn, request.headers.get("authorization"))
            except GeoperaError as err:
                return problem_response(request, err)
        detail, items = describe_validation(list(exc.errors()))
        return problem_response(request, InvalidRequest(detail, extra={"errors": items}))

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        cls = for_status(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) else cls.title
        err = cls(detail)
        if exc.status_code not in (err.status,):
            err.status = exc.status_code  # type: ignore[misc]
        err.headers.update(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":
            err.detail = f"no route for {request.method} {request.url.path}"
        return problem_response(request, err)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        from geopera_stac_ext.db.pool import translate

        mapped = translate(exc)
        if isinstance(mapped, GeoperaError):
            return problem_response(request, mapped)
        log.exception("unhandled error on %s %s (request_id=%s)", request.method,
                      request.url.path, getattr(request.state, "request_id", "-"))
        return problem_response(request, InternalError(
            "an unexpected error occurred; quote the request_id when reporting it"))

    app.add_exception_handler(GeoperaError, on_geopera)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
    # NOTE: stac-fastapi registers handlers for its own error classes; re-map them to problems.
    from stac_fastapi.types import errors as stac_errors

    stac_map = {
        stac_errors.NotFoundError: 404, stac_errors.ConflictError: 409,
        stac_errors.ForeignKeyError: 422, stac_errors.InvalidQueryParameter: 400,
        stac_errors.DatabaseError: 424, stac_errors.StacApiError: 500,
    }
    for cls, status in stac_map.items():
        async def on_stac(request: Request, exc: Exception, status: int = status) -> Response:
            err = for_status(status)(str(exc) or for_status(status).title)
            if status >= 500:
                log.error("stac-fastapi error on %s: %r", request.url.path, exc)
                err = InternalError("an unexpected error occurred")
            return problem_response(request, err)

        app.add_exception_handler(cls, on_stac)


class RequestContextMiddleware:
    """Assigns a request id (header, response header, log line) and caps the body size."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else (
            new_request_id())
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status_holder = {"status": 500}

        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await problem_response(None, PayloadTooLarge(
                f"request body exceeds {self.max_body} bytes"), scope)(scope, receive, send)
            self._log(scope, 413, start, request_id)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # NOTE: FastAPI turns any other exception raised while it reads the body
                    # into a 400 "error parsing the body"; an HTTPException passes through and
                    # on_http renders it as the 413 problem.
                    raise StarletteHTTPException(
                        413, f"request body exceeds {self.max_body} bytes")
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        finally:
            self._log(scope, status_holder["status"], start, request_id)

    @staticmethod
    def _log(scope: Scope, status: int, start: float, request_id: str) -> None:
        log.info("%s %s %d %.1fms request_id=%s", scope.get("method"), scope.get("path"),
                 status, (time.perf_counter() - start) * 1000, request_id)
