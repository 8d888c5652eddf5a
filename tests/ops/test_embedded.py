"""The embedded PostgreSQL cluster and `geopera-stac serve --demo` as a real process."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from geopera_stac_ext.db.embedded import EmbeddedCluster

CLI = str(Path(sys.executable).parent / "geopera-stac")
PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def fresh_home() -> Iterator[Path]:
    """A new GEOPERA_HOME the postgres system user can reach (the cluster lives below it)."""
    home = Path(tempfile.mkdtemp(prefix="geopera-embedded-", dir="/tmp"))
    os.chmod(home, 0o755)
    yield home
    cluster = EmbeddedCluster(home)
    if (cluster.datadir / "postmaster.pid").exists():  # NOTE: only after a failed test
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop",
                        "-m", "immediate", "-D", str(cluster.datadir)], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)
    if cluster.datadir != home / "pg":
        shutil.rmtree(cluster.datadir, ignore_errors=True)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a machine with no database configured."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(GEOPERA_HOME=str(home), **extra)
    return env


def pg_running(cluster: EmbeddedCluster) -> bool:
    res = subprocess.run(["runuser", "-u", "postgres", "--", str(cluster.bindir / "pg_ctl"),
                          "status", "-D", str(cluster.datadir)], capture_output=True, text=True)
    return res.returncode == 0


def test_cluster_initialises_stops_and_is_reused(fresh_home):
    first = EmbeddedCluster(fresh_home, durable=False).start()
    assert (first.datadir / "PG_VERSION").exists()
    assert first.datadir == fresh_home / "pg"
    assert oct((fresh_home / "pg-password").stat().st_mode)[-3:] == "600"
    with psycopg.connect(first.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('survives a restart')")
    first.stop()
    assert not (first.datadir / "postmaster.pid").exists()
    assert not pg_running(first)

    second = EmbeddedCluster(fresh_home, durable=False).start()
    try:
        assert second.datadir == first.datadir and second.password == first.password
        with psycopg.connect(second.dsn) as conn:
            assert conn.execute("SELECT v FROM kept").fetchall() == [("survives a restart",)]
    finally:
        second.stop()
    assert not pg_running(second)


def test_missing_postgresql_is_one_clear_line(fresh_home, tmp_path):
    # NOTE: PG_BINDIR pointing at an empty directory simulates a machine without the
    # postgresql-15-postgis-3 package (no initdb/pg_ctl to run).
    empty = tmp_path / "no-postgres-here"
    empty.mkdir()
    res = subprocess.run([CLI, "serve"], env=clean_env(fresh_home, PG_BINDIR=str(empty)),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "postgresql-15-postgis-3" in lines[0] and "apt-get install" in lines[0]
    assert not (fresh_home / "pg").exists()


def test_missing_postgis_is_one_clear_line(fresh_home, tmp_path):
    # NOTE: a bin dir with the real server binaries but no PostGIS files beside it simulates a
    # machine with PostgreSQL 15 installed and postgresql-15-postgis-3 missing.
    bindir = tmp_path / "lib" / "postgresql" / "15" / "bin"
    bindir.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres", "pg_isready"):
        os.symlink(PG_BIN / tool, bindir / tool)
    res = subprocess.run([CLI, "migrate"], env=clean_env(fresh_home, PG_BINDIR=str(bindir)),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if " INFO " not in ln]
    assert len(lines) == 1, res.stderr
    assert "PostGIS" in lines[0] and "postgresql-15-postgis-3" in lines[0]


# ------------------------------------------------------------------ serve --demo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`geopera-stac serve --demo` in the background, its stdout lines in a queue."""

    def __init__(self, home: Path, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [CLI, "serve", "--demo", "--host", "127.0.0.1", "--port", str(self.port), *extra],
            env=clean_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append),
                         daemon=True).start()

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink(line)

    def demo_info(self) -> dict:
        try:
            line = self.lines.get(timeout=180)
        except queue.Empty:
            raise AssertionError("no demo JSON on stdout: " + "".join(self.stderr)) from None
        return json.loads(line)

    def wait_http(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/api", timeout=2)
                return
            except httpx.TransportError:
                assert self.proc.poll() is None, "".join(self.stderr)
                time.sleep(0.2)
        raise AssertionError("server did not answer: " + "".join(self.stderr))

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


def check_demo(served: Served, info: dict) -> None:
    assert info["api_key"].startswith("gpra_") and info["project_id"]
    assert info["base_url"] == served.base
    served.wait_http()
    headers = {"Authorization": f"Bearer {info['api_key']}"}
    page = httpx.post(f"{served.base}/v1/op/items.list", headers=headers,
                      json={"project_id": info["project_id"], "limit": 50}).json()
    assert page["total"] >= 1 and len(page["items"]) == page["total"]
    resp = httpx.get(f"{served.base}/collections", headers=headers)
    assert resp.status_code == 200, resp.text
    assert httpx.get(f"{served.base}/collections").status_code == 401


def test_serve_demo_prints_a_working_key_and_stops_the_cluster(fresh_home):
    cluster = EmbeddedCluster(fresh_home)
    served = Served(fresh_home)
    try:
        info = served.demo_info()
        check_demo(served, info)
        assert pg_running(cluster)
        # The export line for copy-paste goes to stderr, the JSON alone to stdout.
        assert any(f"export GEOPERA_API_KEY={info['api_key']}" in ln for ln in served.stderr)
        assert served.stop(signal.SIGTERM) == 0
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    assert not (cluster.datadir / "postmaster.pid").exists(), "".join(served.stderr)
    assert not pg_running(cluster)

    # Restarted on the same home: the cluster and demo data are reused; Ctrl-C stops it too.
    again = Served(fresh_home)
    try:
        info2 = again.demo_info()
        assert info2["project_id"] == info["project_id"]
        assert info2["api_key"] == info["api_key"]  # the saved demo key is reused
        check_demo(again, info2)
        assert again.stop(signal.SIGINT) == 0
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
    assert not pg_running(cluster), "".join(again.stderr)
    assert not any("Traceback" in ln for ln in again.stderr), "".join(again.stderr)
