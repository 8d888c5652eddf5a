"""Every admin command through the real `geopera-stac` CLI on the per-test database."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import bearer, ok, problem
from geopera_stac_ext.core.settings import dsn_from_env

CLI = str(Path(sys.executable).parent / "geopera-stac")
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


@pytest.fixture
def cli(db_env, tmp_path):
    """Run `geopera-stac …` as a subprocess against this test's database."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL=dsn_from_env(db_env), GEOPERA_HOME=str(tmp_path / "home"))

    def run(*args: str, expect: int = 0) -> Any:
        res = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == expect, (args, res.returncode, res.stdout, res.stderr)
        if expect == 0:
            lines = res.stdout.strip().splitlines()
            assert len(lines) == 1, res.stdout  # one JSON document, nothing else on stdout
            return json.loads(lines[0])
        assert res.stdout == "", res.stdout
        return res.stderr

    return run


def sql(db_env, query: str, *args: Any) -> list[tuple]:
    with psycopg.connect(dsn_from_env(db_env)) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description else []


def test_create_org_project_user_grant_key_end_to_end(cli, db_env, client):
    org = cli("admin", "create-org", "--name", "Acme Survey", "--plan", "paid")
    assert org["name"] == "Acme Survey" and org["plan"] == "paid"
    assert org["subscription_status"] == "active"
    project = cli("admin", "create-project", "--name", "Field ops", "--org", org["id"])
    assert project["org_id"] == org["id"]
    user = cli("admin", "create-user", "--email", "pilot@acme.example")
    assert user["email"] == "pilot@acme.example"
    grant = cli("admin", "grant", "--user", user["id"], "--project", project["id"],
                "--role", "editor")
    assert grant == {"user_id": user["id"], "project_id": project["id"], "role": "editor"}
    key = cli("admin", "create-key", "--user", user["id"])
    assert key["scopes"] == ["items:read", "items:write", "collections:read",
                             "collections:write"]
    assert key["api_key"].startswith("gpra_")
    assert sql(db_env, "SELECT name, plan FROM geopera.organizations") == [
        ("Acme Survey", "paid")]
    assert sql(db_env, "SELECT org_id::text, inbox_collection FROM geopera.projects") == [
        (org["id"], f"inbox-{project['id']}")]
    # The printed key works against the service, with the granted role.
    resp = client.post("/v1/op/collections.create", headers=bearer(key["api_key"]),
                       json={"project_id": project["id"], "name": "Works"})
    assert ok(resp)["name"] == "Works"


def test_create_org_defaults_to_free(cli, db_env):
    org = cli("admin", "create-org", "--name", "Small")
    assert org["plan"] == "free"
    assert sql(db_env, "SELECT plan, subscription_status FROM geopera.organizations "
                       "WHERE id = %s", uuid.UUID(org["id"])) == [("free", "active")]


def test_create_project_without_org(cli, db_env):
    project = cli("admin", "create-project", "--name", "Solo")
    assert project["org_id"] is None
    # Its inbox pgstac collection exists, so uncollected items have somewhere to live.
    assert sql(db_env, "SELECT count(*) FROM pgstac.collections WHERE id = %s",
               f"inbox-{project['id']}") == [(1,)]


def test_org_grant_and_regrant_changes_the_role(cli, db_env):
    org = cli("admin", "create-org", "--name", "O")
    user = cli("admin", "create-user", "--email", "a@o.example")
    cli("admin", "grant", "--user", user["id"], "--org", org["id"], "--role", "viewer")
    out = cli("admin", "grant", "--user", user["id"], "--org", org["id"], "--role", "admin")
    assert out == {"user_id": user["id"], "org_id": org["id"], "role": "admin"}
    assert sql(db_env, "SELECT role FROM geopera.memberships") == [("admin",)]


def test_create_key_with_scopes_and_revoke(cli, client, db_env):
    org = cli("admin", "create-org", "--name", "O")
    project = cli("admin", "create-project", "--name", "P", "--org", org["id"])
    user = cli("admin", "create-user", "--email", "r@o.example")
    cli("admin", "grant", "--user", user["id"], "--org", org["id"], "--role", "owner")
    key = cli("admin", "create-key", "--user", user["id"], "--scopes", "items:read")
    assert key["scopes"] == ["items:read"]
    headers = bearer(key["api_key"])
    assert ok(client.post("/v1/op/items.list", headers=headers,
                          json={"project_id": project["id"]}))["total"] == 0
    problem(client.post("/v1/op/collections.list", headers=headers,
                        json={"project_id": project["id"]}), 403)
    revoked = cli("admin", "revoke-key", "--key-id", key["id"])
    assert revoked["id"] == key["id"] and revoked["revoked_at"]
    body = problem(client.post("/v1/op/items.list", headers=headers,
                               json={"project_id": project["id"]}), 401)
    assert "revoked" in body["detail"]
    # Revoking twice keeps the first revocation time.
    assert cli("admin", "revoke-key", "--key-id", key["id"])["revoked_at"] == (
        revoked["revoked_at"])


