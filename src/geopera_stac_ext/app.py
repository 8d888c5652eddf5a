"""create_app(): the stac-fastapi-pgstac StacApi with our extension, auth and problem handlers."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from contextlib import ExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
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
from stac_fastapi.pgstac.core import health_check
from stac_fastapi.pgstac.models.extensions import Extensions
from stac_fastapi.pgstac.types.search import PgstacSearch

from geopera_stac_ext.api.asset_routes import DownloadsExtension
from geopera_stac_ext.api.extension import OperationsExtension
from geopera_stac_ext.api.openapi import install_openapi
from geopera_stac_ext.api.problems import RequestContextMiddleware, install_handlers
from geopera_stac_ext.api.stac_auth import StacAuthMiddleware
from geopera_stac_ext.api.stac_client import GeoperaStacClient
from geopera_stac_ext.api.stac_filters import stac_extension_overrides
from geopera_stac_ext.api.stac_input import StacInputMiddleware
from geopera_stac_ext.core.fields import configure_geometry_limits
from geopera_stac_ext.core.logredact import install_redaction
from geopera_stac_ext.core.settings import Settings, external_pg_env, read_pg_env
from geopera_stac_ext.db.embedded import EmbeddedCluster
from geopera_stac_ext.db.pool import close_pools, connection, open_pools
from geopera_stac_ext.db.replica import LSN_HEADER, ReadAfterWriteMiddleware
from geopera_stac_ext.lifecycle.job import PeriodicRunner
from geopera_stac_ext.pgstac.version import ensure_supported, migrate_supported
from geopera_stac_ext.search.gate import SearchGateMiddleware
from geopera_stac_ext.storage.signing import check_signing_secret

log = logging.getLogger(__name__)

# NOTE: stac-fastapi's sort extension declares only v1.1.0 URIs; pystac-client (0.9) matches
# `https://api.stacspec.org/v1.0.*/item-search#sort` and warns "does not conform to SORT".
SORT_V1_0 = "https://api.stacspec.org/v1.0.0/item-search#sort"


def advertise_sort_v1_0(search_extensions: list[Any]) -> None:
    from stac_fastapi.extensions import SortExtension

    for ext in search_extensions:
        if isinstance(ext, SortExtension) and SORT_V1_0 not in ext.conformance_classes:
            ext.conformance_classes = [*ext.conformance_classes, SORT_V1_0]


def create_app(settings: Settings | None = None, *, pg_env: dict[str, str] | None = None,
               clock: Callable[[], datetime] | None = None,
               read_env: dict[str, str] | None = None) -> FastAPI:
    """Build the app. Database: pg_env, else DATABASE_URL/PG*, else the embedded cluster;
    reads on read_env, else GEOPERA_READ_DATABASE_URL, else the same database."""
    settings = settings or Settings()
    read_env = read_env or read_pg_env(settings)
    check_signing_secret(settings, demo=settings.demo)
    install_redaction()
    configure_geometry_limits(settings.max_geometry_vertices, settings.max_geometry_bytes)
    app = stac_api(settings, lifespan(settings, pg_env, read_env)).app
    app.state.geopera_settings = settings
    app.state.clock = clock
    install_handlers(app)
    install_openapi(app)
    add_middleware(app, settings, read_env)
    return app


def stac_settings() -> StacSettings:
    return StacSettings(
        enable_transactions_extensions=False,
        stac_fastapi_title="geopera-stac",
        stac_fastapi_description="Geopera imagery catalog (STAC API and op API)",
        stac_fastapi_landing_id="geopera-stac",
        openapi_url="/api",
        docs_url="/api.html",
        enabled_extensions=["query", "sort", "filter", "pagination", "fields"],
    )


def lifespan(settings: Settings, pg_env: dict[str, str] | None,
             read_env: dict[str, str] | None):
    """Start-up and shutdown: the database (pools; the embedded cluster when none is
    configured) and the in-process lifecycle runner."""

    @asynccontextmanager
    async def run(app: FastAPI):
        with ExitStack() as stack:
            env = pg_env or external_pg_env(settings)
            if env is None:
                # NOTE: the last user of the home stops the cluster (EmbeddedCluster.session).
                cluster = stack.enter_context(EmbeddedCluster(settings.home).session())
                env = cluster.env()
                migrate_supported(cluster.dsn)
            await open_pools(app, env, settings.db_pool_max, read_env)
            try:
                # NOTE: a database migrated elsewhere (pg_env, DATABASE_URL) is checked too.
                async with connection(app) as conn:
                    await ensure_supported(conn)
            except BaseException:
                await close_pools(app)
                raise
            app.state.pg_env = env
            app.state.lifecycle_runner = PeriodicRunner(
                app, settings, settings.lifecycle_interval_seconds).start()
            try:
                yield
            finally:
                await app.state.lifecycle_runner.stop()
                await close_pools(app)

    return run


def stac_api(settings: Settings, lifespan: Any) -> StacApi:
    """stac-fastapi-pgstac's StacApi with our engine-backed client and our two extensions."""
    stac = stac_settings()
    # NOTE: our engine-backed client, imported directly: stock CoreCrudClient would serve every
    # tenant's items, so a broken import must stop the service at start-up (fail closed).
    extensions = Extensions(settings=stac, **stac_extension_overrides())
    advertise_sort_v1_0(extensions.search)
    post_model = create_post_request_model(extensions.search, base_model=PgstacSearch)
    get_model = create_get_request_model(extensions.search)
    items_get_model = create_request_model(
        model_name="ItemCollectionUri", base_model=ItemCollectionUri,
        extensions=extensions.item_collection, request_type="GET",
    )
    return StacApi(
        app=FastAPI(
            openapi_url=stac.openapi_url,
            docs_url=stac.docs_url,
            redoc_url=None,
            title=stac.stac_fastapi_title,
            description=stac.stac_fastapi_description,
            lifespan=lifespan,
        ),
        router=APIRouter(),
        settings=stac,
        extensions=[*extensions.search, *extensions.item_collection, OperationsExtension(),
                    DownloadsExtension()],
        client=GeoperaStacClient(pgstac_search_model=post_model),  # type: ignore[arg-type]
        response_class=JSONResponse,
        items_get_request_model=items_get_model,
        search_get_request_model=get_model,
        search_post_request_model=post_model,
        middlewares=[Middleware(ProxyHeaderMiddleware)],
        health_check=health_check,  # type: ignore[arg-type]
    )


