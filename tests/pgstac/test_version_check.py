"""An untested pgstac version is refused at start-up, by the app and by the CLI, naming both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from geopera_stac_ext.app import create_app
from geopera_stac_ext.core.errors import SetupError
from geopera_stac_ext.pgstac.version import (
    SUPPORTED_PGSTAC,
    check_supported,
    check_upgradable,
)
from geopera_stac_ext.core.settings import dsn_from_env

CLI = str(Path(sys.executable).parent / "geopera-stac")


def _pretend_pgstac(db_env: dict[str, str], version: str) -> None:
    """Record a pgstac migration to `version`, as a newer pypgstac would have."""
    with psycopg.connect(dsn_from_env(db_env), autocommit=True) as conn:
        conn.execute("INSERT INTO pgstac.migrations (version, datetime)"
                     " VALUES (%s, now() + interval '1 minute')", (version,))


def _pgstac_versions(db_env: dict[str, str]) -> list[str]:
    with psycopg.connect(dsn_from_env(db_env)) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM pgstac.migrations"
                                           " ORDER BY datetime DESC, version DESC")]


def test_the_tested_version_is_the_one_pypgstac_installs(db_env):
    assert _pgstac_versions(db_env)[0] in SUPPORTED_PGSTAC
    assert check_supported(SUPPORTED_PGSTAC[0]) == SUPPORTED_PGSTAC[0]


def test_app_start_refuses_an_untested_pgstac_naming_found_and_supported(db_env, settings):
    _pretend_pgstac(db_env, "0.11.2")
    app = create_app(settings, pg_env=db_env)
    with pytest.raises(SetupError) as err:
        with TestClient(app):
            pass
    message = str(err.value)
    assert "pgstac 0.11.2" in message and SUPPORTED_PGSTAC[0] in message


def test_app_start_accepts_the_tested_pgstac(client):
    assert client.get("/_mgmt/ping").status_code == 200


def test_cli_refuses_an_untested_pgstac_and_leaves_the_schema_alone(db_env, tmp_path):
    _pretend_pgstac(db_env, "0.11.2")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL=dsn_from_env(db_env), GEOPERA_HOME=str(tmp_path / "home"))
    for args in (["migrate"], ["admin", "list-orgs"]):
        res = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode != 0, (args, res.stdout)
        assert res.stdout == ""
        assert "pgstac 0.11.2" in res.stderr and SUPPORTED_PGSTAC[0] in res.stderr, res.stderr
    # NOTE: pypgstac never ran: a newer pgstac is not "migrated" down.
    assert _pgstac_versions(db_env)[0] == "0.11.2"


def test_an_older_pgstac_may_be_upgraded_and_the_refusal_says_how():
    check_upgradable("0.9.8")  # pypgstac's migration path goes up to ours
    check_upgradable(None)  # an empty database gets pgstac installed
    with pytest.raises(SetupError, match="run `geopera-stac migrate`"):
        check_supported("0.9.8")
    with pytest.raises(SetupError, match="tested with pgstac"):
        check_upgradable("1.0.0")
    with pytest.raises(SetupError, match="no pgstac schema"):
        check_supported(None)
