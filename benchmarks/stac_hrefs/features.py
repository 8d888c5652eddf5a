#!/usr/bin/env python3
"""Equal work, in process: one /search page of 100 full STAC items (3 assets each) built and
encoded by the `--before` revision's stac_feature (storage hrefs) and by this tree's (absolute
hrefs, `geopera:href`, `auth:refs`, stac_extensions; with and without thumbnail access tokens),
interleaved. Tokens are minted fresh for each page (the cache is cleared), the worst case."""

import argparse
import json
import os
import subprocess
import sys
import time
import types
import uuid
from datetime import datetime, timezone
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import REPO  # noqa: E402

import geopera_stac_ext.domain.stac_feature as current  # noqa: E402
from geopera_stac_ext.storage.asset_tokens import (  # noqa: E402
    HrefSigner,
    make_token,
    token_expiry,
)

BASE = "https://stac.example.com"


def before_module(rev: str) -> types.ModuleType:
    """The revision's stac_feature.py, run against this tree's MAPPED_PROPERTIES."""
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:src/geopera_stac_ext/"
                          "stac_feature.py"], check=True, capture_output=True, text=True).stdout
    src = "\n".join(ln for ln in src.splitlines()
                    if not ln.startswith("from geopera_stac_ext.records import"))
    mod = types.ModuleType("stac_feature_before")
    mod.__dict__["MAPPED_PROPERTIES"] = current.MAPPED_PROPERTIES
    exec(compile(src, f"{rev}:stac_feature.py", "exec"), mod.__dict__)  # noqa: S102
    return mod


def page(n: int = 100) -> list[tuple[dict, list[dict]]]:
    """Records shaped like the engine's (benchmarks/tools/gen_items.py's items)."""
    now = datetime(2026, 5, 18, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        iid, cid = str(uuid.uuid4()), str(uuid.uuid4())
        lon, lat = 140 + i * 0.1, -35.0
        record = {
            "id": iid, "collection_id": cid, "project_id": str(uuid.uuid4()),
            "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + .1, lat],
                                                             [lon + .1, lat + .1],
                                                             [lon, lat + .1], [lon, lat]]]},
            "bbox": [lon, lat, lon + .1, lat + .1], "name": f"Scene {i}",
            "datetime": now.isoformat(), "cloud_cover": 12.5, "gsd": 0.5, "type": "image",
            "lifecycle_state": "active", "created_at": now.isoformat(),
            "updated_at": now.isoformat(), "expires_at": None, "description": None,
            "properties": {"platform": "bench-sat", "proj:epsg": 32755},
        }
        assets = [{"id": str(uuid.uuid4()), "key": k, "href": f"s3://bucket/{cid}/{iid}.{ext}",
                   "media_type": media, "roles": [k], "title": None,
                   "file_size_bytes": 123456789 if k == "data" else None}
                  for k, ext, media in (("data", "tif", "image/tiff; application=geotiff"),
                                        ("thumbnail", "png", "image/png"),
                                        ("metadata", "xml", "application/xml"))]
        out.append((record, assets))
    return out


def one(build, records) -> tuple[float, int]:
    t = time.perf_counter()
    body = orjson.dumps({"type": "FeatureCollection",
                         "features": [build(r, a) for r, a in records]})
    return time.perf_counter() - t, len(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", default="5aa7f3a")
    ap.add_argument("--pages", type=int, default=200, help="pages per round and code")
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    old = before_module(a.before)
    signer = HrefSigner(b"x" * 48, str(uuid.uuid4()), token_expiry(time.time()))
    codes = {"before": lambda r, s: old.stac_feature(r, s, BASE),
             "after_no_tokens": lambda r, s: current.stac_feature(r, s, BASE),
             "after": lambda r, s: current.stac_feature(r, s, BASE, signer=signer)}
    records = page()
    for rnd in range(a.rounds):
        order = list(codes) if rnd % 2 == 0 else list(codes)[::-1]
        for label in order:
            total, best, size = 0.0, 1e9, 0
            for _ in range(a.pages):
                make_token.cache_clear()
                secs, size = one(codes[label], records)
                total, best = total + secs, min(best, secs)
            print(json.dumps({"code": label, "round": rnd, "ms_per_page":
                              round(total / a.pages * 1000, 2),
                              "best_ms": round(best * 1000, 2), "bytes_per_page": size,
                              "load": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    main()
