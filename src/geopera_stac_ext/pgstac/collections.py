"""pgstac collection rows: create, update, and set-based moves of a collection's items."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.pgstac.partitions import lock_for_write


async def create_collection(conn: Any, document: str) -> None:
    """pgstac.create_collection (document: the STAC Collection's JSON text)."""
    await conn.execute("SELECT pgstac.create_collection($1::text::jsonb)", document)


async def update_collection(conn: Any, document: str) -> None:
    await conn.execute("SELECT pgstac.update_collection($1::text::jsonb)", document)


async def move_items(conn: Any, source: str, target: str) -> None:
    """Move every pgstac row of collection `source` to collection `target`, set-based.

    NOTE: collections.delete took lock_for_write(target, exclusive=True) first (the order)."""
    bounds = await conn.fetchrow(
        "SELECT min(datetime) AS d0, max(datetime) AS d1, min(end_datetime) AS e0,"
        " max(end_datetime) AS e1, count(*) AS n FROM pgstac.items WHERE collection = $1",
        source)
    if not bounds["n"]:
        return
    # NOTE: dehydrated content only depends on the collection through its base item. When
    # neither collection was ever re-based (no base_items rows) and their base items agree
    # (ours always do: same stac_version, no item_assets), rows move verbatim: measured
    # ~20x faster than re-hydrating and re-dehydrating each Feature in SQL.
    verbatim = await conn.fetchval(
        """
        SELECT (SELECT base_item - 'collection' FROM pgstac.collections WHERE id = $1)
             = (SELECT base_item - 'collection' FROM pgstac.collections WHERE id = $2)
           AND NOT EXISTS (SELECT 1 FROM pgstac.base_items WHERE collection IN ($1, $2))
           AND NOT EXISTS (SELECT 1 FROM pgstac.items
                           WHERE collection = $1 AND content ? 'pgstac:base_item')
        """,
        source, target)
    await lock_for_write(conn, target, also=(source,))
    if verbatim:
        await conn.execute(
            "SELECT pgstac.check_partition($1, tstzrange($2, $3, '[]'), tstzrange($4, $5, '[]'))",
            target, bounds["d0"], bounds["d1"], bounds["e0"], bounds["e1"])
        await conn.execute(
            """
            INSERT INTO pgstac.items (id, collection, datetime, end_datetime, geometry, content,
                                      private)
            SELECT id, $2, datetime, end_datetime, geometry, content, private
            FROM pgstac.items WHERE collection = $1
            """,
            source, target)
    else:
        await conn.execute(
            """
            INSERT INTO pgstac.items_staging (content)
            SELECT pgstac.content_hydrate(p) || jsonb_build_object('collection', $2::text)
            FROM pgstac.items p WHERE p.collection = $1
            """,
            source, target)
    await conn.execute("DELETE FROM pgstac.items WHERE collection = $1", source)


async def rehydrate_items(conn: Any, source: str, target: str, item_ids: list[str]) -> None:
    """Move these items of collection `source` into `target`, re-hydrated (set-based)."""
    await lock_for_write(conn, target, also=(source,))
    await conn.execute(
        """
        INSERT INTO pgstac.items_staging (content)
        SELECT pgstac.content_hydrate(p) || jsonb_build_object('collection', $2::text)
        FROM pgstac.items p WHERE p.collection = $1 AND p.id = ANY($3::text[])
        """, source, target, item_ids)
    await conn.execute("DELETE FROM pgstac.items WHERE collection = $1 AND id = ANY($2)",
                       source, item_ids)
