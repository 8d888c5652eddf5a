"""Writing sealed batches: one transaction each, on up to `writers` connections at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

import psycopg

from geopera_stac_ext.ingest.encode import payloads
from geopera_stac_ext.ingest.plan import Batch, LoadPlan
from geopera_stac_ext.pgstac import bulk
from geopera_stac_ext.pgstac.partitions import PARENT_LOCK_SQL
from geopera_stac_ext.domain.records import stac_collection

# (line, reason) of a batch's lines that were not written: rejected, or skipped as already
# loaded (reason None, with --skip-existing)
NotWritten = list[tuple[int, str | None]]
TAKEN_SQL = ("SELECT id, project_id, created_at FROM geopera.items"
             " WHERE id = ANY(%s::uuid[])")
COLLECTION_SQL = ("INSERT INTO geopera.collections (id, project_id, name, created_at,"
                  " updated_at) VALUES (%s, %s, %s, %s, %s)")
AUDIT_SQL = ("INSERT INTO geopera.audit_log (operation, target_ids, request_id, at)"
             " VALUES ('items.load', %s, %s, %s)")


class Skipped(Exception):
    """A batch not written because an earlier batch of the load failed."""


class BatchWriter:
    """Writes batches in writer threads; each thread has its own connection (`connect`), or,
    with no `connect`, the single writer shares `conn`.

    NOTE: threads: writer threads only run write(), which reads a sealed batch, the plan's
    `stamps` and the `failed` flag; the main thread validates and seals.
    """

    def __init__(self, conn: psycopg.Connection, plan: LoadPlan,
                 connect: Callable[[], psycopg.Connection] | None = None,
                 skip_existing: bool = False) -> None:
        self.conn, self.plan, self.connect = conn, plan, connect
        self.skip_existing = skip_existing
        self.failed = False
        self.local = threading.local()
        self.connections: list[psycopg.Connection] = []
        self.lock = threading.Lock()

    def _connection(self) -> psycopg.Connection:
        """This writer thread's connection."""
        if self.connect is None:
            return self.conn
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self.connect()
            with self.lock:
                self.connections.append(conn)
        return conn

    def close(self) -> None:
        with self.lock:
            for conn in self.connections:
                conn.close()
            self.connections.clear()

    def write(self, batch: Batch, request_id: str,
              after: list[Future[NotWritten]]) -> NotWritten:
        """Write one batch atomically, once the batches it must follow are done.

        Returns (line, reason) of the lines not written: rejected, or skipped (reason None).
        """
        # NOTE: waits happen here, before the transaction opens, so a writer never holds a
        # database lock while it waits on another writer (no deadlock the server cannot see).
        for f in after:
            f.exception()
        if self.failed:
            raise Skipped()
        conn = self._connection()
        try:
            # NOTE: optimistic: ids are new in the usual load, so the already-exists query
            # (≈ 6 µs/item) runs only when the batch hit a unique violation, on a retry.
            try:
                return self._write(conn, batch, request_id, check_ids=False)
            except psycopg.errors.UniqueViolation:
                return self._write(conn, batch, request_id, check_ids=True)
        except BaseException:
            self.failed = True  # start no later batch
            raise

    def _not_new(self, cur: psycopg.Cursor, batch: Batch) -> NotWritten:
        """The batch's lines whose item id is already stored, and why."""
        taken = {str(r[0]): (str(r[1]), r[2]) for r in cur.execute(
            TAKEN_SQL, ([b.item_id for b in batch.items],))}
        project, stamps = self.plan.project_id, self.plan.stamps
        out: NotWritten = []
        for b in batch.items:
            if b.item_id not in taken:
                continue
            owner, created = taken[b.item_id]
            # NOTE: stored by an earlier batch of this load: the file repeats the id. Else,
            # with --skip-existing, an id this project already has is a line an earlier run
            # of the load stored (None: skipped); anywhere else, an error.
            if owner == project and created in stamps:
                out.append((b.lineno, f"item id {b.item_id} appears twice in this file"))
            elif self.skip_existing and owner == project:
                out.append((b.lineno, None))
            else:
                out.append((b.lineno, f"item id {b.item_id} already exists"))
        return sorted(out)

    def _write(self, conn: psycopg.Connection, batch: Batch, request_id: str,
               check_ids: bool) -> NotWritten:
        rejected: NotWritten = []
        data = batch.payloads
        plan = self.plan
        with conn.transaction(), conn.cursor() as cur:
            if check_ids:
                rejected = self._not_new(cur, batch)
                if rejected:
                    lines = {n for n, _ in rejected}
                    data = payloads([b for b in batch.items if b.lineno not in lines],
                                    plan.project_id)
            if batch.exclusive:
                bulk.lock_partitions(cur)
            # NOTE: the pgstac parent before any platform row (the counters' slot rows), the
            # order every pgstac write takes (pgstac/partitions.py); the rows go in last.
            cur.execute(PARENT_LOCK_SQL)
            for cid, name in batch.new_collections:
                cur.execute(COLLECTION_SQL, (cid, plan.project_id, name, batch.now, batch.now))
                bulk.create_collection(cur, stac_collection(cid, name, None))
            # NOTE: pgstac needs each partition to exist and cover the rows' time range before
            # a direct COPY. seal() asked only for what earlier batches have not covered.
            for pgcol, ranges in sorted(batch.widen.items()):
                bulk.cover(cur, pgcol, ranges)
            assert data is not None  # sealed
            for statement, rows in data.platform:
                if rows:
                    with cur.copy(statement) as copy:
                        copy.write(rows)
            bulk.copy_rows(cur, data.stac, data.notes)
            cur.execute(AUDIT_SQL, ([plan.project_id, *sorted({b.cid for b in batch.items
                                                               if b.cid})],
                                    request_id, batch.now))
        return rejected
