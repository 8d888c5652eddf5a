"""What an op handler gets: the caller, one connection (a transaction for writes), helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import Request

from geopera_stac_ext.auth import guard
from geopera_stac_ext.auth.guard import Principal


@dataclass
class OpContext:
    request: Request | None  # None when an op runs outside HTTP (demo seeding, bulk load)
    conn: Any  # asyncpg connection; inside a transaction when the op writes
    principal: Principal
    op_id: str
    request_id: str
    settings: Any
    clock: Callable[[], datetime] | None = None

    def now(self) -> datetime:
        """The clock handlers use (tests inject one through create_app(clock=...))."""
        return self.clock() if self.clock else datetime.now(timezone.utc)

    async def authorize(self, scope: str, project_id: str, level: str = "read") -> str:
        return await guard.authorize(self.conn, self.principal, scope, project_id, level)

    def require_scope(self, scope: str) -> None:
        guard.require_scope(self.principal, scope)

    async def audit(self, *target_ids: Any) -> None:
        """One audit row for this op, inside the op's own transaction."""
        await self.conn.execute(
            """
            INSERT INTO geopera.audit_log (principal_id, api_key_id, operation, target_ids,
                                           request_id)
            VALUES ($1, $2, $3, $4, $5)
            """,
            self.principal.user_id, self.principal.key_id, self.op_id,
            [str(t) for t in target_ids if t is not None], self.request_id,
        )
