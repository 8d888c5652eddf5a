#!/usr/bin/env python3
"""Signed-URL issuance (limit checks + ledger write) vs items.get throughput, same server, same run."""

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import bench_database, free_port, owner_of_new_project, served  # noqa: E402
from geopera_stac_ext.cli import run_db  # noqa: E402
from geopera_stac_ext.db.embedded import EmbeddedCluster  # noqa: E402
from geopera_stac_ext.demo.seed import run_op  # noqa: E402
from geopera_stac_ext.core.settings import Settings  # noqa: E402
from geopera_stac_ext.storage.hrefs import project_area  # noqa: E402


async def closed_loop(base: str, key: str, op_id: str, bodies: list[dict], concurrency: int,
                      seconds: float) -> dict:
    lat: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 limits=httpx.Limits(max_connections=concurrency)) as cl:
        async def worker(i: int) -> None:
            rnd = random.Random(i)
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await cl.post(f"/v1/op/{op_id}", json=rnd.choice(bodies), headers=headers)
                lat.append((time.perf_counter() - t) * 1000)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    return {"op": op_id, "requests": n, "rps": round(n / elapsed, 1),
            "p50_ms": round(lat[n // 2], 2), "p95_ms": round(lat[int(n * 0.95)], 2),
            "statuses": statuses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("-c", "--concurrency", type=int, default=16)
    ap.add_argument("-t", "--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="alternating get/download phases")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-dlbench-", dir="/tmp"))
    os.chmod(work, 0o755)
    home, storage = work / "home", work / "storage"
    storage.mkdir()
    cluster = EmbeddedCluster(home, durable=False).start()
    try:
        env = bench_database(cluster)
        settings = Settings(home=home, storage_dir=storage)

        async def setup(conn):
            owner = await owner_of_new_project(conn)
            project, principal = owner.project, owner.principal
            pairs = []
            for i in range(a.items):
                rel = f"bench/scene-{i}.tif"
                path = project_area(storage, project) / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(os.urandom(4096))
                item = (await run_op(conn, settings, principal, "items.create",
                                     project_id=project, name=f"Scene {i}", bbox=[
                                         149.0, -35.4, 149.1, -35.3],
                                     assets=[{"key": "data", "href": rel,
                                              "media_type": "image/tiff",
                                              "file_size_bytes": 4096}]))["item"]
                aid = await conn.fetchval(
                    "SELECT id::text FROM geopera.assets WHERE item_id = $1", item["id"])
                pairs.append((item["id"], aid))
            return owner.api_key, pairs

        key, pairs = run_db(env, setup)
        port = free_port()
        server_env = {**os.environ, **env, "GEOPERA_HOME": str(home),
                      "GEOPERA_STORAGE_DIR": str(storage),
                      # NOTE: limits are checked and ledgered on every grant, but set high
                      # enough that the benchmark measures issuance, not refusals.
                      "GEOPERA_ASSET_DOWNLOAD_LIMIT_FREE": str(10**9),
                      "GEOPERA_EGRESS_BUDGET_BYTES_FREE": str(10**18)}
        base = f"http://127.0.0.1:{port}"
        get_bodies = [{"item_id": i} for i, _ in pairs]
        dl_bodies = [{"item_id": i, "asset_id": aid} for i, aid in pairs]
        results = []
        with served([str(Path(sys.executable).parent / "geopera-stac"), "--log-level",
                     "warning", "serve", "--host", "127.0.0.1", "--port", str(port)],
                    server_env, base + "/v1/op"):
            # warm-up both paths
            asyncio.run(closed_loop(base, key, "items.get", get_bodies, a.concurrency, 2))
            asyncio.run(closed_loop(base, key, "items.asset.download", dl_bodies,
                                    a.concurrency, 2))
            for _ in range(a.rounds):
                results.append(asyncio.run(closed_loop(base, key, "items.get", get_bodies,
                                                       a.concurrency, a.seconds)))
                results.append(asyncio.run(closed_loop(base, key, "items.asset.download",
                                                       dl_bodies, a.concurrency, a.seconds)))
        ledger = run_db(env, lambda c: c.fetchval("SELECT count(*) FROM geopera.egress_ledger"))
        get_rps = sum(r["rps"] for r in results if r["op"] == "items.get") / a.rounds
        dl_rps = sum(r["rps"] for r in results if r["op"] != "items.get") / a.rounds
        granted = sum(r["statuses"].get(200, 0) for r in results if r["op"] != "items.get")
        for r in results:
            print(json.dumps(r))
        print(json.dumps({"items": a.items, "concurrency": a.concurrency,
                          "items_get_rps": round(get_rps, 1),
                          "download_rps": round(dl_rps, 1),
                          "ratio": round(dl_rps / get_rps, 2),
                          "ledger_rows": ledger, "measured_grants": granted}))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(cluster.datadir, ignore_errors=True)


if __name__ == "__main__":
    main()
