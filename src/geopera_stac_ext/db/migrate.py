"""Apply pypgstac's migrations, then ours from pgstac_migrations/, recorded with checksums."""

from __future__ import annotations

import hashlib
import logging
from importlib import resources

import psycopg
from pypgstac.version import __version__ as PYPGSTAC_VERSION

from geopera_stac_ext.core.errors import SetupError

log = logging.getLogger(__name__)

EXTENSIONS = ("postgis", "btree_gist", "unaccent")
LEDGER = """
CREATE SCHEMA IF NOT EXISTS geopera;
CREATE TABLE IF NOT EXISTS geopera.migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""
# NOTE: one arbitrary constant so concurrent `migrate` runs (several replicas starting) serialise.
MIGRATION_LOCK = 0x6765_6F70


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of our migrations in order.

    NOTE: `geopera_stac_ext/pgstac_migrations` is a symlink to the repo's `pgstac_migrations/`,
    so the editable install and the built wheel (which copies the files) read the same SQL.
    """
    pkg = resources.files("geopera_stac_ext") / "pgstac_migrations"
    entries = sorted((e for e in pkg.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name)
    return [(e.name, e.read_text()) for e in entries]


def installed_pgstac_version(conn: psycopg.Connection) -> str | None:
    """The pgstac version the database is at (what pypgstac's PgstacDB.version reads)."""
    if conn.execute("SELECT to_regclass('pgstac.migrations')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT version FROM pgstac.migrations"
                       " ORDER BY datetime DESC, version DESC LIMIT 1").fetchone()
    return None if row is None else row[0]


def migrate(dsn: str) -> dict:
    """Idempotently bring the database to the current schema; returns what was applied."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            for ext in EXTENSIONS:
                try:
                    conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")  # constant names
                except psycopg.errors.FeatureNotSupported as e:  # pragma: no cover
                    raise SetupError(f"extension {ext} unavailable: {e}") from e
                except psycopg.errors.UndefinedFile as e:
                    raise SetupError(
                        f"extension {ext} is not installed on the server; on Debian install "
                        "`postgresql-15-postgis-3`"
                    ) from e
            pgstac_version = installed_pgstac_version(conn)
            if pgstac_version != PYPGSTAC_VERSION:
                # NOTE: imported only when there is something to migrate: pypgstac.migrate
                # pulls in smart_open and boto3 (≈ 0.4 s at every CLI start otherwise).
                from pypgstac.db import PgstacDB
                from pypgstac.migrate import Migrate

                pgdb = PgstacDB(dsn=dsn)
                try:
                    pgstac_version = Migrate(pgdb).run_migration()
                finally:
                    pgdb.close()
            conn.execute(LEDGER)
            done = dict(conn.execute("SELECT name, checksum FROM geopera.migrations").fetchall())
            applied = []
            for name, sql in migration_files():
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if name in done:
                    if done[name] != checksum:
                        raise SetupError(
                            f"migration {name} changed after it was applied "
                            f"(recorded {done[name][:12]}, file {checksum[:12]}); "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "INSERT INTO geopera.migrations (name, checksum) VALUES (%s, %s)",
                        (name, checksum),
                    )
                applied.append(name)
                log.info("applied migration %s", name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return {"pgstac_version": pgstac_version, "applied": applied}
