"""The locks a pgstac item write takes, in one order: partition creation, parent, range."""

from __future__ import annotations

from typing import Any

import asyncpg

from geopera_stac_ext.core.errors import TransientConflict
from geopera_stac_ext.db.locks import PARTITION_LOCK, PARTITION_RANGE_CLASS

# NOTE: pgstac creates a collection's partition (CREATE TABLE … PARTITION OF items) inside
# check_partition, on the collection's first item. Two transactions doing that at once can
# deadlock; pgstac's handler swallows the deadlock and the transaction then fails with
# `relation "_items_N" does not exist` (reproduced: 2 of 15 pairs of concurrent first items,
# 2 of 3 pairs of concurrent bulk loads). Every path here that may create a partition takes
# this transaction-scoped advisory lock first, so partitions are created one at a time.
LOCK_SQL = "SELECT pg_advisory_xact_lock({})"
HAS_PARTITION_SQL = ("SELECT EXISTS (SELECT 1 FROM pgstac.partition_stats"
                     " WHERE collection = {})")
RANGE_LOCK_SQL = "SELECT pg_advisory_xact_lock({}::int, hashtext({}::text))"
PARENT_LOCK_SQL = "LOCK TABLE ONLY pgstac.items IN ROW EXCLUSIVE MODE"
# NULL: the collection has no partition yet; else whether its partition's datetime and
# end_datetime constraints already hold the item (content: the item's JSON text).
COVERED_SQL = """
    SELECT (SELECT bool_or(m.constraint_dtrange @> lower(r.d)
                           AND m.constraint_edtrange @> upper(r.d))
            FROM pgstac.partition_stats ps
            CROSS JOIN LATERAL pgstac.partition_catalog_meta(ps.partition) m
            WHERE ps.collection = $1)
    FROM (SELECT pgstac.stac_daterange($2::text::jsonb) AS d) r
"""

# NOTE: the lock order of every pgstac item write (issue 11), one order for all writers:
#   1. PARTITION_LOCK, only when the collection has no partition yet (creating it);
#   2. the parent table pgstac.items (ROW EXCLUSIVE; collections.delete: ACCESS EXCLUSIVE);
#   3. the collection's range lock (PARTITION_RANGE_CLASS), only when the item falls outside
#      the partition's datetime constraint, which pgstac's check_partition then drops and
#      re-adds wider;
#   4. the partition_stats rows of every partition the write touches (FOR UPDATE, in
#      partition order; pgstac's check_partition upserts them), then partitions (pgstac's own
#      statements), then the platform rows the write touches.
# Why 2 before any partition: a search and read_item lock the parent, then every partition
# (generic plans); creating a partition locks the parent ACCESS EXCLUSIVE. A write that locked
# its partition (widening the constraint) before the parent deadlocked with both (seen: two
# create/delete loops in one project, items.create and STAC reads answered 503).
# Why 3: check_partition reads the constraint, drops it and adds the union with the new item;
# two writers widening at once each add a union that misses the other's row, and the second
# ADD CONSTRAINT fails on it (`_items_N_dt` violated: ~1 in 60 concurrent out-of-range
# creates). Taken only when widening, so the common write (inside the range) queues behind
# nobody. Callers take these locks before writing geopera.items (item_counts slot rows,
# migration 0060), so a writer waiting here holds no row another writer needs.


async def lock_for_write(conn: Any, pgstac_collection: str, content: str | None = None, *,
                         exclusive: bool = False, also: tuple[str, ...] = ()) -> None:
    """Steps 1-4 above for a write of `content` (None: rows of unknown range, e.g. a move)
    into `pgstac_collection` (asyncpg). exclusive: the parent ACCESS EXCLUSIVE (deletes).
    also: other collections this transaction writes (a move's source), whose partition
    stats rows are locked together with the target's, in one order."""
    if content is None:
        covered = False if await conn.fetchval(HAS_PARTITION_SQL.format("$1"),
                                               pgstac_collection) else None
    else:
        covered = await conn.fetchval(COVERED_SQL, pgstac_collection, content)
    if covered is None:
        await conn.execute(LOCK_SQL.format("$1"), PARTITION_LOCK)
    if exclusive:
        await lock_stac_items(conn)
    else:
        await conn.execute(PARENT_LOCK_SQL)
    if not covered:
        await conn.execute(RANGE_LOCK_SQL.format("$1", "$2"), PARTITION_RANGE_CLASS,
                           pgstac_collection)
    if not exclusive:
        await conn.execute(STATS_LOCK_SQL, sorted({pgstac_collection, *also}))


# NOTE: pgstac's check_partition upserts the partition's pgstac.partition_stats row on every
# item write (delete_item too, through the stats trigger) and the row stays locked until
# commit. A move writes two partitions (delete from the old, create in the new): two moves in
# opposite directions took the two rows in opposite orders and deadlocked (seen: 1 in 4 runs of
# tests/ops/test_item_counts.py's concurrent writers, items.update 503 after three attempts).
# And items.create wrote its platform row (item_counts slot) before pgstac's create_item
# (stats row) while a move wrote the stats rows before its platform row (seen after the first
# fix: 2 deadlocks in 10 runs, retried). So lock_for_write (step 4) locks the stats rows of
# every partition the write touches, in partition order, before any platform row.
STATS_LOCK_SQL = ("SELECT 1 FROM pgstac.partition_stats WHERE collection = ANY($1::text[]) "
                  "ORDER BY partition FOR UPDATE")


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
