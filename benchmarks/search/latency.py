#!/usr/bin/env python3
"""Sequential latency of the shared query mix against one op (items.search or items.search_org): p50/p95 and numberMatched."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import httpx

SHARED = Path(__file__).resolve().parents[1] / "tools" / "search_load.py"


def load_mix():
    # NOTE: reuse the shared load script's query mix (imported, not copied) so numbers compare.
    src = SHARED.read_text().split("async def main")[0]
    ns: dict = {}
    exec(compile(src, str(SHARED), "exec"), ns)  # noqa: S102 - our own shared bench file
    return ns["mix"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--op", default="items.search", choices=["items.search", "items.search_org"])
    ap.add_argument("--project")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    mix, rnd = load_mix(), random.Random(a.seed)
    lat, matched = [], []
    with httpx.Client(timeout=60, headers={"authorization": f"Bearer {a.key}"}) as cl:
        for k in range(a.warmup + a.n):
            q = mix(rnd)
            if a.op == "items.search":
                q["project_id"] = a.project
            t = time.perf_counter()
            r = cl.post(f"{a.url.rstrip('/')}/v1/op/{a.op}", json=q)
            dt = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            if k >= a.warmup:
                lat.append(dt)
                matched.append(r.json()["numberMatched"])
    lat.sort()
    print(json.dumps({"op": a.op, "requests": a.n, "p50_ms": round(statistics.median(lat), 1),
                      "p95_ms": round(lat[int(len(lat) * 0.95)], 1),
                      "mean_numberMatched": round(statistics.mean(matched), 1)}))


if __name__ == "__main__":
    main()
