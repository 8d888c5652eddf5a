#!/usr/bin/env python3
"""Time collections.delete unlinking N items (set-based partition move) and single item moves."""

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import REPO, bench_database, owner_of_new_project  # noqa: E402
from geopera_stac_ext.cli import run_db  # noqa: E402
from geopera_stac_ext.db.embedded import EmbeddedCluster  # noqa: E402
from geopera_stac_ext.demo.seed import run_op  # noqa: E402
from geopera_stac_ext.ingest.run import load_file  # noqa: E402
from geopera_stac_ext.core.settings import Settings, dsn_from_env  # noqa: E402

GEN = REPO / "benchmarks" / "tools" / "gen_items.py"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--moves", type=int, default=200)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geopera-opsbench-", dir="/tmp"))
    os.chmod(work, 0o755)
    items = work / "items.ndjson"
    subprocess.run([sys.executable, str(GEN), "--items", str(a.items), "--collections", "1",
                    "--out-items", str(items), "--out-collections", str(work / "c.ndjson")],
                   check=True)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    settings = Settings(home=work / "home")
    try:
        env = bench_database(cluster)
        owner = run_db(env, owner_of_new_project)
        project, principal = owner.project, owner.principal
        with psycopg.connect(dsn_from_env(env), options="-c search_path=pgstac,public") as c:
            load_file(c, settings, items, project, report=lambda m: None)

        async def measure(conn):
            cols = await run_op(conn, settings, principal, "collections.list", project_id=project)
            [col] = cols
            other = await run_op(conn, settings, principal, "collections.create",
                                 project_id=project, name="target")
            ids = [r["id"] for r in await conn.fetch(
                "SELECT id::text FROM geopera.items LIMIT $1", a.moves)]
            t = time.perf_counter()
            for i in ids:
                await run_op(conn, settings, principal, "items.update", item_id=i,
                             collection_id=other["id"])
            move_ms = (time.perf_counter() - t) * 1000 / len(ids)
            remaining = col["item_count"] - len(ids)
            t = time.perf_counter()
            out = await run_op(conn, settings, principal, "collections.delete",
                               collection_id=col["id"])
            delete_s = time.perf_counter() - t
            assert out["unlinked_items"] == remaining, out
            broken = await conn.fetchval(
                "SELECT count(*) FROM geopera.items i LEFT JOIN pgstac.items p"
                " ON p.id = i.id::text AND p.collection = i.pgstac_collection WHERE p.id IS NULL")
            assert broken == 0
            return {"items_in_collection": remaining, "collections_delete_s": round(delete_s, 3),
                    "unlinked_per_s": round(remaining / delete_s),
                    "items_update_move_ms": round(move_ms, 2)}
        print(json.dumps(run_db(env, measure)))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
