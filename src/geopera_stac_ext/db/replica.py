"""Read-your-writes over a streaming read replica: the LSN a write returns, the LSN a read waits for."""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

from geopera_stac_ext.core.errors import InvalidRequest

# NOTE: a write op's response names the primary's WAL position after its commit; a client that
# sends it back on a later request is answered from a database that has replayed at least that
# far (the replica when it has caught up, else the primary). The Python client does it by
# itself; see docs/deploy.md "Read replica".
LSN_HEADER = "X-Geopera-LSN"
MIN_LSN_HEADER = "X-Geopera-Min-LSN"
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
# The LSN at the end of this transaction's WAL, taken on the primary right after the commit.
WRITTEN_LSN_SQL = "SELECT pg_current_wal_insert_lsn()::text"
# NOTE: NULL when the server is not a standby (never was one): then it has everything.
REPLAYED_SQL = "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, true)"

_min_lsn: ContextVar[str | None] = ContextVar("geopera_min_lsn", default=None)
_written: ContextVar[list[str] | None] = ContextVar("geopera_written_lsn", default=None)


def lsn_value(text: str) -> int:
    """`X/Y` (two hex halves) as one comparable number."""
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def requested_lsn() -> str | None:
    """The request's X-Geopera-Min-LSN, checked; None when it sent none."""
    raw = _min_lsn.get()
    if raw is None:
        return None
    if not _LSN.match(raw):
        raise InvalidRequest(f"{MIN_LSN_HEADER} must be a WAL position like 0/16B3748, as "
                             f"returned in {LSN_HEADER}", extra={"errors": [{
                                 "field": MIN_LSN_HEADER, "message": "not a WAL position"}]})
    return raw


def note_written(lsn: str) -> None:
    """Remember a committed write's WAL position for this request's response header."""
    holder = _written.get()
    if holder is not None:
        holder.append(lsn)


class ReadAfterWriteMiddleware:
    """Carries X-Geopera-Min-LSN into the request's reads and X-Geopera-LSN out of its writes.

    NOTE: installed only when a read replica is configured; without one every read is on the
    primary and there is nothing to wait for.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(MIN_LSN_HEADER.lower().encode())
        holder: list[str] = []
        t1 = _min_lsn.set(raw.decode("latin-1").strip() if raw is not None else None)
        t2 = _written.set(holder)

        async def send_with_lsn(message: Any) -> None:
            if message["type"] == "http.response.start" and holder:
                newest = max(holder, key=lsn_value)
                message = {**message, "headers": [
                    *message.get("headers", []), (LSN_HEADER.lower().encode(), newest.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_lsn)
        finally:
            _min_lsn.reset(t1)
            _written.reset(t2)


__all__ = ["LSN_HEADER", "MIN_LSN_HEADER", "ReadAfterWriteMiddleware", "lsn_value",
           "note_written", "requested_lsn"]
