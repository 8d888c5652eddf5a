"""Test fixtures: one embedded PostgreSQL+PostGIS cluster per session, a migrated template
database, and a fresh clone of it per test (real pgstac, no mocks)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.app import create_app
from geopera_stac_ext.cli import run_db
from geopera_stac_ext.db.embedded import EmbeddedCluster
from geopera_stac_ext.db.migrate import migrate
from geopera_stac_ext.core.settings import Settings, dsn_from_env
from geopera_stac_ext.storage import buckets

TEMPLATE = "geopera_template"
TEST_BUCKETS = ("s3://bucket/", "s3://b/", "gs://bucket/", "gs://b/")
# NOTE: 32+ bytes: the service refuses shorter signing secrets.
TEST_SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fail_on_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A test that makes the service log at ERROR (e.g. an unhandled 500) fails."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR
              and r.name.startswith("geopera_stac_ext")
              and not getattr(r, "expected_in_test", False)]
    assert not errors, "service logged errors: " + "; ".join(r.getMessage() for r in errors)


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    # NOTE: a killed run (CI timeout, `timeout`) would otherwise leave its cluster running.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    home = Path(tempfile.mkdtemp(prefix="geopera-test-", dir="/tmp"))
    os.chmod(home, 0o755)
    cluster = EmbeddedCluster(home, durable=False).start()
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    migrate(dsn_from_env(cluster.env(TEMPLATE)))
    yield cluster
    cluster.stop()
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(cluster.datadir, ignore_errors=True)


@pytest.fixture
def db_env(pg_cluster: EmbeddedCluster) -> Iterator[dict[str, str]]:
    """PG* settings of a fresh database cloned from the migrated template."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        for _attempt in range(50):
            try:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
                break
            except psycopg.errors.ObjectInUse:
                # NOTE: a just-closed session on the template may still be exiting.
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (TEMPLATE,))
                time.sleep(0.1)
        else:
            raise RuntimeError("template database stayed busy")
    yield pg_cluster.env(name)
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    storage = tmp_path / "storage"
    storage.mkdir()
    return Settings(home=tmp_path, storage_dir=storage, signing_secret=TEST_SIGNING_SECRET)


