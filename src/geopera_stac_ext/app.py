"""create_app(): the stac-fastapi-pgstac StacApi with our extension, auth and problem handlers."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import APIRouter, FastAPI, Request
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.middleware import ProxyHeaderMiddleware
from stac_fastapi.api.models import (
    ItemCollectionUri,
    JSONResponse,
    create_get_request_model,
    create_post_request_model,
    create_request_model,
)
from stac_fastapi.pgstac.config import Settings as StacSettings
from stac_fastapi.pgstac.core import CoreCrudClient, health_check
from stac_fastapi.pgstac.models.extensions import Extensions
from stac_fastapi.pgstac.types.search import PgstacSearch

from geopera_stac_ext.auth.guard import authenticate
from geopera_stac_ext.db.pool import close_pools, connection, open_pools
from geopera_stac_ext.errors import GeoperaError
from geopera_stac_ext.extension import OperationsExtension
from geopera_stac_ext.problems import RequestContextMiddleware, install_handlers, problem_response
from geopera_stac_ext.settings import Settings, external_pg_env
from geopera_stac_ext.logredact import install_redaction
from geopera_stac_ext.storage.routes import DownloadsExtension
from geopera_stac_ext.storage.signing import check_signing_secret

log = logging.getLogger(__name__)

# Paths served without a key: the OpenAPI document and its UI, health, the op catalogue
# (op routes authenticate themselves), and signed download URLs (the signature is the key).
PUBLIC_PREFIXES = ("/api", "/_mgmt/", "/v1/op", "/download/")


class StacAuthMiddleware:
    """Every other path (the STAC API) needs the same bearer key as the op API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            async with connection(scope["app"]) as conn:
                principal = await authenticate(conn, request.headers.get("authorization"))
        except GeoperaError as err:
            await problem_response(request, err)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def stac_client_class() -> type[CoreCrudClient]:
    """The STAC client: our engine-backed one when present, else stock (auth still applies)."""
    try:
        from geopera_stac_ext.search.stac_client import GeoperaStacClient
    except ImportError:
        return CoreCrudClient
    return GeoperaStacClient


def create_app(settings: Settings | None = None, *, pg_env: dict[str, str] | None = None,
               clock: Callable[[], datetime] | None = None) -> FastAPI:
    """Build the app. Database: pg_env, else DATABASE_URL/PG*, else the embedded cluster."""
    settings = settings or Settings()
    check_signing_secret(settings, demo=settings.demo)
    install_redaction()
    stac_settings = StacSettings(
        enable_transactions_extensions=False,
        stac_fastapi_title="geopera-stac",
        stac_fastapi_description="Geopera imagery catalog (STAC API and op API)",
        stac_fastapi_landing_id="geopera-stac",
        openapi_url="/api",
        docs_url="/api.html",
        enabled_extensions=["query", "sort", "filter", "pagination", "fields"],
    )
    client_cls = stac_client_class()
    # NOTE: the engine-backed client brings its own /queryables (filter extension client).
    overrides = getattr(sys.modules.get(client_cls.__module__), "stac_extension_overrides",
                        lambda: {})()
    extensions = Extensions(settings=stac_settings, **overrides)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        cluster = None
        env = pg_env or external_pg_env(settings)
        if env is None:
            from geopera_stac_ext.db.embedded import EmbeddedCluster
            from geopera_stac_ext.db.migrate import migrate

            cluster = EmbeddedCluster(settings.home).start()
            env = cluster.env()
            migrate(cluster.dsn)
        await open_pools(app, env, settings.db_pool_max)
        app.state.pg_env = env
        from geopera_stac_ext.lifecycle.job import PeriodicRunner

        app.state.lifecycle_runner = PeriodicRunner(
            app, settings, settings.lifecycle_interval_seconds).start()
        try:
            yield
        finally:
            await app.state.lifecycle_runner.stop()
            await close_pools(app)
            if cluster is not None:
                cluster.stop()

    post_model = create_post_request_model(extensions.search, base_model=PgstacSearch)
    get_model = create_get_request_model(extensions.search)
    items_get_model = create_request_model(
        model_name="ItemCollectionUri", base_model=ItemCollectionUri,
        extensions=extensions.item_collection, request_type="GET",
    )
    api = StacApi(
        app=FastAPI(
            openapi_url=stac_settings.openapi_url,
            docs_url=stac_settings.docs_url,
            redoc_url=None,
            title=stac_settings.stac_fastapi_title,
            description=stac_settings.stac_fastapi_description,
            lifespan=lifespan,
        ),
        router=APIRouter(),
        settings=stac_settings,
        extensions=[*extensions.search, *extensions.item_collection, OperationsExtension(),
                    DownloadsExtension()],
        client=client_cls(pgstac_search_model=post_model),  # type: ignore[arg-type]
        response_class=JSONResponse,
        items_get_request_model=items_get_model,
        search_get_request_model=get_model,
        search_post_request_model=post_model,
        middlewares=[Middleware(ProxyHeaderMiddleware)],
        health_check=health_check,  # type: ignore[arg-type]
    )
    app = api.app
    app.state.geopera_settings = settings
    app.state.clock = clock
    install_handlers(app)
    # NOTE: added last = outermost: the request id exists before auth can fail.
    app.add_middleware(StacAuthMiddleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """`uvicorn --factory geopera_stac_ext.app:create_app_from_env`."""
    return create_app()


__all__ = ["create_app", "create_app_from_env"]
