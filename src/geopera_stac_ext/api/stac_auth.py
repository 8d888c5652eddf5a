"""The STAC API's door: every path but the public ones needs the same bearer key as the op API."""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from geopera_stac_ext.api.asset_routes import embedded_asset_request
from geopera_stac_ext.auth.guard import authenticate, require_scope
from geopera_stac_ext.core.errors import GeoperaError
from geopera_stac_ext.core.problem import problem_response
from geopera_stac_ext.db.pool import connection

# Paths served without a key: the OpenAPI document and its UI, health, the op catalogue
# (op routes authenticate themselves), and signed download URLs (the signature is the key).
PUBLIC_PREFIXES = ("/api", "/_mgmt/", "/v1/op", "/download/")
# Of those, the management routes (health), which the OpenAPI document marks as open.
MGMT_PREFIX = PUBLIC_PREFIXES[1]


class StacAuthMiddleware:
    """Every other path (the STAC API) needs the same bearer key as the op API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if embedded_asset_request(request):
            # NOTE: an <img src> asset URL: the route checks its access token (no header).
            await self.app(scope, receive, send)
            return
        try:
            async with connection(scope["app"]) as conn:
                principal = await authenticate(conn, request.headers.get("authorization"))
            # NOTE: README: every STAC route needs items:read, the landing page, /conformance
            # and /queryables included (they were answered for any valid key).
            require_scope(principal, "items:read")
        except GeoperaError as err:
            await problem_response(request, err)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