def test_set_plan_and_subscription(cli, db_env):
    org = cli("admin", "create-org", "--name", "O")
    out = cli("admin", "set-plan", "--org", org["id"], "--plan", "paid")
    assert out["plan"] == "paid" and out["previous_plan"] == "free"
    assert isinstance(out["reactivated_items"], int)
    out = cli("admin", "set-subscription", "--org", org["id"], "--status", "past_due")
    assert out == {"id": org["id"], "subscription_status": "past_due"}
    assert sql(db_env, "SELECT plan, subscription_status FROM geopera.organizations") == [
        ("paid", "past_due")]


# ------------------------------------------------------------------ bad input


@pytest.fixture
def cli_main(db_env, tmp_path, monkeypatch, capsys):
    """`geopera_stac_ext.cli.main([...])` in this process: the same code as the console script
    without ~1 s of interpreter start and imports per call (the matrix below has 20+ cases)."""
    from geopera_stac_ext import cli as cli_module

    for k in list(os.environ):
        if k.startswith(("PG", "GEOPERA_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("DATABASE_URL", dsn_from_env(db_env))
    monkeypatch.setenv("GEOPERA_HOME", str(tmp_path / "home"))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli_module.main(list(args))
        except SystemExit as e:  # argparse usage errors
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_bad_input_exits_non_zero_with_a_message(cli, cli_main, db_env):
    org = cli("admin", "create-org", "--name", "O")
    user = cli("admin", "create-user", "--email", "dup@o.example")
    ghost = str(uuid.uuid4())
    cases = [
        (("admin", "create-org", "--name", "X", "--plan", "gold"), "invalid choice: 'gold'"),
        (("admin", "create-org", "--name", "   "), "name must be 1–200 characters"),
        (("admin", "create-org", "--name", "x" * 201), "name must be 1–200 characters"),
        (("admin", "create-user", "--email", "not-an-email"), "not an email address"),
        (("admin", "create-user", "--email", "DUP@o.example"), "already exists"),
        (("admin", "create-project", "--name", "P", "--org", ghost), "not found"),
        (("admin", "create-project", "--name", "P", "--org", "abc"), "must be a UUID"),
        (("admin", "grant", "--user", ghost, "--org", org["id"], "--role", "viewer"),
         "not found"),
        (("admin", "grant", "--user", "nope", "--org", org["id"], "--role", "viewer"),
         "must be a UUID"),
        (("admin", "grant", "--user", user["id"], "--project", ghost, "--role", "viewer"),
         "not found"),
        (("admin", "grant", "--user", user["id"], "--org", org["id"], "--role", "god"),
         "invalid choice: 'god'"),
        (("admin", "grant", "--user", user["id"], "--org", org["id"], "--project", ghost,
          "--role", "viewer"), "not allowed with argument"),
        (("admin", "grant", "--user", user["id"], "--role", "viewer"),
         "one of the arguments --org --project is required"),
        (("admin", "create-key", "--user", ghost), "not found"),
        (("admin", "create-key", "--user", user["id"], "--scopes", "items:fly"),
         "unknown scope(s) items:fly"),
        (("admin", "create-key", "--user", user["id"], "--scopes", ""), "at least one scope"),
        (("admin", "revoke-key", "--key-id", ghost), "not found"),
        (("admin", "set-plan", "--org", ghost, "--plan", "paid"), "not found"),
        (("admin", "set-plan", "--org", org["id"], "--plan", "gold"), "invalid choice"),
        (("admin", "set-subscription", "--org", org["id"], "--status", "late"),
         "invalid choice"),
        (("admin", "set-subscription", "--org", "12", "--status", "active"), "must be a UUID"),
        (("admin", "create-org"), "--name"),
    ]
    # A few through the real console script (exit status and stderr of a real process)...
    for args, needle in (cases[0], cases[3], cases[7], cases[12], cases[15]):
        stderr = cli(*args, expect=2)
        assert needle in stderr, (args, stderr)
    # ...and every case through the same main() in-process.
    for args, needle in cases:
        code, out, stderr = cli_main(*args)
        assert code == 2 and out == "", (args, code, out)
        assert needle in stderr, (args, stderr)
        assert "Traceback" not in stderr, (args, stderr)
    # Nothing was written by the refused commands.
    assert sql(db_env, "SELECT count(*) FROM geopera.organizations") == [(1,)]
    assert sql(db_env, "SELECT count(*) FROM geopera.users") == [(1,)]
    assert sql(db_env, "SELECT count(*) FROM geopera.memberships") == [(0,)]
    assert sql(db_env, "SELECT count(*) FROM geopera.api_keys") == [(0,)]


# ------------------------------------------------------------------ key hashing


def test_raw_key_appears_nowhere_in_the_database(cli, db_env, client):
    org = cli("admin", "create-org", "--name", "O")
    project = cli("admin", "create-project", "--name", "P", "--org", org["id"])
    user = cli("admin", "create-user", "--email", "k@o.example")
    cli("admin", "grant", "--user", user["id"], "--project", project["id"], "--role", "owner")
    keys = [cli("admin", "create-key", "--user", user["id"])["api_key"] for _ in range(3)]
    # Use the keys, so request paths (audit log, ledgers) get a chance to store them too.
    for key in keys:
        ok(client.post("/v1/op/collections.create", headers=bearer(key),
                       json={"project_id": project["id"], "name": "C"}))
    env = {**os.environ, **db_env}
    dump = subprocess.run([PG_DUMP, "--data-only", "--no-owner", db_env["PGDATABASE"]],
                          env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "geopera.api_keys" in dump and len(dump) > 10_000  # the dump has real content
    for key in keys:
        body = key[len("gpra_"):]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        for needle in (key, body, body[:16], raw.hex()):
            assert needle not in dump, f"key material {needle[:8]}… found in the database"
    # ...and what is stored is exactly the SHA-256 plus a short display prefix.
    import hashlib

    rows = sql(db_env, "SELECT key_hash, prefix FROM geopera.api_keys ORDER BY created_at")
    assert {bytes(r[0]) for r in rows} == {hashlib.sha256(k.encode()).digest() for k in keys}
    assert all(len(r[1]) == len("gpra_") + 6 for r in rows)


def test_create_key_prints_the_key_on_stdout_only(db_env, tmp_path, cli):
    user = cli("admin", "create-user", "--email", "s@o.example")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL=dsn_from_env(db_env), GEOPERA_HOME=str(tmp_path / "h"),
               GEOPERA_LOG_LEVEL="debug")
    res = subprocess.run([CLI, "admin", "create-key", "--user", user["id"]], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    key = json.loads(res.stdout)["api_key"]
    assert key not in res.stderr and "DEBUG" in res.stderr
    assert db_env["PGPASSWORD"] not in res.stderr


# ------------------------------------------------------------------ migrate


def test_migrate_is_idempotent_and_refuses_an_edited_migration(cli, db_env):
    from geopera_stac_ext.db.migrate import migration_files

    names = [n for n, _ in migration_files()]
    # The per-test database is a clone of the migrated template; whatever is left (a migration
    # added after the template was built) is applied once, then nothing.
    first = cli("migrate")
    assert first["pgstac_version"] == "0.10.0"
    assert cli("migrate") == {"pgstac_version": "0.10.0", "applied": []}
    ledger = sql(db_env, "SELECT name FROM geopera.migrations ORDER BY name")
    assert [r[0] for r in ledger] == names
    # NOTE: simulate editing an applied migration file by changing its recorded checksum:
    # the comparison is the same (recorded vs file), without touching the repo's files.
    sql(db_env, "UPDATE geopera.migrations SET checksum = repeat('0', 64) WHERE name = %s",
        names[0])
    stderr = cli("migrate", expect=2)
    assert names[0] in stderr and "changed after it was applied" in stderr


def test_migrate_on_an_empty_database_applies_everything_once(pg_cluster, tmp_path):
    from geopera_stac_ext.db.migrate import migration_files

    name = f"fresh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
        env.update(DATABASE_URL=dsn_from_env(pg_cluster.env(name)),
                   GEOPERA_HOME=str(tmp_path / "home"))

        def migrate() -> dict:
            res = subprocess.run([CLI, "migrate"], env=env, capture_output=True, text=True,
                                 timeout=180)
            assert res.returncode == 0, res.stderr
            return json.loads(res.stdout)

        assert migrate()["applied"] == [n for n, _ in migration_files()]
        with psycopg.connect(dsn_from_env(pg_cluster.env(name))) as conn:
            before = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema IN ('geopera', 'pgstac')").fetchone()
        assert migrate()["applied"] == []
        with psycopg.connect(dsn_from_env(pg_cluster.env(name))) as conn:
            after = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema IN ('geopera', 'pgstac')").fetchone()
            ext = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert before == after
        assert {"postgis", "btree_gist", "unaccent"} <= ext
    finally:
        with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_bad_database_url_is_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL="mysql://u:p@localhost/db", GEOPERA_HOME=str(tmp_path))
    res = subprocess.run([CLI, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "geopera-stac: error: DATABASE_URL must be a postgresql:// URL"]
