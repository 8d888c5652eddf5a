"""CPU cost of assembling a search's SQL (parse → translate → render), no database: run_search
against a connection that records statements and returns no rows. SRC picks the code.
Usage: SRC=<repo>/src python benchmarks/search/assembly_ab.py [runs]"""
import asyncio
import os
import statistics
import sys
import time
sys.path.insert(0, os.environ.get("SRC", "src"))
from geopera_stac_ext.search.engine import SearchRequest, run_search
from geopera_stac_ext.search.engine import Visibility


class NoRows:
    """Stands in for asyncpg: accepts every statement, returns no rows (assembly cost only)."""

    async def execute(self, *a): return None
    async def fetch(self, *a): return []
    async def fetchval(self, *a): return 0


SHAPES = {
    "unfiltered": {}, "collection": {"collections": ["a4cc200d-7b23-4e57-bd55-df38eb749fcb"]},
    "cloud<5": {"filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 5]}},
    "mix bbox": {"bbox": [145, -35, 145.5, -34.5], "limit": 100},
    "cql2 20 clauses": {"filter": {"op": "and", "args": [
        {"op": "t_intersects", "args": [{"property": "datetime"},
                                        {"interval": ["2020-01-01", "2021-01-01"]}]},
        *({"op": "in", "args": [{"property": f"p{n}"}, [1, 2, 3]]} for n in range(9)),
        *({"op": "like", "args": [{"property": f"s{n}"}, "a%"]} for n in range(9)),
        {"op": "=", "args": [{"property": "type"}, "image"]}]}},
}


async def main(runs: int) -> None:
    vis = Visibility(("36378787-e6cc-41f8-822d-f358f5312e03",),
                     tuple(f"c{n}" for n in range(21)))
    conn = NoRows()
    for name, kw in SHAPES.items():
        kw = dict(kw)
        req = SearchRequest.parse(limit=kw.pop("limit", 10), **kw)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(runs):
                await run_search(conn, req, vis)
            times.append((time.perf_counter() - t) / runs * 1e6)
        print(f"{name}: median {statistics.median(times):.1f} µs, min {min(times):.1f} µs")

asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
