"""Connections for request handlers: stac-fastapi-pgstac's asyncpg pools, errors translated once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from stac_fastapi.pgstac.config import PostgresSettings
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db

from geopera_stac_ext.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    TransientConflict,
)


def postgres_settings(env: dict[str, str], max_size: int = 10) -> PostgresSettings:
    return PostgresSettings(
        pguser=env["PGUSER"], pgpassword=env["PGPASSWORD"], pghost=env["PGHOST"],
        pgport=int(env["PGPORT"]), pgdatabase=env["PGDATABASE"],
        db_min_conn_size=1, db_max_conn_size=max_size,
    )


async def open_pools(app: FastAPI, env: dict[str, str], max_size: int = 10) -> None:
    settings = postgres_settings(env, max_size)
    await connect_to_db(app, postgres_settings=settings, add_write_connection_pool=True,
                        write_postgres_settings=settings)


async def close_pools(app: FastAPI) -> None:
    await close_db_connection(app)


def translate(exc: Exception) -> Exception:
    """Map a database error to the service's error hierarchy (the only place that does)."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict("a resource with that identity already exists")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return NotFound("a referenced resource does not exist")
    if isinstance(exc, asyncpg.CheckViolationError):
        return InvalidRequest(f"value violates a constraint ({exc.constraint_name or 'check'})")
    if isinstance(exc, (asyncpg.DataError, asyncpg.InvalidTextRepresentationError)):
        return InvalidRequest("a value has the wrong format for its field")
    if isinstance(exc, (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)):
        # NOTE: ops retry these first (extension.run_op); elsewhere they are a retryable 503
        return TransientConflict("the database cancelled this request to resolve a conflict "
                                 "with a concurrent one; nothing was changed, retry shortly")
    if isinstance(exc, asyncpg.QueryCanceledError):
        return ServiceUnavailable("the query took too long and was cancelled; narrow it down")
    if isinstance(exc, (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError,
                        ConnectionError, OSError)):
        return ServiceUnavailable("the database is unavailable; retry shortly")
    return exc


@asynccontextmanager
async def connection(app: FastAPI, write: bool = False) -> AsyncIterator[Any]:
    """A pooled connection; write=True opens a transaction committed on success."""
    pool = app.state.writepool if write else app.state.readpool
    try:
        async with pool.acquire() as conn:
            if write:
                async with conn.transaction():
                    yield conn
            else:
                yield conn
    except asyncpg.PostgresError as e:
        raise translate(e) from e
