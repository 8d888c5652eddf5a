"""The lifecycle job: advance every due item to its state at `now`, in batches, idempotently."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from geopera_stac_ext.domain.retention import first_transition

log = logging.getLogger(__name__)

# NOTE: session-level advisory lock key: one lifecycle run at a time across all processes.
JOB_LOCK_KEY = 0x6765_7261_0002

# Items the job may move, per plan: (plan, state) pairs that have a timed next transition.
DUE_SQL = """
SELECT i.id, i.project_id, i.lifecycle_state, i.expires_at, p.org_id,
       coalesce(o.plan, 'free') AS plan
FROM geopera.items i
JOIN geopera.projects p ON p.id = i.project_id
LEFT JOIN geopera.organizations o ON o.id = p.org_id
WHERE i.deleted_at IS NULL AND i.expires_at <= $1
  AND ((coalesce(o.plan, 'free') = 'free' AND i.lifecycle_state IN ('active', 'expiring', 'expired'))
       OR (o.plan = 'paid' AND i.lifecycle_state = 'active'))
ORDER BY i.expires_at, i.id
LIMIT $2
FOR UPDATE OF i SKIP LOCKED
"""


def next_step(settings: Any, plan: str, state: str, due: datetime
              ) -> tuple[str, datetime | None] | None:
    """(next state, when the one after is due) for an item whose transition is due at `due`."""
    if plan == "paid":
        return ("archived", None) if state == "active" else None
    if state == "active":
        return "expiring", due + timedelta(days=settings.expiry_warning_days)
    if state == "expiring":
        return "expired", due + timedelta(days=settings.expired_grace_days)
    if state == "expired":
        return "deleted", None
    return None


def catch_up(settings: Any, plan: str, state: str, due: datetime, now: datetime
             ) -> list[tuple[str, str, datetime | None]]:
    """Every transition due by `now`, in order: [(from, to, next due)]. Applying them all in one
    run is what makes a second run at the same `now` a no-op."""
    steps = []
    while due is not None and due <= now:
        step = next_step(settings, plan, state, due)
        if step is None:
            break
        steps.append((state, step[0], step[1]))
        state, due = step  # type: ignore[assignment]
    return steps


async def release_storage(conn: Any, item_ids: list[Any], reason: str, at: datetime) -> None:
    """Soft-delete the items' live assets and debit storage like items.delete does.

    NOTE: the shared helper applies the ledger's duplicate rule (bytes counted once per
    underlying stored file, debited when its last live asset goes); imported here, not at
    module level, because ops.items imports domain.retention.
    """
    from geopera_stac_ext.ops.items import release_assets

    rows = await conn.fetch(
        "SELECT id FROM geopera.assets WHERE item_id = ANY($1::uuid[]) AND deleted_at IS NULL",
        item_ids)
    await release_assets(conn, [r["id"] for r in rows], at, reason)


async def _advance_batch(conn: Any, settings: Any, now: datetime, batch: int,
                         counts: Counter[str]) -> int:
    async with conn.transaction():
        rows = await conn.fetch(DUE_SQL, now, batch)
        updates, events, deleted = [], [], []
        for r in rows:
            steps = catch_up(settings, r["plan"], r["lifecycle_state"], r["expires_at"], now)
            if not steps:
                continue
            final, next_due = steps[-1][1], steps[-1][2]
            updates.append((r["id"], final, next_due, now if final == "deleted" else None))
            for frm, to, _ in steps:
                events.append((now, r["id"], frm, to, f"retention:{r['plan']}"))
                counts[f"{frm}->{to}"] += 1
            if final == "deleted":
                deleted.append(r["id"])
        if updates:
            await conn.executemany(
                "UPDATE geopera.items SET lifecycle_state = $2, expires_at = $3,"
                " deleted_at = $4, updated_at = $5 WHERE id = $1",
                [(*u, now) for u in updates])
            await conn.executemany(
                "INSERT INTO geopera.lifecycle_events (at, item_id, from_state, to_state, reason)"
                " VALUES ($1, $2, $3, $4, $5)", events)
        if deleted:
            await release_storage(conn, deleted, "lifecycle_deleted", now)
        return len(rows)


async def run_lifecycle(conn: Any, settings: Any, now: datetime | None = None,
                        batch_size: int | None = None) -> dict[str, Any]:
    """One run. Returns a JSON-able summary; `ran` is false when another run holds the lock."""
    now = now or datetime.now(timezone.utc)
    batch = batch_size or settings.lifecycle_batch_size
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", JOB_LOCK_KEY):
        return {"ran": False, "reason": "another lifecycle run is in progress", "now": now.isoformat(),
                "items": 0, "transitions": {}}
    counts: Counter[str] = Counter()
    items = 0
    batches = 0
    try:
        while True:
            n = await _advance_batch(conn, settings, now, batch, counts)
            if n == 0:
                break
            items += n
            batches += 1
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", JOB_LOCK_KEY)
    return {"ran": True, "now": now.isoformat(), "items": items, "batches": batches,
            "transitions": dict(sorted(counts.items()))}


# ---------------------------------------------------------------- plan changes


async def on_plan_change(conn: Any, org_id: Any, old_plan: str, new_plan: str,
                         settings: Any = None, now: datetime | None = None) -> int:
    """tenancy.set_plan hook: an upgrade puts the org's active, expiring and expired items on
    the paid timeline (state active, archived after paid_archive_after_days); a downgrade puts
    active and archived items on the free timeline. Deleted items stay deleted. Returns how
    many expired or expiring items were re-activated."""
    from geopera_stac_ext.core.settings import Settings

    settings = settings or Settings()
    now = now or datetime.now(timezone.utc)
    if old_plan == new_plan:
        return 0
    # NOTE: constant SQL per direction; a downgrade never postpones an active item's due date.
    cond = ("i.lifecycle_state IN ('active', 'expiring', 'expired')" if new_plan == "paid" else
            "(i.lifecycle_state = 'archived' OR (i.lifecycle_state = 'active'"
            " AND (i.expires_at IS NULL OR i.expires_at > $2)))")
    due = first_transition(settings, new_plan, now)
    rows = await conn.fetch(
        f"""
        WITH prev AS (
            SELECT i.id, i.lifecycle_state FROM geopera.items i
            JOIN geopera.projects p ON p.id = i.project_id
            WHERE p.org_id = $1 AND i.deleted_at IS NULL AND {cond}
            FOR UPDATE OF i
        )
        UPDATE geopera.items i SET lifecycle_state = 'active', expires_at = $2, updated_at = $3
        FROM prev WHERE i.id = prev.id
        RETURNING i.id, prev.lifecycle_state AS old_state
        """,
        org_id, due, now)
    changed = [r for r in rows if r["old_state"] != "active"]
    if changed:
        await conn.executemany(
            "INSERT INTO geopera.lifecycle_events (at, item_id, from_state, to_state, reason)"
            " VALUES ($1, $2, $3, 'active', $4)",
            [(now, r["id"], r["old_state"], f"plan:{old_plan}->{new_plan}") for r in changed])
    return sum(1 for r in changed if r["old_state"] in ("expired", "expiring"))


def register_plan_hook() -> None:
    from geopera_stac_ext.admin import tenancy

    if on_plan_change not in tenancy.PLAN_CHANGE_HOOKS:
        tenancy.PLAN_CHANGE_HOOKS.append(on_plan_change)


# ---------------------------------------------------------------- in-process runner


class PeriodicRunner:
    """Runs the job every `interval` seconds on the app's write pool (off when interval is 0)."""

    def __init__(self, app: Any, settings: Any, interval: float) -> None:
        self.app, self.settings, self.interval = app, settings, interval
        self.task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> "PeriodicRunner":
        if self.interval > 0:
            self.task = asyncio.create_task(self._loop(), name="geopera-lifecycle")
        return self

    async def _loop(self) -> None:
        while True:
            try:
                clock = getattr(self.app.state, "clock", None)
                async with self.app.state.writepool.acquire() as conn:
                    summary = await run_lifecycle(conn, self.settings, clock() if clock else None)
                self.runs += 1
                if summary.get("items"):
                    log.info("lifecycle run: %s", summary)
            except asyncio.CancelledError:
                raise
            except Exception:  # NOTE: a failed run must not stop later runs; it is logged.
                log.exception("lifecycle run failed; retrying in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
