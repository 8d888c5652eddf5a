#!/usr/bin/env python3
"""Side-by-side bulk load: plain `pypgstac load items` vs `geopera-stac load`, same file, same run.

Rounds alternate which command goes first; each command gets a freshly migrated database of
one embedded cluster. Per command: wall-clock items/s (process start included), peak RSS of
the command's process, machine-wide busy CPU per item and the load average around it.
`--memory N,M,...` also loads files of N, M, ... lines with `geopera-stac load` alone (peak
RSS against file size: the loader streams, so it should stay flat).
"""

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
from geopera_stac_ext.storage import buckets  # noqa: E402


def busy_seconds() -> float:
    """Machine-wide busy CPU time (all cores, every process: loader and database)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(cmd: list[str], env: dict[str, str], work: Path) -> dict:
    """Run a command; its wall time, peak RSS (its own process), busy CPU, load average."""
    out, err = work / "out.txt", work / "err.txt"
    load0, cpu, t = os.getloadavg()[0], busy_seconds(), time.perf_counter()
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {err.read_text()[-2000:]}")
    return {"seconds": wall, "cpu": busy_seconds() - cpu, "rss_mb": usage.ru_maxrss / 1024,
            "load": (load0 + os.getloadavg()[0]) / 2, "stdout": out.read_text()}


def fresh_db(cluster: EmbeddedCluster, name: str) -> dict[str, str]:
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    env = cluster.env(name)
    migrate(dsn_from_env(env))
    return env


def run_stock(cluster, work, items, cols) -> dict:
    env = {**os.environ, **fresh_db(cluster, "stock")}
    timed([str(BIN / "pypgstac"), "load", "collections", str(cols)], env, work)  # untimed
    return timed([str(BIN / "pypgstac"), "load", "items", str(items)], env, work)


def bench_project(genv: dict) -> str:
    """A fresh org and project on `genv`'s database, the synthetic items' bucket granted."""
    async def setup(conn):
        org = await tenancy.create_org(conn, "Bench", "free")
        # the synthetic items' hrefs are s3://bucket/...: the operator grants that bucket
        await buckets.allow_bucket(conn, org["id"], None, "s3://bucket/")
        return (await tenancy.create_project(conn, "Bench", org["id"]))["id"]
    return run_db(genv, setup)


def run_ours(cluster, work, items, n: int, extra: list[str] = ()) -> dict:
    genv = fresh_db(cluster, "geopera")
    project = bench_project(genv)
    env = {**os.environ, "DATABASE_URL": dsn_from_env(genv), "GEOPERA_HOME": str(work / "home")}
    r = timed([str(BIN / "geopera-stac"), "load", str(items), "--project", project, *extra],
              env, work)
    summary = json.loads(r["stdout"])
    assert summary["loaded"] == n, summary
    r["internal"] = summary["items_per_second"]
    return r


def gen(work: Path, n: int, collections: int) -> tuple[Path, Path]:
    items, cols = work / f"items-{n}.ndjson", work / "collections.ndjson"
    subprocess.run([sys.executable, str(GEN), "--items", str(n), "--collections",
                    str(collections), "--out-items", str(items), "--out-collections",
                    str(cols)], check=True)
    return items, cols


def compare(cluster, work, a) -> list[dict]:
    items, cols = gen(work, a.items, a.collections)
    size_mb = round(items.stat().st_size / 2**20, 1)
    results = []
    for r in range(a.rounds):
        # NOTE: interleaved: odd rounds run stock first, even rounds ours first
        order = ("stock", "geopera") if r % 2 == 0 else ("geopera", "stock")
        got = {}
        for side in order:
            got[side] = (run_stock(cluster, work, items, cols) if side == "stock"
                         else run_ours(cluster, work, items, a.items, a.geopera_args.split()))
        s, g = got["stock"], got["geopera"]
        results.append({
            "round": r + 1, "first": order[0], "items": a.items, "file_mb": size_mb,
            "stock_items_per_s": round(a.items / s["seconds"]),
            "geopera_items_per_s": round(a.items / g["seconds"]),
            "geopera_internal_items_per_s": g["internal"],
            "ratio": round(s["seconds"] / g["seconds"], 2),
            "stock_rss_mb": round(s["rss_mb"]), "geopera_rss_mb": round(g["rss_mb"]),
            "stock_cpu_us": round(s["cpu"] / a.items * 1e6),
            "geopera_cpu_us": round(g["cpu"] / a.items * 1e6),
            "load_avg": round((s["load"] + g["load"]) / 2, 1)})
        print(json.dumps(results[-1]), flush=True)
    return results


def memory(cluster, work, a) -> None:
    for n in (int(x) for x in a.memory.split(",")):
        items, _ = gen(work, n, a.collections)
        r = run_ours(cluster, work, items, n)
        print(json.dumps({"memory_lines": n, "file_mb": round(items.stat().st_size / 2**20),
                          "geopera_rss_mb": round(r["rss_mb"]),
                          "geopera_items_per_s": round(n / r["seconds"]),
                          "load_avg": round(r["load"], 1)}), flush=True)
        items.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--collections", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--memory", help="comma-separated line counts for the RSS-vs-size runs")
    ap.add_argument("--geopera-args", default="", help="extra options for geopera-stac load")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-loadbench-", dir="/tmp"))
    os.chmod(work, 0o755)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    try:
        if a.rounds:
            results = compare(cluster, work, a)
            ratios = [x["ratio"] for x in results]
            print(json.dumps({"items": a.items, "rounds": a.rounds, "ratio_min": min(ratios),
                              "ratio_max": max(ratios)}), flush=True)
        if a.memory:
            memory(cluster, work, a)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
