"""What a CLI command needs: the database (configured server or embedded cluster), a connection, JSON out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from geopera_stac_ext.core.settings import Settings, dsn_from_env, external_pg_env


@contextmanager
def database(settings: Settings, *, durable: bool = True) -> Iterator[dict[str, str]]:
    """PG* env of the configured server, or of the embedded cluster (stopped by its last user)."""
    env = external_pg_env(settings)
    if env is not None:
        yield env
        return
    from geopera_stac_ext.db.embedded import EmbeddedCluster

    with EmbeddedCluster(settings.home, durable=durable).session() as cluster:
        yield cluster.env()


async def _with_conn(env: dict[str, str], fn: Callable[[Any], Awaitable[Any]]) -> Any:
    import asyncpg

    conn = await asyncpg.connect(
        dsn_from_env(env), server_settings={"search_path": "pgstac,public"})
    try:
        from stac_fastapi.pgstac.db import con_init

        await con_init(conn)
        return await fn(conn)
    finally:
        await conn.close()


def run_db(env: dict[str, str], fn: Callable[[Any], Awaitable[Any]]) -> Any:
    return asyncio.run(_with_conn(env, fn))


def emit(obj: Any) -> None:
    # NOTE: flush: `serve --demo` keeps running, and a pipe reader needs the JSON now.
    print(json.dumps(obj, default=str, indent=None), flush=True)
