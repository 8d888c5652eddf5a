"""Print the generic-plan EXPLAIN of every statement run_search sends for the engine_shapes
shapes, as JSON, for the code at SRC; two runs (before/after) compare plans, not timings.
Usage: SRC=<repo>/src python benchmarks/search/plans_ab.py INFO.json > plans.json"""
import asyncio
import json
import os
import sys
sys.path.insert(0, os.environ.get("SRC", "src"))
import asyncpg
from geopera_stac_ext.search.engine import SearchRequest, run_search, visibility_for
from stac_fastapi.pgstac.db import con_init

class Spy:
    """Records every fetch/fetchval (session SETs in force, SQL, args) run_search sends."""

    def __init__(self, conn): self.conn, self.sent, self.sets = conn, [], []
    def __getattr__(self, name):
        f = getattr(self.conn, name)
        async def call(*a):
            if name == "execute":
                self.sets = [] if a[0].startswith("RESET") else [*self.sets, a[0]]
            if name in ("fetch", "fetchval"):
                self.sent.append((list(self.sets), a[0], a[1:]))
            return await f(*a)
        return call


async def main(cfg):
    e = cfg["env"]
    conn = await asyncpg.connect(host=e["PGHOST"], port=e["PGPORT"], user=e["PGUSER"],
                                 password=e["PGPASSWORD"], database=e["PGDATABASE"])
    await con_init(conn)
    vis = await visibility_for(conn, [cfg["project"]])
    cid = await conn.fetchval("select id::text from geopera.collections order by id limit 1")
    shapes = {"unfiltered": {}, "collection": {"collections": [cid]},
              "cloud<5": {"filter": "eo:cloud_cover < 5"}, "sort cc": {"sortby": "eo:cloud_cover"},
              "offset10k": {"offset": 10000}, "mix bbox": {"bbox": [145, -35, 145.5, -34.5], "limit": 100},
              "type+cloud": {"filter": "type = 'image' AND eo:cloud_cover < 50", "limit": 100},
              "t_before": {"filter": "t_before(datetime, TIMESTAMP('2024-01-01T00:00:00Z'))"}}
    out = {}
    for name, kw in shapes.items():
        req = SearchRequest.parse(limit=kw.pop("limit", 10), **kw)
        spy = Spy(conn)
        result = await run_search(spy, req, vis)
        plans = []
        for sets, sql, args in spy.sent:
            for s in sets:
                await conn.execute(s)
            st = await conn.prepare("EXPLAIN (COSTS OFF) " + sql)
            plans.append([r[0] for r in await st.fetch(*args)])
            await conn.execute("RESET ALL")
        out[name] = {"total": result.total, "ids": [r["id"] for r in result.records], "plans": plans}
    print(json.dumps(out))

with open(sys.argv[1]) as f:
    asyncio.run(main(json.load(f)))
