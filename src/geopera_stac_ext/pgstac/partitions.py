"""One lock around creating pgstac partitions, which pgstac cannot do concurrently."""

from __future__ import annotations

from typing import Any

import asyncpg

from geopera_stac_ext.core.errors import TransientConflict
from geopera_stac_ext.db.locks import PARTITION_LOCK

# NOTE: pgstac creates a collection's partition (CREATE TABLE … PARTITION OF items) inside
# check_partition, on the collection's first item. Two transactions doing that at once can
# deadlock; pgstac's handler swallows the deadlock and the transaction then fails with
# `relation "_items_N" does not exist` (reproduced: 2 of 15 pairs of concurrent first items,
# 2 of 3 pairs of concurrent bulk loads). Every path here that may create a partition takes
# this transaction-scoped advisory lock first, so partitions are created one at a time.
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


# NOTE: deadlock-free collections.delete (issue 11). A search holds ACCESS SHARE on
# pgstac.items and, with a generic plan, takes every partition's lock in turn. The delete took
# ACCESS EXCLUSIVE on partitions first (check_partition altering the inbox partition's
# constraint, then DROP TABLE of the collection's) and on the parent last: the two orders
# deadlocked (78 of 479 searches of another org failed with 503 in a 30 s delete loop).
# Taking the parent first, as searches do, leaves no cycle. Readers queue behind the lock for
# the length of the move (0.2 s for 5,000 items, benchmarks/ops); the wait for it is bounded
# so a long search makes the delete retry (TransientConflict, run again by run_op) instead of
# stalling every reader behind it.
ITEMS_LOCK_TIMEOUT_MS = 1000


async def lock_stac_items(conn: Any) -> None:
    """ACCESS EXCLUSIVE on pgstac.items for the rest of the caller's transaction."""
    await conn.execute(f"SET LOCAL lock_timeout = {int(ITEMS_LOCK_TIMEOUT_MS)}")
    try:
        await conn.execute("LOCK TABLE pgstac.items IN ACCESS EXCLUSIVE MODE")
    except asyncpg.LockNotAvailableError as e:
        raise TransientConflict("the catalog is busy with long searches; retry shortly") from e
    await conn.execute("SET LOCAL lock_timeout TO DEFAULT")


async def drop_stac_collection(conn: Any, collection_id: str) -> None:
    """pgstac.delete_collection (it drops the partition), the parent table locked first."""
    await lock_stac_items(conn)
    await conn.execute("SELECT pgstac.delete_collection($1)", collection_id)
