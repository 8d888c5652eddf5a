"""The operator's admin subcommands (listings, recovery, audit), declared in one explicit table."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from geopera_stac_ext import cli
from geopera_stac_ext.core.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], Callable[[Any], Awaitable[Any]]]


@dataclass(frozen=True)
class AdminCommand:
    name: str
    help: str
    args: tuple[tuple[str, dict[str, Any]], ...]
    handler: Handler


def _list_orgs(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.listing import list_orgs
    return list_orgs


def _list_projects(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.listing import list_projects
    return lambda c: list_projects(c, a.org)


def _list_users(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.listing import list_users
    return list_users


def _list_keys(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.listing import list_keys
    return lambda c: list_keys(c, a.user)


def _restore_item(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.recovery import restore_item
    return lambda c: restore_item(c, s, a.item)


def _restore_asset(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.recovery import restore_asset
    return lambda c: restore_asset(c, s, a.asset)


def _restore_collection(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.recovery import restore_collection
    return lambda c: restore_collection(c, a.collection, a.relink)


def _audit(a: argparse.Namespace, s: Settings):
    from geopera_stac_ext.admin.recovery import audit_trail
    from geopera_stac_ext.lifecycle.commands import parse_now

    # NOTE: cli._admin builds every handler; only the chosen one runs (and reads its flags).
    return lambda c: audit_trail(c, a.org, a.project, parse_now(a.since), a.limit)


COMMANDS: tuple[AdminCommand, ...] = (
    AdminCommand("list-orgs", "organizations with plan, status and counts", (), _list_orgs),
    AdminCommand("list-projects", "projects (of one organization) with counts",
                 (("--org", {}),), _list_projects),
    AdminCommand("list-users", "users with their memberships", (), _list_users),
    AdminCommand("list-keys", "API keys: prefix, scopes, created, last used, revoked "
                 "(never the key)", (("--user", {}),), _list_keys),
    AdminCommand("restore-item", "restore a deleted item and the assets deleted with it",
                 (("--item", {"required": True}),), _restore_item),
    AdminCommand("restore-asset", "restore one deleted asset of a live item",
                 (("--asset", {"required": True}),), _restore_asset),
    AdminCommand("restore-collection", "restore a deleted collection (and its STAC collection)",
                 (("--collection", {"required": True}),
                  ("--relink", {"action": "store_true",
                                "help": "move the items its deletion unlinked back into it"})),
                 _restore_collection),
    AdminCommand("audit", "the audit trail, newest first",
                 (("--org", {}), ("--project", {}),
                  ("--since", {"help": "ISO 8601 instant"}),
                  ("--limit", {"type": int, "default": 100})), _audit),
)


def _extend(sub: Any, admin_sub: Any) -> None:
    for command in COMMANDS:
        parser = admin_sub.add_parser(command.name, help=command.help)
        for flag, options in command.args:
            parser.add_argument(flag, **options)


if _extend not in cli.EXTRA_COMMANDS:
    cli.EXTRA_COMMANDS.append(_extend)
for _command in COMMANDS:
    cli.EXTRA_ADMIN[_command.name] = _command.handler
