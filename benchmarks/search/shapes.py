#!/usr/bin/env python3
"""Latency of search shapes outside search_load.py's mix (ids, no filter, one collection,
a platform-only filter) on a catalog loaded with `geopera-stac load`, one server process."""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
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

GEN = REPO / "benchmarks" / "tools" / "gen_items.py"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--collections", type=int, default=10)
    ap.add_argument("-c", "--clients", type=int, default=8)
    ap.add_argument("-t", "--seconds", type=float, default=8)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-shapes-", dir="/tmp"))
    os.chmod(work, 0o755)
    items = work / "items.ndjson"
    subprocess.run([sys.executable, str(GEN), "--items", str(a.items), "--collections",
                    str(a.collections), "--out-items", str(items), "--out-collections",
                    str(work / "c.ndjson")], check=True)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    try:
        env = bench_database(cluster)
        owner = run_db(env, owner_of_new_project)
        settings = Settings(home=work / "home")
        with psycopg.connect(dsn_from_env(env), options="-c search_path=pgstac,public") as c:
            load_file(c, settings, items, owner.project, report=lambda m: None)
        ids = [orjson.loads(x)["id"] for x in items.read_bytes().splitlines()[:5000]]
        cols = [str(r["id"]) for r in run_db(
            env, lambda c: c.fetch("SELECT id FROM geopera.collections"))]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        shapes = {
            "search ids=<one id>": lambda r: f"/search?ids={r.choice(ids)}",
            "search limit=10 (no filter)": lambda r: "/search?limit=10",
            "collection items limit=10": lambda r: f"/collections/{r.choice(cols)}/items?limit=10",
            "search type='image' (platform only)":
                lambda r: "/search?limit=10&filter=type%3D%27image%27&filter-lang=cql2-text",
        }
        genv = {**os.environ, **env, "GEOPERA_HOME": str(work / "home")}
        with served([str(Path(sys.executable).parent / "geopera-stac"), "--log-level", "warning",
                     "serve", "--host", "127.0.0.1", "--port", str(port)], genv, base + "/v1/op"):
            for name, path_of in shapes.items():
                def send(cl, rnd, path_of=path_of):
                    return cl.get(base + path_of(rnd))
                auth = {"authorization": f"Bearer {owner.api_key}"}
                asyncio.run(closed_loop(send, a.clients, 2, auth))  # warm-up
                print(json.dumps({"shape": name, **asyncio.run(closed_loop(
                    send, a.clients, a.seconds, auth))}), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
