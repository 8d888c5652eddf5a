"""A per-user cap on concurrent searches (429 + Retry-After), shared by every API process."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from geopera_stac_ext.core.errors import RateLimited
from geopera_stac_ext.core.problem import problem_response
from geopera_stac_ext.db.locks import SLOT_NAMESPACE

# NOTE: why per user and not per organization: users and keys are issued by the operator
# (admin CLI), so a tenant cannot multiply its principals, while a per-org cap would let one
# busy analyst lock the rest of a large organization out. All keys of one user share the cap.
# The slots are PostgreSQL session advisory locks (two-int4 form, key space apart from
# partitions.PARTITION_LOCK's bigint lock): they count searches of every replica on the same
# database, and vanish with the session (asyncpg's pool resets a returned connection with
# pg_advisory_unlock_all()), so a crashed request cannot leak a slot.
TRY_SLOT_SQL = """
    SELECT s FROM generate_series(0, $2::int - 1) AS s
    WHERE pg_try_advisory_lock($1::int + s, hashtext($3::text)) LIMIT 1
"""
UNLOCK_SQL = "SELECT pg_advisory_unlock($1::int + $2::int, hashtext($3::text))"
RETRY_AFTER_SECONDS = 1
SEARCH_ROUTES = re.compile(r"^/(search|collections/[^/]+/items|v1/op/items\.search(_org)?)$")


def _refuse(limit: int) -> RateLimited:
    return RateLimited(
        f"too many concurrent searches: at most {limit} per user run at once "
        f"(GEOPERA_SEARCH_CONCURRENCY_PER_USER); retry after the running ones finish",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


# NOTE: a search over the cap first waits this long for one of the user's running searches
# to finish (then runs), and only then is refused. Measured (benchmarks/fairness): refused at
# once, ten clients that ignore Retry-After came back ~55 times a second with 800 KB bodies
# that the server must still read off the socket to keep the connection — a third of the
# event loop's time; paced by the wait, each connection costs at most one refusal per
# second. A well-behaved client is served as soon as a slot frees instead of retrying.
SLOT_WAIT_SECONDS = RETRY_AFTER_SECONDS


@asynccontextmanager
async def local_slot(state: Any, settings: Any, key: str,
                     wait: float = SLOT_WAIT_SECONDS) -> AsyncIterator[None]:
    """This process's count of one caller's searches."""
    limit = settings.search_concurrency_per_user
    running: Counter[str] = state.__dict__.setdefault("_search_running", Counter())
    freed: asyncio.Condition | None = state.__dict__.get("_search_freed")
    if freed is None:
        freed = state.__dict__["_search_freed"] = asyncio.Condition()
    if running[key] >= limit:
        try:
            async with freed:
                await asyncio.wait_for(freed.wait_for(lambda: running[key] < limit), wait)
        except TimeoutError:
            raise _refuse(limit) from None
    running[key] += 1
    try:
        yield
    finally:
        running[key] -= 1
        if running[key] <= 0:
            del running[key]
        async with freed:
            freed.notify_all()


class SearchGateMiddleware:
    """The per-process gate, before a search request is authenticated, read or parsed.

    NOTE: measured: with the gate only around the SQL, 20 clients posting 10,000-vertex
    searches kept one process's event loop busy parsing (JSON, GeoJSON models) and another
    tenant's items.get waited 10 s; with it after authentication, their key lookups queued for
    the pool and ran into its timeout (503). Counting here, per bearer key, refuses the flood
    before any of that work; the database slot (db_slot, in the handlers) then counts per
    user across keys and processes. A request without a key passes (it gets its 401).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        auth = dict(scope.get("headers") or []).get(b"authorization") if (
            scope["type"] == "http") else None
        if not auth or not SEARCH_ROUTES.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        key = hashlib.sha256(auth).hexdigest()
        try:
            async with local_slot(app.state, app.state.geopera_settings, key):
                await self.app(scope, receive, send)
        except RateLimited as err:
            await problem_response(None, err, scope)(scope, receive, send)


@asynccontextmanager
async def db_slot(app: Any, conn: Any, user_id: str) -> AsyncIterator[None]:
    """One of the user's slots across every process on the database, held on `conn`."""
    limit = app.state.geopera_settings.search_concurrency_per_user
    slot = await conn.fetchval(TRY_SLOT_SQL, SLOT_NAMESPACE, limit, user_id)
    if slot is None:
        raise _refuse(limit)
    try:
        yield
    finally:
        await conn.execute(UNLOCK_SQL, SLOT_NAMESPACE, slot, user_id)


__all__ = ["SearchGateMiddleware", "db_slot", "local_slot", "SLOT_NAMESPACE"]
