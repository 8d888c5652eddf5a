"""Commands: `geopera-stac lifecycle run [--now ISO8601]` and `geopera-stac admin usage --org O`."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.settings import Settings
from geopera_stac_ext.db.session import database, emit, run_db
from geopera_stac_ext.pgstac.version import ensure_migrated
from geopera_stac_ext.lifecycle.job import run_lifecycle
from geopera_stac_ext.lifecycle.usage import org_usage


def parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"--now must be an ISO 8601 timestamp such as "
                             f"2026-06-01T00:00:00Z, got {value!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def cmd_lifecycle_run(args: argparse.Namespace, settings: Settings) -> int:
    now = parse_now(args.now)
    batch = args.batch_size
    if batch is not None and batch < 1:
        raise InvalidRequest("--batch-size must be at least 1")
    with database(settings) as env:
        ensure_migrated(env)
        emit(run_db(env, lambda c: run_lifecycle(c, settings, now, batch)))
    return 0


def register(sub: Any, admin_sub: Any) -> dict[str, Any]:
    """`lifecycle run`, and `admin usage` (its handler factory is returned)."""
    lc = sub.add_parser("lifecycle", help="item lifecycle and retention")
    lsub = lc.add_subparsers(dest="lifecycle_cmd", required=True)
    r = lsub.add_parser("run", help="advance every due item once; prints a JSON summary")
    r.add_argument("--now", help="evaluate as of this ISO 8601 instant (default: now)")
    r.add_argument("--batch-size", type=int, default=None,
                   help="items per transaction (default GEOPERA_LIFECYCLE_BATCH_SIZE)")
    r.set_defaults(func=cmd_lifecycle_run)
    u = admin_sub.add_parser("usage", help="storage and egress usage and item counts, as JSON")
    u.add_argument("--org", required=True)
    u.add_argument("--now", help="evaluate the egress windows as of this ISO 8601 instant")
    return {"usage": _usage_handler}


def _usage_handler(args: argparse.Namespace, settings: Settings):
    org = getattr(args, "org", None)
    raw_now = getattr(args, "now", None) if args.admin_cmd == "usage" else None

    async def handler(conn: Any) -> Any:
        return await org_usage(conn, org, parse_now(raw_now))

    return handler
