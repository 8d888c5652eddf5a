"""CLI plugin: `geopera-stac admin allow-bucket / list-buckets / disallow-bucket / move-storage`."""

from __future__ import annotations

import argparse
from typing import Any

from geopera_stac_ext import cli
from geopera_stac_ext.core.settings import Settings


def _owner_args(x: Any, required: bool = True) -> None:
    g = x.add_mutually_exclusive_group(required=required)
    g.add_argument("--org", help="organization id")
    g.add_argument("--project", help="project id (for a project without an organization)")


def _extend(sub: Any, admin_sub: Any) -> None:
    x = admin_sub.add_parser("allow-bucket", help="let an account reference s3:// or gs:// "
                                                  "objects under a bucket (and prefix)")
    _owner_args(x)
    x.add_argument("--url", required=True, help="s3://bucket/ or gs://bucket/prefix/")
    x = admin_sub.add_parser("list-buckets", help="the bucket grants, as JSON")
    _owner_args(x, required=False)
    x = admin_sub.add_parser("disallow-bucket", help="remove one bucket grant")
    _owner_args(x)
    x.add_argument("--url", required=True)
    x = admin_sub.add_parser("move-storage", help="list (or --apply: hard-link) local files "
                                                  "of the old shared-root layout into their "
                                                  "projects' storage areas")
    x.add_argument("--apply", action="store_true")


def _handler(name: str):
    def factory(args: argparse.Namespace, settings: Settings):
        from geopera_stac_ext.storage import buckets

        async def handler(conn: Any) -> Any:
            if name == "move-storage":
                from geopera_stac_ext.storage.layout import move_storage

                return await move_storage(conn, settings.resolved_storage_dir, args.apply)
            if name == "list-buckets":
                return await buckets.list_buckets(conn, args.org, args.project)
            fn = buckets.allow_bucket if name == "allow-bucket" else buckets.disallow_bucket
            return await fn(conn, args.org, args.project, args.url)

        return handler

    return factory


if _extend not in cli.EXTRA_COMMANDS:
    cli.EXTRA_COMMANDS.append(_extend)
for _name in ("allow-bucket", "list-buckets", "disallow-bucket", "move-storage"):
    cli.EXTRA_ADMIN[_name] = _handler(_name)
