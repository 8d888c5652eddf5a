"""A load from start to end: stream the file, validate and seal batches, keep writers busy."""

from __future__ import annotations

import gc
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import psycopg

from geopera_stac_ext.core.errors import GeoperaError, InvalidRequest
from geopera_stac_ext.ingest.plan import Batch, LoadPlan
from geopera_stac_ext.ingest.prepare import prepare
from geopera_stac_ext.ingest.write import BatchWriter, NotWritten
from geopera_stac_ext.core.settings import Settings

DEFAULT_BATCH = 5000
DEFAULT_WRITERS = 2
FIRST_BATCH = 1000  # the first batch's size, at most (see LoadRun.run)
SWITCH_INTERVAL = 0.0002  # seconds (Python's default 0.005), see load_file
SPLIT_MIN = 2000  # lines: a smaller rest is not split in two (see LoadRun._stream)
MAX_ERRORS = 1000  # rejected lines' messages kept in Summary.errors (all are reported)


@dataclass
class Summary:
    loaded: int = 0
    rejected: int = 0
    skipped: int = 0  # already loaded (--skip-existing)
    collections_created: int = 0
    lines: int = 0
    seconds: float = 0.0
    # NOTE: the first MAX_ERRORS messages: every one goes to `report` as it happens, and a
    # file of bad lines must not grow the loader's memory with its size.
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        rate = self.loaded / self.seconds if self.seconds else 0.0
        return {"loaded": self.loaded, "rejected": self.rejected, "skipped": self.skipped,
                "lines": self.lines,
                "collections_created": self.collections_created,
                "seconds": round(self.seconds, 3), "items_per_second": round(rate, 1)}


