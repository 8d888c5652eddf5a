"""Every PostgreSQL advisory lock key the service takes, in one place, so no two ever collide."""

from __future__ import annotations

# NOTE: PostgreSQL keeps the one-bigint and the two-int4 advisory lock forms apart (pg_locks
# objsubid 1 vs 2), so a bigint key never meets a two-int key. Within each form, every key
# below is distinct (tests/unit/test_locks.py), all in the 0x6765… ("ge") range.

# ---------------------------------------------------------------- one-bigint keys

# Concurrent `migrate` runs (several replicas starting) serialise (session lock, db.migrate).
MIGRATION_LOCK = 0x6765_6F70
# pgstac partitions are created one transaction at a time (xact lock, pgstac.partitions).
PARTITION_LOCK = 0x6765_7061
# One lifecycle run at a time across all processes (session try-lock, lifecycle.job).
JOB_LOCK_KEY = 0x6765_7261_0002

# ---------------------------------------------------------------- two-int4 keys (class, hashtext(id))

# One account's download grants serialise: second key hashtext(account id) (ops.downloads).
EGRESS_LOCK_CLASS = 0x6765_0001
# One pgstac collection's partition datetime constraint is widened by one transaction at a
# time: second key hashtext(pgstac collection id) (pgstac.partitions.lock_for_write).
PARTITION_RANGE_CLASS = 0x6765_0002
# Search slots of one user: first key SLOT_NAMESPACE + slot (0 .. the per-user limit − 1),
# second key hashtext(user id) (search.gate). The limit is at most SEARCH_SLOTS_MAX.
SLOT_NAMESPACE = 0x6765_0100
SEARCH_SLOTS_MAX = 1000

BIGINT_KEYS = {"MIGRATION_LOCK": MIGRATION_LOCK, "PARTITION_LOCK": PARTITION_LOCK,
               "JOB_LOCK_KEY": JOB_LOCK_KEY}
TWO_INT_CLASSES = {"EGRESS_LOCK_CLASS": EGRESS_LOCK_CLASS,
                   "PARTITION_RANGE_CLASS": PARTITION_RANGE_CLASS}
