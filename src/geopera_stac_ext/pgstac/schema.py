"""What this service relies on in pgstac's schema: the tables, columns and functions it touches."""

from __future__ import annotations

from typing import Any

# NOTE: the contract a pgstac upgrade must keep (tests/pgstac/test_schema_contract.py checks
# it against the migrated database). Writes go through this package's modules; reads join
# pgstac.items (search, records.ITEM_JOIN, extents) and pgstac.collections (the STAC client's
# collection documents) on these columns only.
TABLES: dict[str, tuple[str, ...]] = {
    "items": ("id", "collection", "datetime", "end_datetime", "geometry", "content", "private"),
    "collections": ("id", "content", "base_item", "partition_trunc"),
    "items_staging": ("content",),
    "partition_stats": ("collection",),
    "base_items": ("collection",),
    "migrations": ("version", "datetime"),
}
FUNCTIONS = ("create_item", "update_item", "delete_item", "create_collection",
             "update_collection", "delete_collection", "check_partition", "content_hydrate",
             "collection_base_item", "current_base_item")

COLUMNS_SQL = ("SELECT table_name, column_name FROM information_schema.columns"
               " WHERE table_schema = 'pgstac' AND table_name = ANY($1::text[])")
FUNCTIONS_SQL = ("SELECT DISTINCT proname FROM pg_proc"
                 " WHERE pronamespace = 'pgstac'::regnamespace AND proname = ANY($1::text[])")


async def missing(conn: Any) -> list[str]:
    """The parts of the contract the database lacks (`pgstac.items.private`, `pgstac.f()`)."""
    have = {(r["table_name"], r["column_name"])
            for r in await conn.fetch(COLUMNS_SQL, list(TABLES))}
    out = [f"pgstac.{t}.{c}" for t, cols in TABLES.items() for c in cols if (t, c) not in have]
    funcs = {r["proname"] for r in await conn.fetch(FUNCTIONS_SQL, list(FUNCTIONS))}
    return out + [f"pgstac.{f}()" for f in FUNCTIONS if f not in funcs]
