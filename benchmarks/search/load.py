#!/usr/bin/env python3
"""Load a gen_items.py catalog into a fresh database: --mode geopera (platform rows + pgstac) or stock (pypgstac only)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import orjson
import psycopg
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from pypgstac.migrate import Migrate

from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.db.migrate import migrate
from geopera_stac_ext.core.settings import dsn_from_env
from geopera_stac_ext.admin.tenancy import stac_collection


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


async def load_geopera(env: dict[str, str], items: str, collections: str, limit: int | None,
                       projects: int) -> dict[str, str]:
    dsn = dsn_from_env(env)
    migrate(dsn)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "pgstac,public"})
    try:
        org = await tenancy.create_org(conn, "Bench org", "paid")
        pids = [(await tenancy.create_project(conn, f"Bench {n}", org["id"]))["id"]
                for n in range(projects)]
        user = await tenancy.create_user(conn, "bench@example.com")
        await tenancy.grant(conn, user["id"], "owner", org_id=org["id"])
        key = await tenancy.create_key(conn, user["id"], None)
        names = [json.loads(line)["id"] for line in open(collections)]  # noqa: ASYNC230 - set-up
        mapping, owner = {}, {}
        for n, name in enumerate(names):
            cid, pid = str(uuid.uuid4()), pids[n % projects]
            mapping[name], owner[cid] = cid, pid
            await conn.execute(
                "INSERT INTO geopera.collections (id, project_id, name) VALUES ($1, $2, $3)",
                uuid.UUID(cid), uuid.UUID(pid), name)
            await conn.execute("SELECT pgstac.create_collection($1::text::jsonb)",
                               orjson.dumps(stac_collection(cid, name, None)).decode())
    finally:
        await conn.close()

    rows: list[tuple] = []
    assets: list[tuple] = []
    now = datetime.now(timezone.utc)

    def features():
        for item in read_lines(items, limit):
            cid = mapping[item["collection"]]
            iid = uuid.UUID(item["id"])
            item["collection"] = cid
            rows.append((iid, uuid.UUID(owner[cid]), uuid.UUID(cid), cid, "image", now, now))
            for k, a in item.pop("assets").items():
                assets.append((uuid.uuid4(), iid, k, a["href"], a.get("type"),
                               a.get("file:size"), a.get("roles") or []))
            item["assets"] = {}
            yield item

    with PgstacDB(dsn=dsn) as db:
        Loader(db=db).load_items(features(), Methods.insert)  # type: ignore[arg-type]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "items", schema_name="geopera", records=rows,
            columns=["id", "project_id", "collection_id", "pgstac_collection", "type",
                     "created_at", "updated_at"])
        await conn.copy_records_to_table(
            "assets", schema_name="geopera", records=assets,
            columns=["id", "item_id", "key", "href", "media_type", "file_size_bytes", "roles"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"api_key": key["api_key"], "project_id": pids[0], "projects": pids,
            "items": len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--env", required=True, help="JSON file with the cluster's PG* settings")
    ap.add_argument("--db", required=True, help="database to (re)create")
    ap.add_argument("--mode", choices=["geopera", "stock"], required=True)
    ap.add_argument("--items", required=True)
    ap.add_argument("--collections", required=True)
    ap.add_argument("--limit", type=int, help="load only the first N items")
    ap.add_argument("--projects", type=int, default=1, help="spread collections over N projects")
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
        info = asyncio.run(load_geopera(env, a.items, a.collections, a.limit, a.projects))
    info.update(db=a.db, mode=a.mode, seconds=round(time.perf_counter() - t, 1))
    if a.out:
        Path(a.out).write_text(json.dumps({**info, "env": env}))
    print(json.dumps({k: v for k, v in info.items() if k != "projects"}))


if __name__ == "__main__":
    main()
