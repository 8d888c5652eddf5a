"""CLI plugin: `geopera-stac lifecycle run [--now ISO8601]` and `geopera-stac admin usage --org O`."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from geopera_stac_ext import cli
from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.settings import Settings


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
    from geopera_stac_ext.lifecycle.job import run_lifecycle

    now = parse_now(args.now)
    batch = args.batch_size
    if batch is not None and batch < 1:
        raise InvalidRequest("--batch-size must be at least 1")
    with cli.database(settings) as env:
        cli.ensure_migrated(env)
        cli.emit(cli.run_db(env, lambda c: run_lifecycle(c, settings, now, batch)))
    return 0


def _extend(sub: Any, admin_sub: Any) -> None:
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


def _usage_handler(args: argparse.Namespace, settings: Settings):
    from geopera_stac_ext.lifecycle.usage import org_usage

    org = getattr(args, "org", None)
    raw_now = getattr(args, "now", None) if args.admin_cmd == "usage" else None

    async def handler(conn: Any) -> Any:
        return await org_usage(conn, org, parse_now(raw_now))

    return handler


if _extend not in cli.EXTRA_COMMANDS:
    cli.EXTRA_COMMANDS.append(_extend)
cli.EXTRA_ADMIN["usage"] = _usage_handler
