#!/usr/bin/env python3
"""Equal-work comparison: this service's STAC API (full Items with assets) and items.search
against stock stac-fastapi-pgstac (full Items with assets) on the same items, every shape of
issue 13, rounds interleaved (stock, then ours, per shape), load average on every line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import REPO, closed_loop, free_port, served  # noqa: E402

BIN = Path(sys.executable).parent


def mix(rnd) -> dict:
    """The selective query mix (bbox 0.5°, bbox 1° + 6 months, bbox 1° + cloud < 10, 6 days +
    cloud < 20), 100-item pages, as the issue's side-by-side run used it."""
    w, s = rnd.uniform(140.0, 152.0), rnd.uniform(-38.5, -29.0)
    y, m = rnd.choice([2024, 2025]), rnd.randint(1, 6)
    kind = rnd.randrange(4)
    q: dict = {"limit": 100}
    if kind == 0:
        q.update(bbox=[w, s, w + 0.5, s + 0.5])
    elif kind == 1:
        q.update(bbox=[w, s, w + 1.0, s + 1.0],
                 datetime=f"{y}-{m:02d}-01T00:00:00Z/{y}-{m + 6:02d}-01T00:00:00Z")
    elif kind == 2:
        q.update(bbox=[w, s, w + 1.0, s + 1.0], query={"eo:cloud_cover": {"lt": 10}})
    else:
        q.update(datetime=f"{y}-{m:02d}-01T00:00:00Z/{y}-{m:02d}-07T00:00:00Z",
                 query={"eo:cloud_cover": {"lt": 20}})
    return q


def deep_token(base: str, headers: dict, depth: int) -> str:
    """The `next` token at position `depth` of an unfiltered /search, by following links."""
    url, params = f"{base}/search", {"limit": 1000}
    seen = 0
    with httpx.Client(headers=headers, timeout=300) as c:
        while True:
            r = c.get(url, params=params)
            if r.status_code != 200:
                raise SystemExit(f"deep page set-up: {r.status_code} {r.text[:300]}")
            fc = r.json()
            seen += len(fc["features"])
            link = next(x for x in fc["links"] if x["rel"] == "next")
            url, params = link["href"], None
            if seen >= depth:
                return dict(httpx.URL(url).params)["token"]


def shapes(ours: str, stock: str, info: dict, depth: int, only: str | None = None,
           skip_stock: bool = False) -> list[tuple[str, str, object]]:
    """(shape, side, send) in run order: stock first, then this service's variants."""
    key = {"authorization": f"Bearer {info['api_key']}"}
    col_ours, col_stock = info["collection"], info["collection_name"]
    # NOTE: following links to the deep page takes a while; only when that line runs.
    deep = only is None or only in f"page at {depth}"
    t_ours = deep_token(ours, key, depth) if deep else ""
    t_stock = deep_token(stock, {}, depth) if deep and not skip_stock else ""
    cloud = {"limit": 10, "filter": "eo:cloud_cover<5", "filter-lang": "cql2-text"}
    get = lambda base, path, params=None, h=None: (  # noqa: E731
        lambda cl, rnd: cl.get(base + path, params=params, headers=h))
    op = lambda body: (lambda cl, rnd: cl.post(  # noqa: E731
        f"{ours}/v1/op/items.search", headers=key,
        json={"project_id": info["project_id"], **body(rnd)}))
    return [
        ("unfiltered /search limit 10", "stock", get(stock, "/search", {"limit": 10})),
        ("unfiltered /search limit 10", "ours STAC", get(ours, "/search", {"limit": 10}, key)),
        ("collection first page", "stock", get(stock, f"/collections/{col_stock}/items",
                                                {"limit": 10})),
        ("collection first page", "ours STAC", get(ours, f"/collections/{col_ours}/items",
                                                    {"limit": 10}, key)),
        ("filter eo:cloud_cover<5 limit 10", "stock", get(stock, "/search", cloud)),
        ("filter eo:cloud_cover<5 limit 10", "ours STAC", get(ours, "/search", cloud, key)),
        (f"page at {depth}", "stock token", get(stock, "/search",
                                                 {"limit": 10, "token": t_stock})),
        (f"page at {depth}", "ours STAC token", get(ours, "/search",
                                                     {"limit": 10, "token": t_ours}, key)),
        (f"page at {depth}", "ours op offset", op(lambda r: {"limit": 10, "offset": depth})),
        ("sortby eo:cloud_cover limit 10", "stock", get(stock, "/search", {
            "limit": 10, "sortby": "eo:cloud_cover"})),
        ("sortby eo:cloud_cover limit 10", "ours STAC", get(ours, "/search", {
            "limit": 10, "sortby": "eo:cloud_cover"}, key)),
        ("selective mix (100/page)", "stock", lambda cl, rnd: cl.post(f"{stock}/search",
                                                                      json=mix(rnd))),
        ("selective mix (100/page)", "ours STAC", lambda cl, rnd: cl.post(
            f"{ours}/search", json=mix(rnd), headers=key)),
        ("selective mix (100/page)", "ours op format=stac",
         op(lambda r: {**mix(r), "format": "stac"})),
        ("selective mix (100/page)", "ours op records (no assets)", op(mix)),
    ]


