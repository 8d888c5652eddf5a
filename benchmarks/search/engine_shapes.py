"""Time run_search per issue-13 shape in-process against a loaded database.

One connection, 4 runs per shape, the last one shown with each statement's time; `-x` (or a
single shape) also prints the generic plans. SRC=<repo>/src picks the code to time (this branch
or main). Usage: SRC=src python benchmarks/search/engine_shapes.py INFO.json [shape ...] [-x]
(INFO: a load.py --out file: env, project_id).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ.get("SRC", str(Path(__file__).resolve().parents[2] / "src")))
import asyncpg  # noqa: E402
from stac_fastapi.pgstac.db import con_init  # noqa: E402

from geopera_stac_ext.search.engine import SearchRequest, run_search, visibility_for  # noqa: E402

PLAN_SETTINGS = ("SET plan_cache_mode = force_generic_plan; "
                 "SET max_parallel_workers_per_gather = 0; "
                 "SET enable_hashjoin = off; SET enable_mergejoin = off")


class Spy:
    """A connection that records each statement's name, time and arguments."""

    def __init__(self, conn: Any) -> None:
        # NOTE: _con: the engine's timer-off prepare reads the raw connection's statement cache.
        self.conn, self.log, self._con = conn, [], conn

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.conn, name)
        if name not in ("execute", "fetch", "fetchval", "fetchrow"):
            return fn

        async def timed(*args: Any) -> Any:
            t = time.perf_counter()
            result = await fn(*args)
            self.log.append((name, (time.perf_counter() - t) * 1000, args))
            return result
        return timed


async def main(info: dict, only: list[str]) -> None:
    e = info["env"]
    conn = await asyncpg.connect(host=e["PGHOST"], port=e["PGPORT"], user=e["PGUSER"],
                                 password=e["PGPASSWORD"], database=e["PGDATABASE"])
    await con_init(conn)
    vis = await visibility_for(conn, [info.get("project_id") or info["project"]])
    cid = await conn.fetchval("SELECT id::text FROM geopera.collections LIMIT 1")
    shapes = {"unfiltered": {}, "collection": {"collections": [cid]},
              "cloud<5": {"filter": "eo:cloud_cover < 5"},
              "sort cc": {"sortby": "eo:cloud_cover"}, "sort -cc": {"sortby": "-eo:cloud_cover"},
              "sort cc o1k": {"sortby": "eo:cloud_cover", "offset": 1000},
              "offset10k": {"offset": 10000},
              "sort -created": {"sortby": "-created"}, "sort updated": {"sortby": "updated"},
              "sort gsd": {"sortby": "gsd"}, "sort -title": {"sortby": "-title"},
              "sort collection": {"sortby": "collection"},
              "sort end_datetime": {"sortby": "end_datetime"},
              "sort -end_datetime, past window": {
                  "sortby": "-end_datetime",
                  "datetime": "2024-03-01T00:00:00Z/2024-03-07T00:00:00Z"},
              "mix bbox": {"bbox": [145, -35, 145.5, -34.5], "limit": 100},
              "mix bbox+6mo": {"bbox": [145, -35, 146, -34], "limit": 100,
                               "datetime": "2024-02-01T00:00:00Z/2024-08-01T00:00:00Z"},
              "mix bbox+cc<10": {"bbox": [145, -35, 146, -34], "limit": 100,
                                 "filter": "eo:cloud_cover < 10"},
              "mix 6d+cc<20": {"datetime": "2024-03-01T00:00:00Z/2024-03-07T00:00:00Z",
                               "limit": 100, "filter": "eo:cloud_cover < 20"}}
    for name, kw in shapes.items():
        if only and [o for o in only if o != "-x"] and name not in only:
            continue
        req = SearchRequest.parse(limit=kw.pop("limit", 10), **kw)
        spy = Spy(conn)
        for _run in range(4):
            spy.log.clear()
            t = time.perf_counter()
            result = await run_search(spy, req, vis)
            ms = (time.perf_counter() - t) * 1000
        print(name, result.total, f"{ms:.1f} ms", [(n, round(d, 1)) for n, d, _ in spy.log])
        if "-x" in only or len(only) == 1:
            for n, _d, args in spy.log:
                if n in ("fetch", "fetchval"):
                    await conn.execute(PLAN_SETTINGS)
                    plan = await (await conn.prepare("EXPLAIN (ANALYZE, COSTS OFF) " + args[0])
                                  ).fetch(*args[1:])
                    print("\n".join(x[0] for x in plan)[:4000])


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2:]))
