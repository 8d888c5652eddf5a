"""Connections for request handlers: stac-fastapi-pgstac's asyncpg pools, errors translated once."""

from __future__ import annotations

import re

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from stac_fastapi.pgstac.config import PostgresSettings
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db

from geopera_stac_ext.db.replica import (
    REPLAYED_SQL,
    WRITTEN_LSN_SQL,
    note_written,
    requested_lsn,
)
from geopera_stac_ext.core.errors import (
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


async def open_pools(app: FastAPI, env: dict[str, str], max_size: int = 10,
                     read_env: dict[str, str] | None = None) -> None:
    """The write pool on the primary (`env`); the read pool on the replica (`read_env`) when
    one is configured, else on the primary too."""
    settings = postgres_settings(env, max_size)
    await connect_to_db(app, postgres_settings=postgres_settings(read_env or env, max_size),
                        add_write_connection_pool=True, write_postgres_settings=settings)
    app.state.read_replica = read_env is not None


async def close_pools(app: FastAPI) -> None:
    await close_db_connection(app)


# pgstac's partition datetime constraint: _items_<collection key>[_<period>]_dt
PARTITION_RANGE = re.compile(r"_items_\d+(_\d+)?_dt")


def translate(exc: Exception) -> Exception:
    """Map a database error to the service's error hierarchy (the only place that does)."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict("a resource with that identity already exists")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return NotFound("a referenced resource does not exist")
    if isinstance(exc, asyncpg.CheckViolationError) and PARTITION_RANGE.fullmatch(
            exc.constraint_name or ""):
        # NOTE: a pgstac partition's datetime constraint, not the request's values: a write
        # that raced another one widening the partition (pgstac/partitions.py lock_for_write
        # makes this rare); the transaction changed nothing, so ops run it again.
        return TransientConflict("a concurrent write was changing this collection's "
                                 "partition range; nothing was changed, retry shortly")
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
    if isinstance(exc, DB_GONE):
        return ServiceUnavailable("the database is unavailable; retry shortly",
                                  headers={"Retry-After": "5"})
    return exc


# NOTE: a database that stops mid-request surfaces as any of these (admin shutdown while a
# query runs, the socket closing under asyncpg: InternalClientError/ConnectionDoesNotExist).
DB_GONE = (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError,
           asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError,
           asyncpg.InternalClientError, asyncpg.ConnectionDoesNotExistError,
           ConnectionError, OSError)


def _busy() -> ServiceUnavailable:
    return ServiceUnavailable("every database connection is busy; retry shortly",
                              headers={"Retry-After": "1"})


@asynccontextmanager
async def connection(app: FastAPI, write: bool = False) -> AsyncIterator[Any]:
    """A pooled connection; write=True opens a transaction committed on success.

    NOTE: waiting for a free connection is bounded (GEOPERA_DB_ACQUIRE_TIMEOUT_SECONDS): a
    saturated pool answers 503 + Retry-After at once instead of queueing requests for 30 s.
    """
    replica = getattr(app.state, "read_replica", False)
    pool = app.state.writepool if write else app.state.readpool
    settings = getattr(app.state, "geopera_settings", None)
    timeout = settings.db_acquire_timeout_seconds if settings is not None else None
    lsn = requested_lsn() if replica and not write else None
    conn = await _acquire(pool, timeout)
    if lsn is not None:
        pool, conn = await _caught_up(app, pool, conn, lsn, timeout)
    try:
        if write:
            async with conn.transaction():
                yield conn
            if replica:
                note_written(await conn.fetchval(WRITTEN_LSN_SQL))
        else:
            yield conn
    except Exception as e:
        if (mapped := translate(e)) is e:
            raise
        raise mapped from e
    finally:
        await _release(pool, conn)


async def _acquire(pool: Any, wait: float | None) -> Any:
    try:
        return await pool.acquire(timeout=wait)
    except TimeoutError:
        raise _busy() from None
    except Exception as e:
        if (mapped := translate(e)) is e:
            raise
        raise mapped from e


async def _caught_up(app: FastAPI, pool: Any, conn: Any, lsn: str,
                     wait: float | None) -> tuple[Any, Any]:
    """The replica connection when it has replayed `lsn`, else a primary connection.

    NOTE: read-your-writes without waiting: a replica behind the client's own write is skipped
    for this request only (the primary answers it), so a lagging replica costs the primary
    some reads, never a stale answer to a client that asked for its write.
    """
    try:
        if await conn.fetchval(REPLAYED_SQL, lsn):
            return pool, conn
    except BaseException as e:
        await _release(pool, conn)
        if not isinstance(e, Exception) or (mapped := translate(e)) is e:
            raise
        raise mapped from e
    await _release(pool, conn)
    return app.state.writepool, await _acquire(app.state.writepool, wait)


async def _release(pool: Any, conn: Any) -> None:
    try:
        await pool.release(conn)
    except Exception:  # noqa: BLE001
        # NOTE: the database went away under the connection; the pool drops it, and the
        # request's own answer (usually a 503) must not become a 500 here.
        conn.terminate()
