#!/usr/bin/env python3
"""Issue 9 costs, before vs after in one session: STAC /search of 100 full items (absolute asset
hrefs now) against the code of a `--before` git revision, and the collection-extent upkeep on
items.create and on the bulk loader (the extent triggers disabled vs enabled, same code)."""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import itertools
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import (  # noqa: E402
    REPO,
    bench_database,
    closed_loop,
    free_port,
    owner_of_new_project,
    served,
)
from geopera_stac_ext.cli import run_db  # noqa: E402
from geopera_stac_ext.db.embedded import EmbeddedCluster  # noqa: E402
from geopera_stac_ext.ingest.run import load_file  # noqa: E402
from geopera_stac_ext.core.settings import Settings, dsn_from_env  # noqa: E402
from geopera_stac_ext.storage import buckets  # noqa: E402

GEN = REPO / "benchmarks" / "tools" / "gen_items.py"
# (table, trigger): the statement triggers that note extent changes (migration 0070); with them
# disabled nothing is noted, so the commit-time apply does not run either.
TRIGGERS = (("pgstac.items", "extent_stac_insert_trg"), ("pgstac.items", "extent_stac_delete_trg"),
            ("geopera.items", "extent_items_update_trg"),
            ("geopera.items", "extent_items_delete_trg"))


def gen(work: Path, n: int, cols: int, seed: int) -> Path:
    out = work / f"items-{seed}.ndjson"
    subprocess.run([sys.executable, str(GEN), "--items", str(n), "--collections", str(cols),
                    "--seed", str(seed), "--out-items", str(out), "--out-collections",
                    str(work / f"c-{seed}.ndjson")], check=True)
    return out


async def allow_generated_bucket(conn, project: str) -> None:
    """gen_items.py's assets are in s3://bucket/: grant it to the owner's organization."""
    org = await conn.fetchval("SELECT org_id FROM geopera.projects WHERE id = $1", project)
    await buckets.allow_bucket(conn, str(org), None, "s3://bucket/")


def triggers(env: dict, on: bool) -> None:
    with psycopg.connect(dsn_from_env(env), autocommit=True) as c:
        for table, t in TRIGGERS:
            c.execute(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER {t}")


def server(src: Path, env: dict, home: Path, port: int):
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "geopera_stac_ext.app:create_app_from_env",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    # NOTE: PYTHONPATH precedes the editable install, so `src` decides which code serves.
    # NOTE: the per-user search gate (issue 11, 3 by default) would refuse this closed loop's
    # 4th concurrent search with 429; raised so both codes do the same work.
    senv = {**os.environ, **env, "GEOPERA_HOME": str(home), "PYTHONPATH": str(src),
            "GEOPERA_SEARCH_CONCURRENCY_PER_USER": "64"}
    return served(cmd, senv, f"http://127.0.0.1:{port}/v1/op")


def search_rounds(a, env, owner, work, before_src: Path) -> list[dict]:
    cols = [str(r["id"]) for r in run_db(env, lambda c: c.fetch(
        "SELECT id FROM geopera.collections"))]
    auth = {"authorization": f"Bearer {owner.api_key}"}
    out = []
    for rnd in range(a.rounds):
        order = [("before", before_src), ("after", REPO / "src")]
        # NOTE: alternate which runs first, so a drifting machine load favours neither
        for label, src in (order if rnd % 2 == 0 else order[::-1]):
            port = free_port()
            base = f"http://127.0.0.1:{port}"

            def send(cl, r, base=base):
                return cl.get(f"{base}/search?limit=100&collections={r.choice(cols)}")
            with server(src, env, work / "home", port):
                asyncio.run(closed_loop(send, a.clients, 2, auth))  # warm-up
                res = asyncio.run(closed_loop(send, a.clients, a.seconds, auth))
            out.append({"phase": "stac_search_100", "code": label, "round": rnd,
                        "load": os.getloadavg()[0], **res})
            print(json.dumps(out[-1]), flush=True)
    return out


def create_rounds(a, env, owner, work) -> list[dict]:
    col = run_db(env, lambda c: c.fetchval(
        "SELECT id::text FROM geopera.collections ORDER BY id LIMIT 1"))
    auth = {"authorization": f"Bearer {owner.api_key}"}
    out = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    east = itertools.count()

    def send(cl, r):
        # NOTE: worst case for the upkeep: every new item lies east of all others, so every
        # commit widens the stored extent (lock + new row version). Widened in space, not time:
        # a new latest datetime would make pgstac alter the partition's constraint per item.
        lon, lat = 153.5 + next(east) * 0.005, r.uniform(-39, -30)
        return cl.post(f"{base}/v1/op/items.create", json={
            "project_id": owner.project, "collection_id": col, "name": "bench",
            "datetime": "2026-05-18T01:20:00Z", "geometry": {"type": "Polygon", "coordinates": [
                [[lon, lat], [lon + .02, lat], [lon + .02, lat + .02], [lon, lat + .02],
                 [lon, lat]]]},
            "assets": [{"key": "data", "href": f"s3://bucket/{uuid.uuid4()}.tif",
                        "media_type": "image/tiff", "roles": ["data"]}]})
    with server(REPO / "src", env, work / "home", port):
        asyncio.run(closed_loop(send, a.clients, 2, auth))
        for rnd in range(a.rounds):
            for on in ((False, True) if rnd % 2 == 0 else (True, False)):
                triggers(env, on)
                res = asyncio.run(closed_loop(send, a.clients, a.seconds, auth))
                out.append({"phase": "items_create", "extent_upkeep": on, "round": rnd,
                            "load": os.getloadavg()[0], **res})
                print(json.dumps(out[-1]), flush=True)
    triggers(env, True)
    return out


def load_rounds(a, env, owner, work) -> list[dict]:
    out = []
    settings = Settings(home=work / "home")
    for rnd in range(a.rounds):
        for on in ((False, True) if rnd % 2 == 0 else (True, False)):
            path = gen(work, a.load_items, 5, seed=100 + rnd * 2 + on)
            triggers(env, on)
            with psycopg.connect(dsn_from_env(env), options="-c search_path=pgstac,public") as c:
                t = time.perf_counter()
                load_file(c, settings, path, owner.project, report=lambda m: None)
                secs = time.perf_counter() - t
            out.append({"phase": "loader", "extent_upkeep": on, "round": rnd,
                        "items": a.load_items, "seconds": round(secs, 2),
                        "items_per_s": round(a.load_items / secs), "load": os.getloadavg()[0]})
            print(json.dumps(out[-1]), flush=True)
    triggers(env, True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", default="5aa7f3a", help="git revision of the 'before' code")
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--load-items", type=int, default=5000)
    ap.add_argument("-c", "--clients", type=int, default=4)
    ap.add_argument("-t", "--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--phases", default="search,create,load")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-hrefs-", dir="/tmp"))
    os.chmod(work, 0o755)
    before = work / "before"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before),
                    a.before], check=True, capture_output=True)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    try:
        env = bench_database(cluster)
        owner = run_db(env, owner_of_new_project)
        run_db(env, lambda c: allow_generated_bucket(c, owner.project))
        with psycopg.connect(dsn_from_env(env), options="-c search_path=pgstac,public") as c:
            load_file(c, Settings(home=work / "home"), gen(work, a.items, 10, 7), owner.project,
                      report=lambda m: None)
        phases = a.phases.split(",")
        if "search" in phases:
            search_rounds(a, env, owner, work, before / "src")
        if "create" in phases:
            create_rounds(a, env, owner, work)
        if "load" in phases:
            load_rounds(a, env, owner, work)
    finally:
        cluster.stop()
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before)],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
