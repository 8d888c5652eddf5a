#!/usr/bin/env python3
"""Load a gen_items.py catalog into a fresh database: --mode geopera (`geopera-stac load`) or stock (pypgstac only)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import orjson
import psycopg
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from pypgstac.migrate import Migrate

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.core.settings import dsn_from_env
from geopera_stac_ext.db.migrate import migrate
from geopera_stac_ext.storage import buckets

BIN = Path(sys.executable).parent


def create_database(env: dict[str, str], name: str) -> dict[str, str]:
    admin = dsn_from_env({**env, "PGDATABASE": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return {**env, "PGDATABASE": name}


def read_lines(path: str, limit: int | None):
    with open(path, "rb") as f:
        for line in itertools.islice(f, limit):
            yield orjson.loads(line)


def load_stock(env: dict[str, str], items: str, collections: str, limit: int | None) -> None:
    dsn = dsn_from_env(env)
    with PgstacDB(dsn=dsn) as db:
        Migrate(db).run_migration()
        loader = Loader(db=db)
        loader.load_collections(collections, Methods.insert)
        loader.load_items(read_lines(items, limit), Methods.insert)  # type: ignore[arg-type]


async def _owner(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "pgstac,public"})
    try:
        org = await tenancy.create_org(conn, "Bench org", "paid")
        project = (await tenancy.create_project(conn, "Bench", org["id"]))["id"]
        user = await tenancy.create_user(conn, "bench@example.com")
        await tenancy.grant(conn, user["id"], "owner", org_id=org["id"])
        key = await tenancy.create_key(conn, user["id"], None)
        # NOTE: gen_items.py's asset hrefs are in s3://bucket/; an operator grants it.
        await buckets.allow_bucket(conn, org["id"], None, "s3://bucket/")
    finally:
        await conn.close()
    return {"api_key": key["api_key"], "project_id": project}


def load_geopera(env: dict[str, str], items: str, limit: int | None) -> dict:
    """`geopera-stac load` (the product's bulk loader: items.create's checks, platform rows,
    assets in geopera.assets) into one project; collections created from the items' names."""
    dsn = dsn_from_env(env)
    migrate(dsn)
    info = asyncio.run(_owner(dsn))
    path = items
    if limit is not None:
        path = f"/tmp/gsbench-items-{limit}-{os.getpid()}.ndjson"
        with open(items, "rb") as src, open(path, "wb") as dst:
            dst.writelines(itertools.islice(src, limit))
    t = time.perf_counter()
    res = subprocess.run([str(BIN / "geopera-stac"), "load", path, "--project",
                          info["project_id"]], env={**os.environ, **env},
                         capture_output=True, text=True)
    info["load_seconds"] = round(time.perf_counter() - t, 1)
    if path != items:
        os.unlink(path)
    if res.returncode != 0:
        raise SystemExit(f"geopera-stac load failed: {res.stderr[-2000:]}")
    info["loader"] = json.loads(res.stdout.strip().splitlines()[-1])
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("ANALYZE")
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", required=True, help="JSON file with the cluster's PG* settings")
    ap.add_argument("--db", required=True, help="database to (re)create")
    ap.add_argument("--mode", choices=["geopera", "stock"], required=True)
    ap.add_argument("--items", required=True)
    ap.add_argument("--collections", required=True)
    ap.add_argument("--limit", type=int, help="load only the first N items")
    ap.add_argument("--out", help="write the key/project JSON here (geopera mode)")
    a = ap.parse_args()
    env = create_database(json.loads(Path(a.env).read_text()), a.db)
    t = time.perf_counter()
    if a.mode == "stock":
        load_stock(env, a.items, a.collections, a.limit)
        info: dict = {}
        with psycopg.connect(dsn_from_env(env), autocommit=True) as c:
            c.execute("ANALYZE")
    else:
        info = load_geopera(env, a.items, a.limit)
    with psycopg.connect(dsn_from_env(env), autocommit=True) as c:
        info["db_bytes"] = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    info.update(db=a.db, mode=a.mode, seconds=round(time.perf_counter() - t, 1),
                load1=round(os.getloadavg()[0], 2))
    if a.out:
        Path(a.out).write_text(json.dumps({**info, "env": env}))
    print(json.dumps({k: v for k, v in info.items() if k != "api_key"}))


if __name__ == "__main__":
    main()
