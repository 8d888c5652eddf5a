"""pgstac item rows: create, update, delete and existence, through pgstac's own functions."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.pgstac.partitions import guard_partition


async def create_item(conn: Any, pgstac_collection: str, content: str) -> None:
    """pgstac.create_item (content: the item's JSON text), after the partition guard."""
    await guard_partition(conn, pgstac_collection)
    await conn.execute("SELECT pgstac.create_item($1::text::jsonb)", content)


async def update_item(conn: Any, content: str) -> None:
    """pgstac.update_item: the item keeps its collection (and so its partition)."""
    await conn.execute("SELECT pgstac.update_item($1::text::jsonb)", content)


async def delete_item(conn: Any, item_id: str, pgstac_collection: str) -> None:
    await conn.execute("SELECT pgstac.delete_item($1, $2)", item_id, pgstac_collection)


async def move_item(conn: Any, item_id: str, old_collection: str, new_collection: str,
                    content: str) -> None:
    """An item into another pgstac collection.

    NOTE: pgstac partitions by collection: a move is delete + create (measured: an UPDATE of
    pgstac.items.collection would keep content dehydrated against the old collection)."""
    await delete_item(conn, item_id, old_collection)
    await create_item(conn, new_collection, content)


async def item_exists(conn: Any, item_id: str, pgstac_collection: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pgstac.items WHERE id = $1 AND collection = $2)",
        item_id, pgstac_collection)
