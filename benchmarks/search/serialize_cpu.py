#!/usr/bin/env python3
"""Server-side CPU per 100-item page (issue 13 §7): op records, op format=stac, STAC /search and /collections/{c}/items, code A vs B (and stock), in alternating blocks; PostgreSQL's CPU beside it."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

# NOTE: CPU time (user + system, every thread) of the server process over N sequential
# requests of one client: robust to other load on the machine, unlike wall time; the client
# runs in this process and is not counted. Load average is still printed per line.
TICKS = os.sysconf("SC_CLK_TCK")
STARTUP_SECONDS = 60


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def postmaster_pid(env: dict[str, str], db: str) -> int:
    """The cluster's postmaster (its data directory's postmaster.pid, first line)."""
    import asyncio

    import asyncpg

    async def data_dir() -> str:
        conn = await asyncpg.connect(host=env["PGHOST"], port=int(env["PGPORT"]),
                                     user=env["PGUSER"], password=env.get("PGPASSWORD"),
                                     database=db)
        try:
            return await conn.fetchval("SHOW data_directory")
        finally:
            await conn.close()

    return int((Path(asyncio.run(data_dir())) / "postmaster.pid").read_text().split()[0])


def cluster_cpu_seconds(postmaster: int) -> float:
    """CPU of every PostgreSQL process of the cluster: its live children (the servers' pooled
    backends) plus what its exited children used (cutime, cstime).

    NOTE: blocks run one code at a time, so what the cluster spends during a block is that
    code's queries (plus background workers, alike for every code): work moved from Python
    into SQL shows up here instead of vanishing from the figure."""
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    total = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(f[1]) == postmaster:
            total += int(f[11]) + int(f[12])
    return total / TICKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}) before answering {url}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"server did not answer {url} within {STARTUP_SECONDS} s")


def start_geopera(src: str, env: dict[str, str], db: str, home: str) -> tuple[subprocess.Popen, str]:
    """This service's code under `src` (PYTHONPATH wins over the editable install)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "geopera_stac_ext.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        env={**os.environ, **env, "PGDATABASE": db, "PYTHONPATH": str(Path(src).resolve()),
             "GEOPERA_HOME": home, "GEOPERA_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_up(proc, url + "/")
    return proc, url


def start_stock(env: dict[str, str], db: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "uvicorn"), "stac_fastapi.pgstac.app:create_app",
         "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        env={**os.environ, **env, "PGDATABASE": db},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_up(proc, url + "/")
    return proc, url


def requests_for(url: str, info: dict, collection: str) -> dict:
    """One collection's first 100 items (the same items on every line) by each front door."""
    key = {"Authorization": f"Bearer {info['api_key']}"}
    op = {"project_id": info["project_id"], "collections": [collection], "limit": 100}
    return {
        "op records": ("POST", f"{url}/v1/op/items.search", op, key),
        "op format=stac": ("POST", f"{url}/v1/op/items.search", {**op, "format": "stac"}, key),
        "STAC POST /search": ("POST", f"{url}/search",
                              {"collections": [collection], "limit": 100}, key),
        "STAC GET /collections/{c}/items": ("GET", f"{url}/collections/{collection}/items"
                                                   "?limit=100", None, key),
    }


def warm(call: tuple, client: httpx.Client, n: int = 10) -> httpx.Response:
    """NOTE: warm-up (plan caches, pools, lru caches); the last response is described."""
    method, url, body, headers = call
    for _ in range(n):
        r = client.request(method, url, json=body, headers=headers)
        r.raise_for_status()
    return r


def block(pid: int, postmaster: int, call: tuple, n: int,
          client: httpx.Client) -> tuple[float, float]:
    """Server CPU seconds and PostgreSQL CPU seconds over n sequential requests."""
    method, url, body, headers = call
    c0, d0 = cpu_seconds(pid), cluster_cpu_seconds(postmaster)
    for _ in range(n):
        client.request(method, url, json=body, headers=headers).raise_for_status()
    return cpu_seconds(pid) - c0, cluster_cpu_seconds(postmaster) - d0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", required=True, help="cluster.py's env.json")
    ap.add_argument("--info", required=True, help="load.py --mode geopera --out JSON")
    ap.add_argument("--code", action="append", required=True, metavar="LABEL=SRC",
                    help="a label and the src/ directory of the code to serve (repeat)")
    ap.add_argument("--stock-db", help="a pypgstac-loaded database: stock's /search as anchor")
    ap.add_argument("--stock-collection", default="survey-000")
    ap.add_argument("--batch", type=int, default=20, help="requests per block")
    ap.add_argument("--blocks", type=int, default=15, help="blocks per code and shape")
    a = ap.parse_args()
    env = {k: v for k, v in json.loads(Path(a.env).read_text()).items() if k != "PGDATABASE"}
    info = json.loads(Path(a.info).read_text())
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    home = tempfile.mkdtemp(prefix="gs-sercpu-")
    postmaster = postmaster_pid(env, info["db"])
    try:
        for spec in a.code:
            label, src = spec.split("=", 1)
            servers[label] = start_geopera(src, env, info["db"], home)
        if a.stock_db:
            servers["stock"] = start_stock(env, a.stock_db)
        client = httpx.Client(timeout=120)
        first = next(v for k, v in servers.items() if k != "stock")[1]
        cols = client.get(f"{first}/collections",
                          headers={"Authorization": f"Bearer {info['api_key']}"}).json()
        collection = cols["collections"][0]["id"]
        # NOTE: per shape, every code runs a block of --batch requests in turn, --blocks
        # times: load that comes and goes falls on every code alike.
        # NOTE: each cell is the server's CPU per request, the interquartile range of its
        # blocks, then the PostgreSQL cluster's CPU per request over the same blocks.
        print(f"| page of 100 items | {' | '.join(servers)} | load1 |")
        print("|---|" + "---|" * (len(servers) + 1))
        for kind in requests_for("", info, collection):
            calls = {}
            for label, (_proc, url) in servers.items():
                if label == "stock":
                    if kind != "STAC POST /search":
                        continue
                    calls[label] = ("POST", f"{url}/search", {
                        "collections": [a.stock_collection], "limit": 100}, {})
                else:
                    calls[label] = requests_for(url, info, collection)[kind]
                r = warm(calls[label], client)
                assert len(r.json()["features"]) == 100, (label, kind)
            cpu: dict[str, list[float]] = {label: [] for label in calls}
            db: dict[str, list[float]] = {label: [] for label in calls}
            loads = []
            for _ in range(a.blocks):
                for label, call in calls.items():
                    c, d = block(servers[label][0].pid, postmaster, call, a.batch, client)
                    cpu[label].append(c)
                    db[label].append(d)
                loads.append(os.getloadavg()[0])
            cells = []
            for label in servers:
                if label not in cpu:
                    cells.append("—")
                    continue
                per = sorted(c / a.batch * 1000 for c in cpu[label])
                cells.append(f"{sum(cpu[label]) / (a.blocks * a.batch) * 1000:.1f} ms "
                             f"(blocks {per[len(per) // 4]:.1f}–{per[3 * len(per) // 4]:.1f})"
                             f" + db {sum(db[label]) / (a.blocks * a.batch) * 1000:.1f} ms")
            print(f"| {kind} | " + " | ".join(cells) +
                  f" | {min(loads):.1f}–{max(loads):.1f} |", flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
