"""pgstac item rows: create, update, delete and existence, through pgstac's own functions."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.pgstac.partitions import lock_for_write


async def create_item(conn: Any, pgstac_collection: str, content: str, *,
                      locked: bool = False) -> None:
    """pgstac.create_item (content: the item's JSON text), after partitions.lock_for_write.

    locked: the caller took lock_for_write already (before its platform row: the order)."""
    if not locked:
        await lock_for_write(conn, pgstac_collection, content)
    await conn.execute("SELECT pgstac.create_item($1::text::jsonb)", content)


async def update_item(conn: Any, pgstac_collection: str, content: str) -> None:
    """pgstac.update_item: the item keeps its collection (and so its partition).

    NOTE: pgstac re-creates the row (check_partition): the same locks as create_item."""
    await lock_for_write(conn, pgstac_collection, content)
    await conn.execute("SELECT pgstac.update_item($1::text::jsonb)", content)


async def delete_item(conn: Any, item_id: str, pgstac_collection: str) -> None:
    await conn.execute("SELECT pgstac.delete_item($1, $2)", item_id, pgstac_collection)


async def move_item(conn: Any, item_id: str, old_collection: str, new_collection: str,
                    content: str) -> None:
    """An item into another pgstac collection.

    NOTE: pgstac partitions by collection: a move is delete + create (measured: an UPDATE of
    pgstac.items.collection would keep content dehydrated against the old collection). The
    target's locks come first, then both partitions' stats rows in one order (a move the
    other way takes them in the same order), before the delete locks the old partition."""
    await lock_for_write(conn, new_collection, content, also=(old_collection,))
    await delete_item(conn, item_id, old_collection)
    await create_item(conn, new_collection, content, locked=True)


async def item_exists(conn: Any, item_id: str, pgstac_collection: str) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pgstac.items WHERE id = $1 AND collection = $2)",
        item_id, pgstac_collection)
