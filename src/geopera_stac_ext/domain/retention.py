"""Retention policy: when an item's next lifecycle transition is due, per organization plan."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def first_transition(settings: Any, plan: str, created: datetime) -> datetime:
    """When a new item leaves `active`: expiring (free) or archived (paid)."""
    if plan == "paid":
        return created + timedelta(days=settings.paid_archive_after_days)
    return created + timedelta(days=settings.free_retention_days - settings.expiry_warning_days)


async def org_plan(conn: Any, org_id: Any) -> str:
    """A project without an organization is on the free plan."""
    if org_id is None:
        return "free"
    return await conn.fetchval("SELECT plan FROM geopera.organizations WHERE id = $1",
                               org_id) or "free"


async def initial_expiry(conn: Any, settings: Any, org_id: Any, now: datetime) -> datetime:
    return first_transition(settings, await org_plan(conn, org_id), now)
