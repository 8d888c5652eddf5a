"""The pgstac versions this service is tested with, checked at start-up by the app and the CLI."""

from __future__ import annotations

from typing import Any

import psycopg
from pypgstac.version import __version__ as PYPGSTAC_VERSION

from geopera_stac_ext.core.errors import SetupError
from geopera_stac_ext.core.settings import dsn_from_env
from geopera_stac_ext.db.migrate import installed_pgstac_version, migrate

# NOTE: the versions the whole test suite ran against. The SQL of this package (and of the
# search engine and loader) reads pgstac's tables and calls its functions directly, so a
# pgstac outside this list is refused instead of half-working: add a version here only after
# the suite passed on it.
SUPPORTED_PGSTAC = ("0.10.0",)
# What pypgstac's PgstacDB.version (and pgstac.get_version()) read, without needing the
# function: an empty database has no pgstac schema.
VERSION_SQL = ("SELECT version FROM pgstac.migrations"
               " ORDER BY datetime DESC, version DESC LIMIT 1")
REGCLASS_SQL = "SELECT to_regclass('pgstac.migrations')"


def _key(version: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(x) for x in version.split("."))
    except ValueError:
        return None


def refusal(found: str | None) -> SetupError:
    supported = ", ".join(SUPPORTED_PGSTAC)
    if found is None:
        return SetupError(f"the database has no pgstac schema; this geopera-stac is tested "
                          f"with pgstac {supported}: run `geopera-stac migrate`")
    newer = [_key(v) for v in SUPPORTED_PGSTAC]
    if (k := _key(found)) is not None and all(s is not None and k < s for s in newer):
        hint = "run `geopera-stac migrate` to upgrade it"
    else:
        hint = "use the geopera-stac release tested with that pgstac version"
    return SetupError(f"the database has pgstac {found}, but this geopera-stac is tested with "
                      f"pgstac {supported} only; {hint}")


def check_supported(found: str | None) -> str:
    """The version, if this service is tested with it; SetupError naming both otherwise."""
    if found not in SUPPORTED_PGSTAC:
        raise refusal(found)
    return found


def check_upgradable(found: str | None) -> None:
    """Before migrating: pypgstac may upgrade an older pgstac to ours, never go down or sideways.

    NOTE: pypgstac itself must be one we test with: it migrates to its own version."""
    if PYPGSTAC_VERSION not in SUPPORTED_PGSTAC:
        raise SetupError(f"the installed pypgstac {PYPGSTAC_VERSION} would migrate to a pgstac "
                         f"this geopera-stac is not tested with ({', '.join(SUPPORTED_PGSTAC)})")
    if found is None or found in SUPPORTED_PGSTAC:
        return
    k, target = _key(found), _key(PYPGSTAC_VERSION)
    if k is None or target is None or k > target:
        raise refusal(found)


def migrate_supported(dsn: str) -> dict:
    """db.migrate.migrate, refused before pypgstac touches a pgstac we are not tested with
    (a newer one is never "migrated" down) and checked after (the app's and every CLI
    command's start-up go through here)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        check_upgradable(installed_pgstac_version(conn))
    result = migrate(dsn)
    check_supported(result["pgstac_version"])
    return result


def ensure_migrated(env: dict[str, str]) -> dict:
    """What every CLI command runs first: migrate_supported on the PG* env."""
    return migrate_supported(dsn_from_env(env))


async def installed_version(conn: Any) -> str | None:
    """The pgstac version of the database (asyncpg connection)."""
    if await conn.fetchval(REGCLASS_SQL) is None:
        return None
    return await conn.fetchval(VERSION_SQL)


async def ensure_supported(conn: Any) -> str:
    """At start-up: refuse a database whose pgstac this service is not tested with."""
    return check_supported(await installed_version(conn))