class Clock:
    """An injectable clock: tests move time explicitly."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, db_env: dict[str, str], clock: Clock):
    return create_app(settings, pg_env=db_env, clock=clock)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def db(db_env: dict[str, str]) -> Callable[[Callable[[Any], Any]], Any]:
    """Run an async function `fn(conn)` against the test database (asyncpg)."""
    return lambda fn: run_db(db_env, fn)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Actor:
    user_id: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key)


@dataclass
class World:
    """Org A (free) with project A1 and A2; org B with project B1; a user per role on A1."""

    org_a: str
    org_b: str
    project_a1: str
    project_a2: str
    project_b1: str
    actors: dict[str, Actor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


async def make_actor(conn: Any, email: str, grants: list[tuple[str, str, str]],
                     scopes: str | None = None) -> Actor:
    user = await tenancy.create_user(conn, email)
    for kind, target, role in grants:
        if kind == "org":
            await tenancy.grant(conn, user["id"], role, org_id=target)
        else:
            await tenancy.grant(conn, user["id"], role, project_id=target)
    key = await tenancy.create_key(conn, user["id"], scopes)
    return Actor(user["id"], key["api_key"], key["id"])


@pytest.fixture
def world(db) -> World:
    async def build(conn: Any) -> World:
        org_a = (await tenancy.create_org(conn, "Org A", "free"))["id"]
        org_b = (await tenancy.create_org(conn, "Org B", "free"))["id"]
        a1 = (await tenancy.create_project(conn, "A1", org_a))["id"]
        a2 = (await tenancy.create_project(conn, "A2", org_a))["id"]
        b1 = (await tenancy.create_project(conn, "B1", org_b))["id"]
        w = World(org_a, org_b, a1, a2, b1)
        # NOTE: the buckets the tests' items name (item_params) are granted to both orgs.
        for org in (org_a, org_b):
            for url in TEST_BUCKETS:
                await buckets.allow_bucket(conn, org, None, url)
        for role in ("viewer", "editor", "admin", "owner"):
            w.actors[role] = await make_actor(conn, f"{role}@a.example", [("project", a1, role)])
        w.actors["org_owner"] = await make_actor(conn, "boss@a.example", [("org", org_a, "owner")])
        w.actors["outsider"] = await make_actor(conn, "owner@b.example", [("org", org_b, "owner")])
        w.actors["loner"] = await make_actor(conn, "loner@nowhere.example", [])
        w.actors["readonly"] = await make_actor(
            conn, "ro@a.example", [("project", a1, "owner")],
            scopes="items:read,collections:read")
        return w

    return db(build)


def op(client: TestClient, op_id: str, actor: Actor | None = None, **params: Any):
    """POST /v1/op/{op_id} as `actor`; returns the httpx response."""
    headers = actor.headers if actor else {}
    return client.post(f"/v1/op/{op_id}", json=params, headers=headers)


def ok(resp) -> Any:
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text}"
    return resp.json()


def problem(resp, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with the given status; returns its body."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    for k in ("type", "title", "status", "detail", "instance", "code", "request_id"):
        assert k in body, f"problem lacks {k}: {body}"
    assert body["status"] == status
    assert resp.headers.get("x-request-id") == body["request_id"]
    return body


def square(lon: float = 149.1, lat: float = -35.3, d: float = 0.02) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                [lon, lat + d], [lon, lat]]]}


def item_params(project_id: str, name: str = "Scene", **kw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "project_id": project_id, "name": name, "geometry": square(),
        "datetime": "2026-05-18T01:20:00Z", "cloud_cover": 4.1, "gsd": 0.5,
        "assets": [{"key": "data", "href": "s3://bucket/scene.tif",
                    "media_type": "image/tiff; application=geotiff; profile=cloud-optimized",
                    "file_size_bytes": 1000, "roles": ["data"]}],
    }
    params.update(kw)
    return params


def create_item(client: TestClient, actor: Actor, project_id: str, **kw: Any) -> dict[str, Any]:
    return ok(op(client, "items.create", actor, **item_params(project_id, **kw)))["item"]


def create_collection(client: TestClient, actor: Actor, project_id: str, name: str = "Survey",
                      **kw: Any) -> dict[str, Any]:
    return ok(op(client, "collections.create", actor, project_id=project_id, name=name, **kw))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_while_serving(app, loops: list, seconds: float, stop: threading.Event,
                      join_timeout: float = 120) -> None:
    """Serve `app` (serving()), run each `loop(base_url)` in its own thread for `seconds`,
    then set `stop` and wait for the loops to end (concurrency tests' harness)."""
    with serving(app) as url:
        threads = [threading.Thread(target=loop, args=(url,)) for loop in loops]
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(join_timeout)


@contextmanager
def serving(app, *, log_level: str = "warning", access_log: bool = True) -> Iterator[str]:
    """Serve `app` with a real uvicorn on a free loopback port; yields its base URL.

    log_level/access_log: uvicorn's own logging (tests/security/test_log_redaction.py reads
    its access log at "info")."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level,
                                           access_log=access_log, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings, db_env: dict[str, str], clock: Clock) -> Iterator[str]:
    """The service served by a real uvicorn on loopback, for HTTP clients (geopera,
    pystac-client). NOTE: its own app instance (same database), so a test may also use
    `client` without two event loops sharing one set of pools."""
    with serving(create_app(settings, pg_env=db_env, clock=clock)) as url:
        yield url


# NOTE: what search/engine.py's hidden set (unguarded plans) relies on, and the copy of
# eo:cloud_cover counts read (migration 0150): every platform row has its pgstac row in the
# partition it names and every pgstac row its platform row, the partition is the item's
# collection (or its project's inbox when uncollected), and the copy equals the content.
UNPAIRED = """
    SELECT coalesce(i.id::text, p.id), p.collection, i.pgstac_collection, i.cloud_cover,
           i.starts_at, p.datetime, i.ends_at, p.end_datetime
    FROM pgstac.items p
    FULL JOIN geopera.items i ON i.id::text = p.id AND i.pgstac_collection = p.collection
    WHERE i.id IS NULL OR p.id IS NULL
       OR i.cloud_cover IS DISTINCT FROM (
            CASE WHEN jsonb_typeof(p.content->'properties'->'eo:cloud_cover') = 'number'
                 THEN (p.content->'properties'->'eo:cloud_cover')::float8 END)
       OR i.starts_at IS DISTINCT FROM p.datetime OR i.ends_at IS DISTINCT FROM p.end_datetime
       OR NOT EXISTS (SELECT 1 FROM geopera.collections c
                      WHERE c.id = i.collection_id AND c.id::text = i.pgstac_collection
                        AND c.project_id = i.project_id
                      UNION ALL
                      SELECT 1 FROM geopera.projects pr
                      WHERE i.collection_id IS NULL AND pr.id = i.project_id
                        AND pr.inbox_collection = i.pgstac_collection)
"""


# Test seeders that write platform and pgstac rows directly (as the loader does) give the
# platform rows pgstac's datetime and end_datetime the way every write path does (0154).
COPY_ITEM_TIMES = """
    UPDATE geopera.items i SET starts_at = p.datetime, ends_at = p.end_datetime
    FROM pgstac.items p
    WHERE p.id = i.id::text AND p.collection = i.pgstac_collection AND i.id = ANY($1::uuid[])
"""


def assert_rows_pair_up(db) -> None:
    async def unpaired(conn: Any) -> list[tuple]:
        return [tuple(r) for r in await conn.fetch(UNPAIRED)]
    assert db(unpaired) == []


def reapply_migration(db, db_env: dict[str, str], home: Path, name: str, *undo: str) -> None:
    """Put the database back to before migration `name` (its record deleted, the `undo`
    statements run), upgrade it with `geopera-stac migrate` as an operator would, and check
    that the migration ran and every platform row pairs up with its pgstac row again."""
    async def before(conn: Any) -> None:
        await conn.execute("DELETE FROM geopera.migrations WHERE name = $1", name)
        for statement in undo:
            await conn.execute(statement)

    db(before)
    done = geopera_cli(db_env, home, "migrate", timeout=180)
    assert done.returncode == 0, done.stderr
    assert name in done.stdout
    assert_rows_pair_up(db)


def geopera_cli(db_env: dict[str, str], home: Path, *args: Any,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """`geopera-stac ARGS` as users run it (the installed console script; python -m would
    load cli twice) on this test's database, with a clean environment."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": dsn_from_env(db_env),
           "GEOPERA_HOME": str(home), "GEOPERA_STORAGE_DIR": str(home),
           # NOTE: a worktree's tests run its own source through the shared venv's script.
           **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {})}
    return subprocess.run([str(Path(sys.executable).parent / "geopera-stac"), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout)