def describe(send, shape: str, side: str) -> dict:
    """What one response of this line carries (the same request each side sends first)."""
    async def once() -> httpx.Response:
        async with httpx.AsyncClient(timeout=120) as cl:
            return await send(cl, random.Random(0))
    r = asyncio.run(once())
    body = r.json() if r.status_code == 200 else {}
    feats = body.get("features") or []
    return {"describe": shape, "side": side, "status": r.status_code, "bytes": len(r.content),
            "features": len(feats), "numberMatched": body.get("numberMatched"),
            "assets_per_feature": len((feats[0].get("assets") or {})) if feats else None,
            "ids": [f.get("id") for f in feats[:3]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--info", required=True,
                    help="JSON: env (PG*), api_key, project_id of this service's database")
    ap.add_argument("--stock-db", required=True, help="database loaded with plain pypgstac")
    ap.add_argument("-c", "--clients", type=int, default=8)
    ap.add_argument("-t", "--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--depth", type=int, default=10_000)
    ap.add_argument("--only", help="run only shapes whose name contains this")
    ap.add_argument("--ours-workers", type=int, default=1,
                    help="uvicorn worker processes for this service (stock keeps one)")
    ap.add_argument("--skip-stock", action="store_true",
                    help="time this service's lines only (e.g. 1 vs 2 workers)")
    a = ap.parse_args()
    info = json.loads(Path(a.info).read_text())
    # NOTE: the per-user search cap (3) would answer 8 clients of one key with 429s; stock has
    # no such cap, so it is lifted for the comparison (the cap's own cost is one advisory lock).
    env = {**os.environ, **info["env"], "GEOPERA_HOME": str(Path(a.info).parent / "svc"),
           "GEOPERA_SEARCH_CONCURRENCY_PER_USER": "64",
           "GEOPERA_SIGNING_SECRET": "equal-work-benchmark-secret-0123456789"}
    po, ps = free_port(), free_port()
    ours, stock = f"http://127.0.0.1:{po}", f"http://127.0.0.1:{ps}"
    stock_env = {**env, "PGDATABASE": a.stock_db}
    import psycopg

    from geopera_stac_ext.core.settings import dsn_from_env
    with psycopg.connect(dsn_from_env(info["env"])) as c:
        info["collection"], info["collection_name"] = map(str, c.execute(
            "SELECT id, name FROM geopera.collections ORDER BY name LIMIT 1").fetchone())
        items = c.execute("SELECT count(*) FROM geopera.items").fetchone()[0]
    # NOTE: one uvicorn worker per side, the same way (app factories).
    with served([str(BIN / "uvicorn"), "geopera_stac_ext.app:create_app_from_env", "--factory",
                 "--host", "127.0.0.1", "--port", str(po), "--log-level", "warning",
                 "--workers", str(a.ours_workers)],
                env, ours + "/v1/op"), \
         served([str(BIN / "uvicorn"), "stac_fastapi.pgstac.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(ps), "--log-level", "warning"],
                stock_env, stock + "/_mgmt/ping"):
        runs = [(shape, side, send) for shape, side, send in shapes(ours, stock, info, a.depth, a.only,
                                                               a.skip_stock)
                if (not a.only or a.only in shape)
                and not (a.skip_stock and side.startswith("stock"))]
        for shape, side, send in runs:
            print(json.dumps(describe(send, shape, side)), flush=True)
        for rnd in range(a.rounds):
            for shape, side, send in runs:
                asyncio.run(closed_loop(send, a.clients, 1.5))  # warm-up
                load = os.getloadavg()[0]
                r = asyncio.run(closed_loop(send, a.clients, a.seconds))
                print(json.dumps({"round": rnd, "shape": shape, "side": side, "items": items,
                                  "clients": a.clients, "ours_workers": a.ours_workers, **r,
                                  "load1": round(load, 2)}),
                      flush=True)


if __name__ == "__main__":
    assert REPO
    main()
