"""Set-up shared by the benchmark scripts: databases, a project with its owner, servers."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from geopera_stac_ext.admin import tenancy  # noqa: E402
from geopera_stac_ext.auth.guard import Principal  # noqa: E402
from geopera_stac_ext.db.embedded import EmbeddedCluster  # noqa: E402
from geopera_stac_ext.db.migrate import migrate  # noqa: E402
from geopera_stac_ext.storage import buckets  # noqa: E402
from geopera_stac_ext.core.settings import dsn_from_env  # noqa: E402


def bench_database(cluster: EmbeddedCluster, name: str = "bench") -> dict[str, str]:
    """A new, migrated database on the cluster; its PG* env."""
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # NOTE: a constant name from the script
    env = cluster.env(name)
    migrate(dsn_from_env(env))
    return env


@dataclass
class Owner:
    project: str
    principal: Principal
    api_key: str


async def owner_of_new_project(conn: Any) -> Owner:
    """An organization with one project, and a user owning it with an API key."""
    org = await tenancy.create_org(conn, "Bench", "free")
    project = (await tenancy.create_project(conn, "Bench", org["id"]))["id"]
    user = await tenancy.create_user(conn, "bench@example.com")
    await tenancy.grant(conn, user["id"], "owner", project_id=project)
    # NOTE: gen_items.py's assets are s3://bucket/… hrefs; since bucket grants (migration 0030)
    # an account references only buckets an operator allowed it.
    await buckets.allow_bucket(conn, org["id"], None, "s3://bucket/")
    key = await tenancy.create_key(conn, user["id"])
    return Owner(project, Principal(user_id=user["id"], key_id=key["id"],
                                    scopes=frozenset(key["scopes"])), key["api_key"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(cmd: list[str], env: dict[str, str], probe: str,
           timeout: float = 90) -> Iterator[None]:
    """Run a server process until the block ends; returns once `probe` answers 200."""
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(probe, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"{cmd[0]} did not start (probe {probe})")
            time.sleep(0.2)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


async def closed_loop(send: Any, clients: int, seconds: float,
                      headers: dict[str, str] | None = None) -> dict:
    """`clients` concurrent loops of `await send(client, rnd)` (an httpx request) for
    `seconds`; req/s, p50/p95 latency and the count of non-200 answers."""
    lat: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=60, headers=headers or {},
                                 limits=httpx.Limits(max_connections=clients)) as client:
        async def worker(i: int) -> None:
            nonlocal errors
            rnd = random.Random(i)
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await send(client, rnd)
                lat.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    return {"requests": n, "rps": round(n / elapsed, 1), "p50_ms": round(lat[n // 2], 1),
            "p95_ms": round(lat[int(n * .95)], 1), "errors": errors}
