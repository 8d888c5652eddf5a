"""`geopera-stac load FILE.ndjson --project P [--collection C]`: bulk-ingest STAC items."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import psycopg

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.ingest.run import DEFAULT_BATCH, DEFAULT_WRITERS, load_file
from geopera_stac_ext.core.settings import Settings, dsn_from_env
from geopera_stac_ext.db.session import database, emit
from geopera_stac_ext.pgstac.version import ensure_migrated


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise InvalidRequest(f"no such file: {path}")
    if args.batch_size < 1:
        raise InvalidRequest("--batch-size must be at least 1")
    if args.writers < 1:
        raise InvalidRequest("--writers must be at least 1")
    with database(settings) as env:
        ensure_migrated(env)
        dsn = dsn_from_env(env)

        def connect() -> psycopg.Connection:
            return psycopg.connect(dsn, options="-c search_path=pgstac,public")

        with connect() as conn:
            summary = load_file(conn, settings, path, args.project, args.collection,
                                args.batch_size, connect=connect, writers=args.writers,
                                skip_existing=args.skip_existing)
    out = summary.as_dict()
    emit(out)
    skipped = f", skipped {out['skipped']} already loaded" if args.skip_existing else ""
    print(f"loaded {out['loaded']} items ({out['items_per_second']:,.0f}/s){skipped}, rejected "
          f"{out['rejected']} lines, created {out['collections_created']} collections",
          file=sys.stderr)
    return 1 if summary.rejected else 0


def register(sub: Any, _admin: Any) -> dict[str, Any]:
    """`geopera-stac load`; it adds no admin subcommand."""
    p = sub.add_parser("load", help="bulk-load STAC items (ndjson) into a project")
    p.add_argument("file", help="ndjson: one STAC Item per line")
    p.add_argument("--project", required=True, help="target project id")
    p.add_argument("--collection", help="put every item in this collection (id or name); by "
                                        "default each item's `collection` field names one, "
                                        "created if missing")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                   help=f"items per transaction (default {DEFAULT_BATCH})")
    p.add_argument("--writers", type=int, default=DEFAULT_WRITERS,
                   help=f"batches written at once, each on its own connection (default "
                        f"{DEFAULT_WRITERS}; 1 writes them strictly in file order)")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip lines whose item id this project already has (to finish a load "
                        "that stopped part-way) instead of rejecting them")
    p.set_defaults(func=cmd_load)
    return {}
