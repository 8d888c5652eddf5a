"""Byte routes: signed downloads (GET/HEAD /download/{token}) and key-authenticated asset hrefs
(GET/HEAD /v1/assets/{asset_id}/{filename}, the `href` of every asset in STAC responses)."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

import attr
from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from stac_fastapi.types.extension import ApiExtension

from geopera_stac_ext.db.pool import connection
from geopera_stac_ext.core.errors import NotFound, Unauthenticated
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.downloads import check_access, href_grant, public_base
from geopera_stac_ext.storage.local import download, requested_span, serve_file, stat_file
from geopera_stac_ext.storage.signing import ASSET_PREFIX, filename_for, signed_url

async def fetch_asset(request: Request, asset_id: str, filename: str) -> Response:
    """GET/HEAD an asset with the API key: items.asset.download's checks and accounting on
    every request, then the bytes (local storage, `Range` honoured) or a 307 to a signed URL.

    NOTE: one grant per (API key, asset) serves every read for the signed-URL lifetime; the
    grant's egress grows by the bytes actually sent (docs/clients.md, "How reads are counted").
    """
    principal = request.scope.get("state", {}).get("principal")
    if principal is None:  # NOTE: StacAuthMiddleware sets it; never serve anonymously.
        raise Unauthenticated("missing Authorization header; send `Authorization: Bearer gpra_…`")
    missing = NotFound(f"asset {asset_id[:40]} not found")
    try:
        aid = str(uuid.UUID(asset_id))
    except ValueError:
        raise missing from None
    app = request.app
    head = request.method == "HEAD"
    async with connection(app, write=True) as conn:
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