def _lines(f: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(f, 1):
        if line.strip():
            yield n, line


class Progress:
    """A one-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr) -> None:
        self.total = max(total_bytes, 1)
        self.stream = stream
        self.on = stream.isatty()
        self.start = time.perf_counter()

    def update(self, done_bytes: int, loaded: int) -> None:
        if not self.on:
            return
        frac = min(done_bytes / self.total, 1.0)
        rate = loaded / max(time.perf_counter() - self.start, 1e-9)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%} {loaded} items {rate:,.0f}/s")
        self.stream.flush()

    def close(self) -> None:
        if self.on:
            self.stream.write("\n")


def load_file(conn: psycopg.Connection, settings: Settings, path: Path, project_id: str,
              collection: str | None = None, batch_size: int = DEFAULT_BATCH,
              report: Callable[[str], None] | None = None,
              connect: Callable[[], psycopg.Connection] | None = None,
              writers: int = 1, skip_existing: bool = False) -> Summary:
    """Load an ndjson file; bad lines are reported (line number, reason) and skipped.

    With `connect` (a factory of connections like `conn`), up to `writers` batches are written
    at once, each on its own connection; without it, one writer uses `conn`.
    """
    # NOTE: the cyclic garbage collector re-scans the validated batches held for the writers
    # again and again as they grow: 40 of 107 µs/item of the loader's CPU. The load makes no
    # reference cycles worth collecting (its objects are freed by reference counting), so the
    # collector is paused for the load and restored after it.
    # NOTE: the writer threads need the GIL for a moment per statement and per COPY chunk;
    # while the main thread validates they waited up to the 5 ms switch interval each time
    # (a 1,000-line first batch took 0.6–1.7 s instead of 0.3 s). A short interval lets them
    # in sooner; the main thread gives the GIL up only when a writer asks for it.
    plan = LoadPlan(conn, settings, project_id, collection)
    writer = BatchWriter(conn, plan, connect=connect, skip_existing=skip_existing)
    collecting, interval = gc.isenabled(), sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        run = LoadRun(plan, writer, path, report or (lambda m: print(m, file=sys.stderr)))
        return run.run(batch_size, max(1, writers) if connect is not None else 1)
    finally:
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()
        writer.close()


class LoadRun:
    """One load's bookkeeping: the batches in flight and the summary.

    NOTE: validating and formatting happen on the caller's thread while writer threads COPY
    (the database's time, GIL released); one transaction per batch. A batch that creates
    collections or widens a partition (check_partition takes the partition's ACCESS EXCLUSIVE
    lock until commit) runs alone: it starts when every earlier batch is done, and later ones
    start after it. Other batches run `writers` at a time, so they may commit out of order.
    Up to `writers + 1` sealed batches wait (memory bound).
    """

    def __init__(self, plan: LoadPlan, writer: BatchWriter, path: Path,
                 report: Callable[[str], None]) -> None:
        self.plan, self.writer, self.path, self.report = plan, writer, path, report
        self.summary = Summary()
        self.request_id = f"load-{uuid.uuid4().hex[:12]}"
        self.pending: deque[tuple[Future[NotWritten], Batch]] = deque()
        self.last_exclusive: Future[NotWritten] | None = None

    def reject(self, lineno: int, why: str) -> None:
        self.summary.rejected += 1
        msg = f"{self.path.name}:{lineno}: {why}"
        if len(self.summary.errors) < MAX_ERRORS:
            self.summary.errors.append(msg)
        self.report(msg)

    def account(self, batch: Batch, late: NotWritten) -> None:
        for lineno, why in late:
            if why is None:
                self.summary.skipped += 1
            else:
                self.reject(lineno, why)
        self.summary.loaded += len(batch.items) - len(late)
        self.summary.collections_created += len(batch.new_collections)

    def collect(self) -> None:
        """Wait for the oldest batch in flight; account for it or stop the load."""
        future, batch = self.pending.popleft()
        try:
            late = future.result()
        except psycopg.Error as e:
            raise self.failure(batch, e) from None
        self.account(batch, late)

    def failure(self, batch: Batch, e: psycopg.Error) -> InvalidRequest:
        """What a failed batch means for the load, with exactly the lines that were stored.

        NOTE: batches already being written beside it finish (committed or not); none
        starts after a failure.
        """
        earlier, alongside = self.summary.loaded, []
        for later, other in self.pending:
            if later.exception() is None:
                self.account(other, later.result())
                alongside.append(other.lines)
        self.pending.clear()
        detail = (e.diag.message_primary if getattr(e, "diag", None) else None) or str(e)
        head = f"lines {batch.lines} could not be written ({detail}); nothing of that batch"
        again = "; load the file again with --skip-existing to add the lines not stored"
        if not alongside:
            return InvalidRequest(f"{head} or later ones was stored; {earlier} items from "
                                  f"earlier batches were{again}")
        return InvalidRequest(
            f"{head} was stored; lines {', '.join(alongside)} (written at the same time) "
            f"and {earlier} items from earlier batches were: {self.summary.loaded} items in "
            f"all{again}")

    def flush(self, pool: ThreadPoolExecutor, batch: Batch, ahead: int) -> None:
        """Hand a full batch to the writers, once fewer than `ahead` are in flight."""
        while self.pending and (len(self.pending) >= ahead or self.pending[0][0].done()):
            self.collect()
        if not batch.items:
            return
        self.plan.seal(batch)
        if batch.exclusive:
            after = [f for f, _ in self.pending]
        else:
            after = [self.last_exclusive] if self.last_exclusive is not None else []
        future = pool.submit(self.writer.write, batch, self.request_id, after)
        if batch.exclusive:
            self.last_exclusive = future
        self.pending.append((future, batch))

    def run(self, batch_size: int, writers: int) -> Summary:
        started = time.perf_counter()
        progress = Progress(self.path.stat().st_size)
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="geopera-load") as pool:
            try:
                self._stream(pool, batch_size, writers + 1, progress)
            except BaseException:
                # NOTE: interrupted (Ctrl-C) or failed: batches already being written
                # finish, queued ones are not started.
                self.writer.failed = True
                raise
        progress.update(progress.total, self.summary.loaded)
        progress.close()
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _stream(self, pool: ThreadPoolExecutor, batch_size: int, ahead: int,
                progress: Progress) -> None:
        summary, plan = self.summary, self.plan
        batch = plan.new_batch()
        # NOTE: nothing is written until the first batch is validated, and it usually runs
        # alone (it creates the collections and partitions): a smaller first batch gets the
        # writers going sooner.
        size = min(batch_size, FIRST_BATCH)
        # NOTE: bytes, line by line: orjson reads them directly (and rejects bad UTF-8 as a
        # bad line), and only the batches in flight are held (memory flat in the file's size).
        # NOTE: near the end of the file the rest is split in two halves, once: the last two
        # batches are then written side by side instead of the last one alone while the
        # other writer idles (only with two writers or more, and a rest worth splitting).
        split = ahead <= 2
        with self.path.open("rb") as f:
            for lineno, text in _lines(f):
                summary.lines += 1
                try:
                    batch.add(prepare(plan, lineno, text, batch))
                except GeoperaError as e:
                    self.reject(lineno, e.detail)
                if len(batch.items) >= size:
                    done = f.tell()
                    self.flush(pool, batch, ahead)
                    batch = plan.new_batch()
                    size = batch_size
                    rest = (progress.total - done) * lineno // done  # lines left, about
                    if not split and SPLIT_MIN <= rest < 1.5 * batch_size:
                        split, size = True, rest // 2
                    progress.update(done, summary.loaded)
            self.flush(pool, batch, ahead)
            while self.pending:
                self.collect()
