#!/usr/bin/env python3
"""Issue 13 §4 scale curve: every equal_work.py shape at several catalog sizes (8 clients),
p50/p95 per shape and size with the database size and load time, and a 10M line on paper
extrapolated from the measured growth between the two largest points."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_point(info: str, stock_db: str, depth: int, clients: int, seconds: float,
              skip_stock: bool, out: Path) -> list[dict]:
    """equal_work.py on one catalog size; its JSON lines are kept in `out`."""
    cmd = [sys.executable, str(HERE / "equal_work.py"), "--info", info, "--stock-db", stock_db,
           "--depth", str(depth), "-c", str(clients), "-t", str(seconds), "--rounds", "1"]
    if skip_stock:
        cmd.append("--skip-stock")
    with out.open("w") as f:
        subprocess.run(cmd, stdout=f, check=True)
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def extrapolate(small: tuple[int, float], large: tuple[int, float], target: int) -> float:
    """Power-law growth through two measured points (n, ms), carried to `target` items."""
    (n1, v1), (n2, v2) = small, large
    if v1 <= 0 or v2 <= 0 or n1 == n2:
        return v2
    slope = math.log(v2 / v1) / math.log(n2 / n1)
    return v2 * (target / n2) ** max(slope, 0.0)


def table(points: list[dict], target: int) -> str:
    """Markdown: one row per (shape, side), p50 / p95 at every size, and the extrapolation."""
    sizes = [p["items"] for p in points]
    head = ("| shape | side | " + " | ".join(f"{n:,}: p50 / p95 ms (req/s)" for n in sizes)
            + f" | {target:,} p95 (extrapolated) |")
    lines = [head, "|" + "---|" * (len(sizes) + 3)]
    keys: list[tuple[str, str]] = []
    for p in points:
        for r in p["rows"]:
            if (r["shape"], r["side"]) not in keys:
                keys.append((r["shape"], r["side"]))
    for shape, side in keys:
        cells, p95s = [], []
        for p in points:
            r = next((r for r in p["rows"] if (r["shape"], r["side"]) == (shape, side)), None)
            cells.append(f"{r['p50_ms']:,.0f} / {r['p95_ms']:,.0f} ({r['rps']} req/s)"
                         + (f" ({r['errors']} err)" if r and r["errors"] else "")
                         if r else "—")
            if r:
                p95s.append((p["items"], r["p95_ms"]))
        ext = (f"{extrapolate(p95s[-2], p95s[-1], target):,.0f}" if len(p95s) >= 2 else "—")
        lines.append(f"| {shape} | {side} | " + " | ".join(cells) + f" | {ext} |")
    sizes_row = " · ".join(
        f"{p['items']:,}: ours {p['db_bytes'] / 1e6:,.0f} MB loaded in {p['load_seconds']} s"
        for p in points)
    return "\n".join(lines) + f"\n\nDatabase size and load time: {sizes_row}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--point", action="append", required=True,
                    help="INFO.json:STOCK_DB[:DEPTH] (a load.py --out file, the stock database and "
                         "the deep page's position, 10000 unless given)")
    ap.add_argument("-c", "--clients", type=int, default=8)
    ap.add_argument("-t", "--seconds", type=float, default=6)
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument("--target", type=int, default=10_000_000)
    ap.add_argument("--out-dir", default=".")
    a = ap.parse_args()
    points = []
    for spec in a.point:
        info_path, stock_db, *depth = spec.split(":")
        info = json.loads(Path(info_path).read_text())
        out = Path(a.out_dir) / f"scale-{info['db']}.jsonl"
        rows = [r for r in run_point(info_path, stock_db, int(depth[0]) if depth else 10_000,
                                     a.clients, a.seconds, a.skip_stock, out)
                if "round" in r]
        points.append({"items": rows[0]["items"], "db_bytes": info["db_bytes"],
                       "load_seconds": info.get("load_seconds"), "rows": rows})
        print(f"{info['db']}: {len(rows)} lines", file=sys.stderr, flush=True)
    points.sort(key=lambda p: p["items"])
    print(table(points, a.target))


if __name__ == "__main__":
    main()