def add_middleware(app: FastAPI, settings: Settings, read_env: dict[str, str] | None) -> None:
    # NOTE: added last = outermost: the request id exists before auth can fail.
    app.add_middleware(StacInputMiddleware)  # NOTE: inside auth: 401 before 400
    app.add_middleware(StacAuthMiddleware)
    app.add_middleware(SearchGateMiddleware)  # NOTE: before any work (search/gate.py)
    if read_env is not None:
        app.add_middleware(ReadAfterWriteMiddleware)  # NOTE: around every pooled connection
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    add_cors(app, settings)


# NOTE: response headers a browser app must be able to read: rate limiting, the request id
# for support, and what a ranged (COG) read needs.
CORS_EXPOSE = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
               "RateLimit-Policy", "X-Request-ID", "Content-Range", "Content-Length",
               "Accept-Ranges", "Content-Disposition", "ETag", "Location", LSN_HEADER]


def add_cors(app: FastAPI, settings: Settings) -> None:
    """CORS as the outermost middleware: a preflight is answered before auth ever runs."""
    origins = settings.cors_origin_list
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        # NOTE: never with credentials: the key is a bearer header the app sets itself.
        allow_credentials=False,
        allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=CORS_EXPOSE,
        max_age=600,
    )


def create_app_from_env() -> FastAPI:
    """`uvicorn --factory geopera_stac_ext.app:create_app_from_env`."""
    app = create_app()
    settle_heap()
    return app


def settle_heap() -> None:
    """Move everything a serving process has built so far out of the garbage collector's view.

    NOTE: measured (benchmarks/search, issue 13 §7): with the modules and the app of a
    serving process (~110k objects) in the oldest generation, each full collection walked
    them all (50-170 ms, twice per 300 search pages: 0.4-1.1 ms per request); frozen, a full
    collection walks what requests left behind. Only `serve` calls this: nothing built at
    start-up is garbage, and test processes that build many apps keep collecting them."""
    gc.collect()
    gc.freeze()


__all__ = ["create_app", "create_app_from_env"]
