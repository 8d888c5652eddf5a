"""Process life of `geopera-stac` as real processes: crash adoption, port, demo key, output."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from geopera_stac_ext.db.embedded import EmbeddedCluster
from test_embedded import CLI, Served, check_demo, clean_env, fresh_home, pg_running  # noqa: F401


def _stop(served: Served, sig: int = signal.SIGTERM) -> None:
    if served.proc.poll() is None:
        assert served.stop(sig) == 0, "".join(served.stderr)


def test_cluster_left_by_a_killed_server_is_adopted_and_stopped_with_the_demo_key_reused(
        fresh_home):
    cluster = EmbeddedCluster(fresh_home)
    first = Served(fresh_home)
    try:
        info = first.demo_info()
        check_demo(first, info)
        assert info["api_key_reused"] is False
        first.proc.kill()  # kill -9: no chance to stop its cluster
        first.proc.wait(timeout=30)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert pg_running(cluster)  # left running by the crash

    second = Served(fresh_home)
    try:
        again = second.demo_info()
        assert again["api_key"] == info["api_key"] and again["api_key_reused"] is True
        check_demo(second, again)
        _stop(second)
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
    assert any("demo: reusing the API key saved in" in ln for ln in second.stderr)
    assert not pg_running(cluster), "".join(second.stderr)  # the adopter stopped it


def test_a_lost_demo_key_is_replaced_and_the_old_one_revoked(fresh_home):
    first = Served(fresh_home)
    try:
        old = first.demo_info()
        first.wait_http()
        _stop(first)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    saved = fresh_home / "demo-key"
    assert oct(saved.stat().st_mode)[-3:] == "600"
    assert saved.read_text().strip() == old["api_key"]
    saved.unlink()
    second = Served(fresh_home)
    try:
        new = second.demo_info()
        assert new["api_key"] != old["api_key"] and new["api_key_reused"] is False
        check_demo(second, new)
        gone = httpx.post(f"{second.base}/v1/op/auth.whoami", json={},
                          headers={"Authorization": f"Bearer {old['api_key']}"})
        assert gone.status_code == 401 and "revoked" in gone.json()["detail"]
        _stop(second)
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
    assert any("revoked 1 previous demo key(s)" in ln for ln in second.stderr)


def test_stdout_is_the_demo_json_only_and_each_request_logs_one_line(fresh_home):
    served = Served(fresh_home)
    try:
        info = served.demo_info()
        served.wait_http()
        headers = {"Authorization": f"Bearer {info['api_key']}"}
        assert httpx.post(f"{served.base}/v1/op/auth.whoami", json={},
                          headers=headers).status_code == 200
        assert httpx.get(f"{served.base}/collections/nope-404", headers=headers
                         ).status_code == 404
        time.sleep(0.5)
        _stop(served)
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    extra = []
    while not served.lines.empty():
        extra.append(served.lines.get())
    assert extra == [], extra  # nothing on stdout after the JSON
    err = "".join(served.stderr)
    assert sum("/v1/op/auth.whoami" in ln for ln in served.stderr) == 1, err
    assert sum("/collections/nope-404" in ln for ln in served.stderr) == 1, err
    export = [ln for ln in served.stderr if ln.startswith("export ")]
    assert export == [f"export GEOPERA_API_KEY={info['api_key']} PROJECT_ID={info['project_id']}"
                      f" GEOPERA_BASE_URL={info['base_url']}\n"]


def test_a_taken_port_is_refused_before_anything_starts_or_prints(fresh_home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([CLI, "serve", "--demo", "--port", str(port)],
                             env=clean_env(fresh_home), capture_output=True, text=True,
                             timeout=60)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        f"geopera-stac: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "stop what is using it or choose another --port"]
    assert not (fresh_home / "pg").exists() and not (fresh_home / "demo-key").exists()


def test_every_cli_failure_is_one_line_and_exit_code_2(fresh_home):
    def fails(*args: str, **env: str) -> str:
        res = subprocess.run([CLI, *args], env=clean_env(fresh_home, **env),
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 2, (args, res.returncode, res.stderr)
        assert res.stdout == ""
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        return lines[0]

    unreachable = fails("migrate", DATABASE_URL="postgresql://u:s3cretpw@127.0.0.1:1/db")
    assert "database unreachable" in unreachable and "s3cretpw" not in unreachable
    assert "database unreachable" in fails("admin", "list-orgs",
                                           DATABASE_URL="postgresql://u:p@no-such-host.invalid/db")
    assert "DATABASE_URL must be a postgresql://" in fails("migrate", DATABASE_URL="mysql://x")
    assert "invalid choice" in fails("frobnicate")
    assert "--user" in fails("admin", "create-key")
    assert not (fresh_home / "pg").exists()


def _workers(pid: int) -> list[int]:
    """Child processes of `pid` that are uvicorn's spawned workers."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]


def test_serve_workers_runs_that_many_processes_on_the_embedded_demo_cluster(fresh_home):
    cluster = EmbeddedCluster(fresh_home)
    served = Served(fresh_home, ("--workers", "2"))
    try:
        info = served.demo_info()
        check_demo(served, info)
        workers = _workers(served.proc.pid)
        assert len(workers) == 2, workers
        headers = {"Authorization": f"Bearer {info['api_key']}"}
        for _ in range(6):  # NOTE: whichever worker accepts, the same database answers
            page = httpx.post(f"{served.base}/v1/op/items.search", headers=headers,
                              json={"project_id": info["project_id"]})
            assert page.status_code == 200 and page.json()["numberMatched"] >= 1
        _stop(served)
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    assert not pg_running(cluster), "".join(served.stderr)
    assert not any(Path(f"/proc/{w}").exists() for w in workers)


def test_serve_refuses_a_bad_worker_count(fresh_home):
    res = subprocess.run([CLI, "serve", "--workers", "0"], env=clean_env(fresh_home),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--workers" in res.stderr and "between 1 and 64" in res.stderr
