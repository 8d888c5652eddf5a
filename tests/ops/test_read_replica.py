"""GEOPERA_READ_DATABASE_URL: reads on a real streaming replica, writes on the primary,
read-your-writes through X-Geopera-LSN (pg_basebackup + a second embedded cluster)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from geopera import Geopera
from geopera_stac_ext.app import create_app
from geopera_stac_ext.db.embedded import EmbeddedCluster
from geopera_stac_ext.core.settings import Settings, read_pg_env

from conftest import World, item_params, serving

LSN, MIN_LSN = "X-Geopera-LSN", "X-Geopera-Min-LSN"


@pytest.fixture
def standby(pg_cluster: EmbeddedCluster, db_env: dict[str, str]) -> Iterator[EmbeddedCluster]:
    """A hot standby of the test cluster (it already holds this test's database)."""
    home = Path(tempfile.mkdtemp(prefix="geopera-standby-", dir="/tmp"))
    home.chmod(0o755)
    replica = EmbeddedCluster.standby_of(pg_cluster, home, durable=False).start()
    try:
        yield replica
    finally:
        replica.stop()
        shutil.rmtree(replica.datadir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _sql(env: dict[str, str], cluster: EmbeddedCluster, query: str, *args: object) -> object:
    dsn = cluster.dsn.rsplit("/", 1)[0] + "/" + env["PGDATABASE"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, args or None).fetchone()[0]  # type: ignore[index]


def _catch_up(primary: EmbeddedCluster, replica: EmbeddedCluster, db: dict[str, str]) -> None:
    target = _sql(db, primary, "SELECT pg_current_wal_insert_lsn()::text")
    deadline = time.monotonic() + 30
    while not _sql(db, replica, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target):
        assert time.monotonic() < deadline, "the standby did not catch up within 30 s"
        time.sleep(0.05)


def _replay(replica: EmbeddedCluster, db: dict[str, str], on: bool) -> None:
    fn = "pg_wal_replay_resume" if on else "pg_wal_replay_pause"
    _sql(db, replica, f"SELECT {fn}()::text")


def test_read_database_url_is_parsed_as_the_replica() -> None:
    s = Settings(read_database_url="postgresql://ro:p%40ss@replica.internal:6543/geo")
    assert read_pg_env(s) == {"PGHOST": "replica.internal", "PGPORT": "6543", "PGUSER": "ro",
                              "PGPASSWORD": "p@ss", "PGDATABASE": "geo"}
    assert read_pg_env(Settings()) is None


def test_reads_use_the_replica_writes_the_primary_and_a_client_reads_its_writes(
        pg_cluster: EmbeddedCluster, standby: EmbeddedCluster, db_env: dict[str, str],
        settings: Settings, world: World) -> None:
    read_env = {**standby.env(db_env["PGDATABASE"])}
    app = create_app(settings, pg_env=db_env, read_env=read_env)
    editor = world["editor"]
    _catch_up(pg_cluster, standby, db_env)
    with serving(app) as url, httpx.Client(base_url=url, headers=editor.headers) as http:
        def op(op_id: str, headers: dict[str, str] | None = None, **params: object):
            return http.post(f"/v1/op/{op_id}", json=params, headers=headers or {})

        col = op("collections.create", project_id=world.project_a1, name="Survey")
        assert col.status_code == 200, col.text
        cid = col.json()["id"]
        _catch_up(pg_cluster, standby, db_env)
        _replay(standby, db_env, on=False)
        try:
            # NOTE: with replay paused the standby cannot see anything written from here on:
            # a write that succeeds ran on the primary (the standby refuses writes) ...
            created = op("items.create", **item_params(world.project_a1, collection_id=cid))
            assert created.status_code == 200, created.text
            first = created.json()["item"]["id"]
            token = created.headers[LSN]
            # ... and a read that cannot find it ran on the standby.
            assert op("items.get", item_id=first).status_code == 404
            stac = f"/collections/{cid}/items/{first}"
            assert http.get(stac).status_code == 404
            # Read-your-writes: the write's LSN sends the read where the write is visible.
            got = op("items.get", {MIN_LSN: token}, item_id=first)
            assert got.status_code == 200, got.text
            assert got.json()["item"]["id"] == first
            assert http.get(stac, headers={MIN_LSN: token}).status_code == 200
            found = op("items.search", {MIN_LSN: token}, project_id=world.project_a1)
            assert [f["id"] for f in found.json()["features"]] == [first]
            # Reads carry no LSN of their own.
            assert LSN not in got.headers
            bad = op("items.get", {MIN_LSN: "1/2; DROP"}, item_id=first)
            assert bad.status_code == 400 and MIN_LSN in bad.json()["detail"]
        finally:
            _replay(standby, db_env, on=True)
        _catch_up(pg_cluster, standby, db_env)
        assert op("items.get", item_id=first).status_code == 200
        _replay(standby, db_env, on=False)
        try:
            second = op("items.create", **item_params(world.project_a1, name="Later",
                                                      collection_id=cid))
            assert second.status_code == 200, second.text
            assert _lsn(second.headers[LSN]) > _lsn(token)
            # A standby that has replayed the client's LSN answers (it lacks the later item,
            # so the primary did not): replicas stay in use for clients that wrote earlier.
            found = op("items.search", {MIN_LSN: token}, project_id=world.project_a1)
            assert found.json()["numberMatched"] == 1
            # The Python client sends back the newest LSN it was given, by itself.
            with Geopera(editor.key, base_url=url) as client:
                assert client.op("items.search", project_id=world.project_a1)[
                    "numberMatched"] == 1
                third = client.op("items.create", **item_params(
                    world.project_a1, name="Third", collection_id=cid))["item"]["id"]
                assert client.op("items.get", item_id=third)["item"]["id"] == third
                assert client.op("items.search", project_id=world.project_a1)[
                    "numberMatched"] == 3
        finally:
            _replay(standby, db_env, on=True)


def _lsn(text: str) -> int:
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)
