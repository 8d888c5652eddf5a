"""Billing usage of an organization: storage ledger balance, egress, items by lifecycle state."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from geopera_stac_ext.core.errors import InvalidRequest, NotFound

STATES = ("active", "expiring", "expired", "archived", "deleted")


async def org_usage(conn: Any, org_id: str, now: datetime | None = None) -> dict[str, Any]:
    try:
        oid = uuid.UUID(str(org_id))
    except ValueError:
        raise InvalidRequest(f"org must be a UUID, got {org_id!r}") from None
    now = now or datetime.now(timezone.utc)
    org = await conn.fetchrow(
        "SELECT plan, subscription_status FROM geopera.organizations WHERE id = $1", oid)
    if org is None:
        raise NotFound(f"organization {org_id} not found")
    storage = await conn.fetchval(
        "SELECT coalesce(sum(delta_bytes), 0) FROM geopera.storage_ledger WHERE org_id = $1", oid)
    egress = await conn.fetchrow(
        """
        SELECT coalesce(sum(bytes) FILTER (WHERE at > $2), 0) AS day,
               coalesce(sum(bytes), 0) AS month,
               count(*) FILTER (WHERE at > $2) AS day_grants, count(*) AS month_grants
        FROM geopera.egress_ledger WHERE account_id = $1 AND at > $3 AND at <= $4
        """,
        oid, now - timedelta(hours=24), now - timedelta(days=30), now)
    rows = await conn.fetch(
        """
        SELECT i.lifecycle_state, count(*) AS n FROM geopera.items i
        JOIN geopera.projects p ON p.id = i.project_id
        WHERE p.org_id = $1 GROUP BY i.lifecycle_state
        """,
        oid)
    by_state = {s: 0 for s in STATES}
    by_state.update({r["lifecycle_state"]: r["n"] for r in rows})
    return {
        "org_id": str(oid),
        "plan": org["plan"],
        "subscription_status": org["subscription_status"],
        "as_of": now.isoformat(),
        "storage_bytes": int(storage),
        "egress_bytes_24h": int(egress["day"]),
        "egress_bytes_30d": int(egress["month"]),
        "egress_grants_24h": egress["day_grants"],
        "egress_grants_30d": egress["month_grants"],
        "items_by_lifecycle_state": by_state,
    }
