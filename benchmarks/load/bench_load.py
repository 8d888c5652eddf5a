#!/usr/bin/env python3
"""Side-by-side bulk-load rate: plain `pypgstac load items` vs `geopera-stac load`, same file."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "benchmarks" / "tools" / "gen_items.py"
BIN = Path(sys.executable).parent

sys.path.insert(0, str(REPO / "src"))
from geopera_stac_ext.admin import tenancy  # noqa: E402
from geopera_stac_ext.cli import run_db  # noqa: E402
from geopera_stac_ext.db.embedded import EmbeddedCluster  # noqa: E402
from geopera_stac_ext.db.migrate import migrate  # noqa: E402
from geopera_stac_ext.core.settings import dsn_from_env  # noqa: E402


def busy_seconds() -> float:
    """Machine-wide busy CPU time (all cores, every process: loader and database)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(cmd, env):
    t, cpu = time.perf_counter(), busy_seconds()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {run.stderr[-2000:]}")
    run.cpu = busy_seconds() - cpu
    return time.perf_counter() - t, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--collections", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-loadbench-", dir="/tmp"))
    os.chmod(work, 0o755)
    items, cols = work / "items.ndjson", work / "collections.ndjson"
    subprocess.run([sys.executable, str(GEN), "--items", str(a.items), "--collections",
                    str(a.collections), "--out-items", str(items), "--out-collections",
                    str(cols)], check=True)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    results = []
    try:
        for r in range(a.rounds):
            names = (f"stock_{r}", f"geopera_{r}")
            with psycopg.connect(cluster.dsn, autocommit=True) as conn:
                for n in names:
                    conn.execute(f"CREATE DATABASE {n}")
            for n in names:
                migrate(dsn_from_env(cluster.env(n)))
            # stock: pypgstac's own loader (collections first, not timed)
            env = {**os.environ, **cluster.env(names[0])}
            timed([str(BIN / "pypgstac"), "load", "collections", str(cols)], env)
            stock_s, stock_run = timed([str(BIN / "pypgstac"), "load", "items", str(items)], env)
            # geopera: a project to load into; its collections are created from the file
            genv = cluster.env(names[1])

            async def setup(conn):
                org = await tenancy.create_org(conn, "Bench", "free")
                return (await tenancy.create_project(conn, "Bench", org["id"]))["id"]
            project = run_db(genv, setup)
            env = {**os.environ, "DATABASE_URL": dsn_from_env(genv),
                   "GEOPERA_HOME": str(work / "home")}
            ours_s, run = timed([str(BIN / "geopera-stac"), "load", str(items), "--project",
                                 project], env)
            summary = json.loads(run.stdout)
            assert summary["loaded"] == a.items, summary
            results.append({"round": r + 1, "stock_items_per_s": round(a.items / stock_s),
                            "geopera_items_per_s": round(a.items / ours_s),
                            "geopera_internal_items_per_s": summary["items_per_second"],
                            "ratio": round(stock_s / ours_s, 2),
                            # CPU of the whole machine per item, in µs (both cores, database
                            # included): what bounds the rate on a 2-vCPU machine
                            "stock_cpu_us": round(stock_run.cpu / a.items * 1e6),
                            "geopera_cpu_us": round(run.cpu / a.items * 1e6)})
            print(json.dumps(results[-1]), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    best = max(results, key=lambda x: x["ratio"])
    worst = min(results, key=lambda x: x["ratio"])
    print(json.dumps({"items": a.items, "rounds": a.rounds,
                      "ratio_min": worst["ratio"], "ratio_max": best["ratio"]}))


if __name__ == "__main__":
    main()
