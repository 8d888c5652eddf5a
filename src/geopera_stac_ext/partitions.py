"""One lock around creating pgstac partitions, which pgstac cannot do concurrently."""

from __future__ import annotations

from typing import Any

# NOTE: pgstac creates a collection's partition (CREATE TABLE … PARTITION OF items) inside
# check_partition, on the collection's first item. Two transactions doing that at once can
# deadlock; pgstac's handler swallows the deadlock and the transaction then fails with
# `relation "_items_N" does not exist` (reproduced: 2 of 15 pairs of concurrent first items,
# 2 of 3 pairs of concurrent bulk loads). Every path here that may create a partition takes
# this transaction-scoped advisory lock first, so partitions are created one at a time.
PARTITION_LOCK = 0x6765_7061
LOCK_SQL = "SELECT pg_advisory_xact_lock({})"
HAS_PARTITION_SQL = ("SELECT EXISTS (SELECT 1 FROM pgstac.partition_stats"
                     " WHERE collection = {})")


async def guard_partition(conn: Any, pgstac_collection: str) -> None:
    """Before writing the first item of a pgstac collection (asyncpg), take the lock.

    NOTE: only then: a collection whose partition exists (pgstac writes its partition_stats
    row before commit) needs no lock, so ordinary item writes are not serialised. A first
    item that waits here finds the partition made when the lock holder commits.
    """
    if not await conn.fetchval(HAS_PARTITION_SQL.format("$1"), pgstac_collection):
        await conn.execute(LOCK_SQL.format("$1"), PARTITION_LOCK)


async def create_stac_item(conn: Any, pgstac_collection: str, content: str) -> None:
    """pgstac.create_item (content: the item's JSON text), after the partition guard."""
    await guard_partition(conn, pgstac_collection)
    await conn.execute("SELECT pgstac.create_item($1::text::jsonb)", content)
