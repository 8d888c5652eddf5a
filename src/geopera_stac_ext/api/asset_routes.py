"""Byte routes: signed downloads (/download/{token}) and asset hrefs (/v1/assets/{id}/{file})."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import attr
from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from stac_fastapi.types.extension import ApiExtension

from geopera_stac_ext.auth.guard import principal_of_key, require_scope
from geopera_stac_ext.db.pool import connection
from geopera_stac_ext.core.errors import NotFound, Unauthenticated
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.downloads import check_access, href_grant, public_base
from geopera_stac_ext.storage.local import download, requested_span, serve_file, stat_file
from geopera_stac_ext.storage.asset_tokens import TOKEN_PARAM, verify_token
from geopera_stac_ext.storage.signing import (
    ASSET_PREFIX,
    filename_for,
    signed_url,
    signing_secret,
)


async def fetch_asset(request: Request, asset_id: str, filename: str) -> Response:
    """GET/HEAD an asset with the API key (the bearer header, or the `access_token` an
    embeddable href carries): items.asset.download's checks and accounting on every request,
    then the bytes (local storage, `Range` honoured) or a 307 to a signed URL.

    NOTE: one grant per (API key, asset) serves every read for the signed-URL lifetime; the
    grant's egress grows by the bytes actually sent (docs/clients.md, "How reads are counted").
    """
    principal = request.scope.get("state", {}).get("principal")
    token = request.query_params.get(TOKEN_PARAM) if principal is None else None
    if principal is None and token is None:  # NOTE: never serve anonymously.
        raise Unauthenticated("missing Authorization header; send `Authorization: Bearer gpra_…`")
    missing = NotFound(f"asset {asset_id[:40]} not found")
    try:
        aid = str(uuid.UUID(asset_id))
    except ValueError:
        if token is not None:
            raise Unauthenticated("this asset URL's access token is invalid or expired") from None
        raise missing from None
    app = request.app
    head = request.method == "HEAD"
    async with connection(app, write=True) as conn:
        if principal is None:
            principal = await token_principal(request, conn, token or "", aid)
        item_id = await conn.fetchval("SELECT item_id FROM geopera.assets WHERE id = $1", aid)
        if item_id is None:
            raise missing
        ctx = OpContext(request=request, conn=conn, principal=principal, op_id="assets.fetch",
                        request_id=request.scope.get("state", {}).get("request_id", ""),
                        settings=app.state.geopera_settings, clock=app.state.clock)
        access = await check_access(ctx, str(item_id), aid)
        name = filename_for(access.asset["href"])
        if unquote(filename) != name:
            # NOTE: GDAL's sidecar probes (.aux.xml, .ovr, …) end here: no grant is spent.
            raise NotFound(f"asset {aid} has no file {filename[:80]!r}; it is {name!r}")
        if access.path is not None:
            size = stat_file(access.path)
            span = requested_span(request, size)
            sent = 0 if head else (size if span is None else span[1] - span[0] + 1)
            await href_grant(ctx, access, first_bytes=sent, more_bytes=sent)
        else:
            grant = await href_grant(ctx, access, first_bytes=access.size or 0, more_bytes=0)
            url = signed_url(ctx.settings, access.asset["href"], asset_id=aid,
                             grant_id=str(grant), now=ctx.now(), base_url=public_base(ctx))
    if access.path is not None:
        return serve_file(request, access.path, size, access.asset["media_type"], name)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, no-store"})


def embedded_asset_request(request: Request) -> bool:
    """An asset href fetched with its access token and no Authorization header (an <img>)."""
    return (request.url.path.startswith(ASSET_PREFIX + "/")
            and "authorization" not in request.headers
            and TOKEN_PARAM in request.query_params)


async def token_principal(request: Request, conn: Any, token: str, asset_id: str) -> Any:
    """The key an asset URL's token was minted for, checked now: the MAC over (key, asset,
    expiry), the expiry, the key still valid and unrevoked, its `items:read` scope (401/403).
    Access to the item is then checked as for a header (check_access)."""
    app = request.app
    now = app.state.clock() if app.state.clock else datetime.now(timezone.utc)
    key_id = verify_token(signing_secret(app.state.geopera_settings), token, asset_id,
                          now.timestamp())
    principal = await principal_of_key(conn, key_id)
    require_scope(principal, "items:read")
    return principal


@attr.s
class DownloadsExtension(ApiExtension):
    """Mounts the byte routes."""

    conformance_classes: list[str] = attr.ib(factory=list)
    schema_href: str | None = attr.ib(default=None)

    def register(self, app: FastAPI) -> None:
        # NOTE: outside the OpenAPI document: it is not an op, and the URL is opaque to clients.
        app.add_api_route("/download/{token:path}", download, methods=["GET", "HEAD"],
                          include_in_schema=False, name="download")
        path = f"{ASSET_PREFIX}/{{asset_id}}/{{filename:path}}"
        app.add_api_route(path, fetch_asset, methods=["HEAD"], include_in_schema=False)
        app.add_api_route(path, fetch_asset, methods=["GET"], name="asset", tags=["assets"],
                          operation_id="assets.fetch",
                          summary="Fetch an asset's bytes with the API key (Range supported)",
                          description="The `href` of every asset in STAC responses. Runs the "
                          "checks and egress accounting of `items.asset.download`; local files "
                          "are served here, object-store assets answer 307 to a signed URL.")
