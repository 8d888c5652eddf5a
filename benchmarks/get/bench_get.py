#!/usr/bin/env python3
"""items.get and items.list (authenticated, op API) vs stock stac-fastapi-pgstac
GET /collections/{c}/items/{id} and GET /collections/{c}/items, same items, same run."""

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

SHARED = REPO / "benchmarks" / "tools"
BIN = Path(sys.executable).parent


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def get_load(args: list[str], clients: int, seconds: float) -> dict:
    """benchmarks/tools/get_load.py (the shared load script, vendored)."""
    run = subprocess.run([sys.executable, str(SHARED / "get_load.py"), *args, "-c", str(clients),
                          "-t", str(seconds)], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--collections", type=int, default=20)
    ap.add_argument("-c", "--clients", type=int, default=8)
    ap.add_argument("-t", "--seconds", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-getbench-", dir="/tmp"))
    os.chmod(work, 0o755)
    items, cols = work / "items.ndjson", work / "collections.ndjson"
    subprocess.run([sys.executable, str(SHARED / "gen_items.py"), "--items", str(a.items),
                    "--collections", str(a.collections), "--out-items", str(items),
                    "--out-collections", str(cols)], check=True)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    try:
        # stock: the same items with pypgstac's loader
        stock_env = bench_database(cluster, "stock")
        env = {**os.environ, **stock_env}
        for kind, path in (("collections", cols), ("items", items)):
            subprocess.run([str(BIN / "pypgstac"), "load", kind, str(path)], env=env, check=True,
                           capture_output=True)
        # geopera: one project, its collections made from the items' `collection` fields
        gs_env = bench_database(cluster, "geopera")
        owner = run_db(gs_env, owner_of_new_project)
        genv = {**os.environ, **gs_env, "GEOPERA_HOME": str(work / "home")}
        load = subprocess.run([str(BIN / "geopera-stac"), "load", str(items), "--project",
                               owner.project], env=genv, capture_output=True, text=True)
        if load.returncode != 0:
            sys.exit(load.stderr[-2000:])
        by_name = {r["name"]: r["id"] for r in run_db(
            gs_env, lambda c: c.fetch("SELECT id::text, name FROM geopera.collections"))}
        names, cids = list(by_name), list(by_name.values())
        stac_ids, op_ids = work / "stac_ids.tsv", work / "op_ids.txt"
        ours_stac: list[tuple[str, str]] = []
        with items.open("rb") as f, stac_ids.open("w") as s, op_ids.open("w") as o:
            for line in f:
                doc = orjson.loads(line)
                s.write(f"{doc['collection']}\t{doc['id']}\n")
                o.write(f"{doc['id']}\n")
                ours_stac.append((by_name[doc["collection"]], doc["id"]))
        sport, gport = free_port(), free_port()
        stock_url, gs_url = f"http://127.0.0.1:{sport}", f"http://127.0.0.1:{gport}"
        results = []
        with served([str(BIN / "uvicorn"), "stac_fastapi.pgstac.app:create_app", "--factory",
                     "--host", "127.0.0.1", "--port", str(sport), "--log-level", "warning"],
                    env, stock_url + "/"), \
             served([str(BIN / "geopera-stac"), "--log-level", "warning", "serve", "--host",
                     "127.0.0.1", "--port", str(gport)], genv, gs_url + "/v1/op"):
            # warm-up: every pooled connection of each service
            get_load(["--stac", stock_url, "--ids", str(stac_ids)], a.clients, 3)
            get_load(["--op", gs_url, "--key", owner.api_key, "--ids", str(op_ids)], a.clients, 3)
            for r in range(1, a.rounds + 1):
                stock = get_load(["--stac", stock_url, "--ids", str(stac_ids)], a.clients,
                                 a.seconds)
                ours = get_load(["--op", gs_url, "--key", owner.api_key, "--ids", str(op_ids)],
                                a.clients, a.seconds)
                # first pages of 10 items of a random collection: items.list returns the
                # exact `total` too
                stock_list = asyncio.run(closed_loop(
                    lambda cl, rnd: cl.get(f"{stock_url}/collections/{rnd.choice(names)}/items",
                                           params={"limit": 10}),
                    a.clients, a.seconds))
                ours_list = asyncio.run(closed_loop(
                    lambda cl, rnd: cl.post(f"{gs_url}/v1/op/items.list", json={
                        "project_id": owner.project, "collection_id": rnd.choice(cids),
                        "limit": 10}),
                    a.clients, a.seconds, bearer(owner.api_key)))
                ours_stac_get = asyncio.run(closed_loop(
                    lambda cl, rnd: cl.get("{}/collections/{}/items/{}".format(
                        gs_url, *rnd.choice(ours_stac))),
                    a.clients, a.seconds, bearer(owner.api_key)))
                row = {"round": r, "stock_get": stock, "items_get": ours,
                       "get_ratio": round(ours["rps"] / stock["rps"], 2),
                       "stac_get": ours_stac_get,
                       "stac_get_ratio": round(ours_stac_get["rps"] / stock["rps"], 2),
                       "stock_list": stock_list, "items_list": ours_list,
                       "list_ratio": round(ours_list["rps"] / stock_list["rps"], 2)}
                results.append(row)
                print(json.dumps(row), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"items": a.items, "clients": a.clients,
                      "get_ratio": [x["get_ratio"] for x in results],
                      "stac_get_ratio": [x["stac_get_ratio"] for x in results],
                      "list_ratio": [x["list_ratio"] for x in results]}))


if __name__ == "__main__":
    main()
