"""Time run_search per issue-13 shape in-process (one connection, 4 runs, last shown) against a
loaded database; SRC=<repo>/src picks the code to time (this branch or main). Usage:
SRC=src python benchmarks/search/engine_shapes.py INFO.json [shape] (INFO: env, project)."""
import asyncio, json, sys, time
import os; sys.path.insert(0, os.environ.get("SRC", "/work/wt/i13/src"))
import asyncpg, orjson
from geopera_stac_ext.search.engine import SearchRequest, run_search, visibility_for
from stac_fastapi.pgstac.db import con_init
cfg = json.load(open(sys.argv.pop(1)))
class Spy:
    def __init__(s, c): s.c = c; s.log = []
    def __getattr__(s, n):
        f = getattr(s.c, n)
        async def w(*a):
            t = time.perf_counter(); r = await f(*a); s.log.append((n, (time.perf_counter()-t)*1000, a[0][:0], a)); return r
        return w
async def main():
    e = cfg["env"]
    conn = await asyncpg.connect(host=e["PGHOST"], port=e["PGPORT"], user=e["PGUSER"], password=e["PGPASSWORD"], database=e["PGDATABASE"])
    await con_init(conn)
    vis = await visibility_for(conn, [cfg["project"]])
    cid = await conn.fetchval("select id::text from geopera.collections limit 1")
    shapes = {"unfiltered": {}, "collection": {"collections": [cid]},
              "cloud<5": {"filter": "eo:cloud_cover < 5"}, "sort cc": {"sortby": "eo:cloud_cover"},
              "offset10k": {"offset": 10000}, "mix bbox": {"bbox": [145, -35, 145.5, -34.5], "limit": 100}}
    only = sys.argv[1:] 
    for name, kw in shapes.items():
        if only and name not in only: continue
        req = SearchRequest.parse(limit=kw.pop("limit", 10), **kw)
        spy = Spy(conn)
        for i in range(4):
            spy.log.clear()
            t = time.perf_counter(); r = await run_search(spy, req, vis); dt = (time.perf_counter()-t)*1000
        print(name, r.total, f"{dt:.1f} ms", [(n, round(ms, 1)) for n, ms, _, _ in spy.log])
        if "-x" in only or len(only) == 1:
            for n, ms, _, a in spy.log:
                if n == "fetch" or n == "fetchval":
                    await conn.execute("SET plan_cache_mode = force_generic_plan; SET max_parallel_workers_per_gather = 0; SET enable_hashjoin = off; SET enable_mergejoin = off")
                    st = await conn.prepare("EXPLAIN (ANALYZE, COSTS OFF) " + a[0])
                    plan = await st.fetch(*a[1:])
                    print("\n".join(x[0] for x in plan if "_items_" not in x[0] or "Scan" in x[0][:60])[:4000])
asyncio.run(main())
