#!/usr/bin/env python3
"""Where a `geopera-stac load` spends its CPU: main thread, writer threads, server backends.

Runs the loader in-process (the CLI's load_file, `--writers` connections) on a freshly
migrated database of a private embedded cluster, then prints the wall time and the CPU of the
main thread (parse, validate, format), of the whole process (writer threads included) and of
the load's server backends (read from /proc while they live). `--cprofile N` prints the N
heaviest functions of the main thread; `--statements` the server time per statement kind
(from the server log, log_min_duration_statement=0 for the load's sessions).
"""

import argparse
import cProfile
import gc
import json
import os
import pstats
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks" / "load"))
sys.path.insert(0, str(REPO / "src"))
from bench_load import bench_project, fresh_db, gen  # noqa: E402
from geopera_stac_ext.core.settings import Settings, dsn_from_env  # noqa: E402
from geopera_stac_ext.db.embedded import EmbeddedCluster  # noqa: E402
from geopera_stac_ext.ingest.run import load_file  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


class Backends(threading.Thread):
    """Polls the CPU of the database's backends (their last reading counts)."""

    def __init__(self, dsn: str, db: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.db, self.cpu, self.stop = dsn, db, {}, threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            me = conn.info.backend_pid
            while not self.stop.is_set():
                for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s"
                                           " AND pid <> %s", (self.db, me)).fetchall():
                    c = proc_cpu(pid)
                    if c is not None:
                        self.cpu[pid] = c
                time.sleep(0.05)

    def total(self) -> float:
        self.stop.set()
        self.join()
        return sum(self.cpu.values())


def statements(log: Path, start: int, raw: int = 0) -> None:
    """Server time per statement kind from the log lines written since `start` (and the
    first `raw` lines as they are)."""
    pat = re.compile(r"duration: ([\d.]+) ms\s+(?:statement|execute [^:]*): (.*)")
    kinds: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    with log.open() as f:
        f.seek(start)
        for line in f:
            m = pat.search(line)
            if m and raw > 0:
                raw -= 1
                print(line[:160].rstrip())
            if m:
                k = re.sub(r"\s+", " ", m.group(2))[:70]
                k = re.sub(r"'[^']*'", "'…'", k)
                kinds[k][0] += 1
                kinds[k][1] += float(m.group(1))
    for k, (n, ms) in sorted(kinds.items(), key=lambda x: -x[1][1])[:25]:
        print(f"{ms:9.1f} ms {n:6d}×  {k}")


def timeline(zero: list[float]) -> None:
    """Print when each batch is sealed and written (and whether it ran alone)."""
    from geopera_stac_ext.ingest import plan, write
    seal, write_one = plan.LoadPlan.seal, write.BatchWriter.write

    def sealed(self, batch):
        seal(self, batch)
        print(f"{time.perf_counter() - zero[0]:7.3f} sealed {batch.lines} "
              f"{'exclusive' if batch.exclusive else ''}", flush=True)

    def written(self, batch, request_id, after):
        for f in after:
            f.exception()
        t = time.perf_counter() - zero[0]
        out = write_one(self, batch, request_id, [])
        print(f"{t:7.3f}–{time.perf_counter() - zero[0]:7.3f} wrote {batch.lines} "
              f"{threading.current_thread().name}", flush=True)
        return out
    plan.LoadPlan.seal, write.BatchWriter.write = sealed, written


def prepare_only(connect, settings, items: Path, project: str, size: int, top: int) -> None:
    """CPU of the main thread's part alone: validate, format and seal every line, 3 times."""
    from geopera_stac_ext.ingest.plan import LoadPlan
    from geopera_stac_ext.ingest.prepare import prepare
    with connect() as conn:
        plan = LoadPlan(conn, settings, project, None)
    lines = items.read_bytes().splitlines()
    gc.disable()  # as load_file does
    for _ in range(3):
        prof = cProfile.Profile() if top else None
        c0 = time.thread_time()
        if prof:
            prof.enable()
        batch = plan.new_batch()
        for n, text in enumerate(lines, 1):
            batch.add(prepare(plan, n, text, batch))
            if len(batch.items) >= size:
                plan.seal(batch)
                batch = plan.new_batch()
        plan.seal(batch)
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(top)
        print(json.dumps({"prepare_us": round((time.thread_time() - c0) / len(lines) * 1e6, 1),
                          "load_avg": os.getloadavg()[0]}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--collections", type=int, default=10)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--cprofile", type=int, default=0)
    ap.add_argument("--statements", action="store_true")
    ap.add_argument("--raw", type=int, default=0, help="with --statements: the first N lines")
    ap.add_argument("--file", help="an existing items file (else generated)")
    ap.add_argument("--timeline", action="store_true", help="per batch: sealed, written when")
    ap.add_argument("--prepare-only", action="store_true",
                    help="only the main thread's work (validate, format, seal), no writes")
    ap.add_argument("--switch", type=float, help="the load's thread switch interval (run.SWITCH_INTERVAL)")
    a = ap.parse_args()
    if a.switch:
        from geopera_stac_ext.ingest import run
        run.SWITCH_INTERVAL = a.switch
    work = Path(tempfile.mkdtemp(prefix="geopera-loadprof-", dir="/tmp"))
    os.chmod(work, 0o755)
    cluster = EmbeddedCluster(work / "home", durable=False).start()
    try:
        items = Path(a.file) if a.file else gen(work, a.items, a.collections)[0]
        genv = fresh_db(cluster, "geopera")
        project = bench_project(genv)
        dsn = dsn_from_env(genv)
        opts = "-c search_path=pgstac,public"
        if a.statements:
            opts += " -c log_min_duration_statement=0"
        log = cluster.datadir / "server.log"
        start = log.stat().st_size

        def connect() -> psycopg.Connection:
            return psycopg.connect(dsn, options=opts)

        os.environ["GEOPERA_HOME"] = str(work / "home")
        settings = Settings()
        if a.timeline:
            timeline(t_zero := [0.0])
        if a.prepare_only:
            prepare_only(connect, settings, items, project, a.batch_size, a.cprofile)
            return
        mon = Backends(cluster.dsn, "geopera")
        mon.start()
        prof = cProfile.Profile() if a.cprofile else None
        t0, c0, r0 = time.perf_counter(), time.thread_time(), os.times()
        if a.timeline:
            t_zero[0] = t0
        with connect() as conn:
            if prof:
                prof.enable()
            s = load_file(conn, settings, items, project, None, a.batch_size,
                          connect=connect, writers=a.writers)
            if prof:
                prof.disable()
        wall, main_cpu, r1 = time.perf_counter() - t0, time.thread_time() - c0, os.times()
        server = mon.total()
        proc = (r1.user - r0.user) + (r1.system - r0.system)
        n = s.loaded
        print(json.dumps({"loaded": n, "wall_s": round(wall, 2), "items_per_s": round(n / wall),
                          "main_us": round(main_cpu / n * 1e6, 1),
                          "process_us": round(proc / n * 1e6, 1),
                          "server_us": round(server / n * 1e6, 1),
                          "load_avg": os.getloadavg()[0]}))
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(a.cprofile)
        if a.statements:
            time.sleep(0.5)
            statements(log, start, a.raw)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
