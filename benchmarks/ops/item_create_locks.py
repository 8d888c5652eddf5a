#!/usr/bin/env python3
"""items.create latency with the pgstac write lock order (partitions.lock_for_write) against the
anchor: the same op with only the former first-partition guard, interleaved, equal work."""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import bench_database, owner_of_new_project  # noqa: E402
from geopera_stac_ext.cli import run_db  # noqa: E402
from geopera_stac_ext.core.settings import Settings  # noqa: E402
from geopera_stac_ext.db.embedded import EmbeddedCluster  # noqa: E402
from geopera_stac_ext.demo.seed import run_op  # noqa: E402
from geopera_stac_ext.ops import items as ops_items  # noqa: E402
from geopera_stac_ext.pgstac import partitions  # noqa: E402

NEW = partitions.lock_for_write


async def former_guard(conn, pgstac_collection, content=None, *, exclusive=False):
    """The anchor: what items.create took before (the partition lock for a first item only)."""
    if not await conn.fetchval(partitions.HAS_PARTITION_SQL.format("$1"), pgstac_collection):
        await conn.execute(partitions.LOCK_SQL.format("$1"), partitions.PARTITION_LOCK)


def params(project, collection, n, year):
    return {"project_id": project, "collection_id": collection, "name": f"s{n}",
            "bbox": [149, -35, 149.1, -34.9], "datetime": f"{year}-05-18T01:20:00Z",
            "assets": [{"key": "data", "href": "s3://bucket/x.tif"}]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--creates", type=int, default=300, help="per variant and case")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-lockbench-", dir="/tmp"))
    os.chmod(work, 0o755)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    settings = Settings(home=work / "home")
    try:
        env = bench_database(cluster)
        owner = run_db(env, owner_of_new_project)

        async def measure(conn):
            project, who = owner.project, owner.principal
            col = (await run_op(conn, settings, who, "collections.create", project_id=project,
                                name="bench"))["id"]
            await run_op(conn, settings, who, "items.create", **params(project, col, -1, 2026))
            times = {"lock_order": {"inside": [], "widening": []},
                     "anchor": {"inside": [], "widening": []}}
            year = 2026
            for n in range(a.creates * 2):
                variant = "lock_order" if n % 2 else "anchor"
                ops_items.lock_for_write = NEW if variant == "lock_order" else former_guard
                for case in ("inside", "widening"):
                    if case == "widening":
                        year += 1  # a new year: outside the partition's range so far
                    t = time.perf_counter()
                    await run_op(conn, settings, who, "items.create",
                                 **params(project, col, n, year if case == "widening" else 2026))
                    times[variant][case].append((time.perf_counter() - t) * 1000)
            ops_items.lock_for_write = NEW
            return {v: {c: {"median_ms": round(statistics.median(x), 3),
                            "p90_ms": round(statistics.quantiles(x, n=10)[-1], 3)}
                        for c, x in cases.items()} for v, cases in times.items()}

        out = run_db(env, measure)
        out["creates_per_variant_and_case"] = a.creates
        out["loadavg"] = os.getloadavg()
        print(json.dumps(out))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
