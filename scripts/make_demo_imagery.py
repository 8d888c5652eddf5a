"""Regenerates the demo's imagery: 512x512 RGB COGs + 128 px PNG thumbnails (needs gdal-bin).

Usage: python3 scripts/make_demo_imagery.py [OUT_DIR]   (default src/geopera_stac_ext/demo/data)

Each scene is synthetic farmland (fields, tracks, a lake, a ridge) drawn in pure Python, written
as a binary PPM and turned into a georeferenced COG over its demo item's footprint with:

    gdal_translate -of COG -a_srs EPSG:4326 -a_ullr W N E S \
        -co COMPRESS=JPEG -co QUALITY=70 -co BLOCKSIZE=256 -co OVERVIEWS=AUTO scene.ppm scene-N.tif
    gdal_translate -of PNG -outsize 128 128 scene-N.tif scene-N.png

so the file has 256 px tiles and one internal overview, like a real COG, and stays ~50 KB.
The output is deterministic (seeded), so re-running it gives the same pixels.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from geopera_stac_ext.demo.seed import DEMO_ITEMS, FOOTPRINT_DEG  # noqa: E402
from geopera_stac_ext.demo.imagery import SIZE, THUMBNAIL_SIZE  # noqa: E402

FIELD_COLOURS = [(96, 128, 56), (140, 150, 70), (180, 160, 100), (120, 100, 70), (70, 110, 50),
                 (200, 180, 120), (150, 120, 80), (90, 140, 90)]


def _noise(rng: random.Random, cells: int) -> list[list[float]]:
    return [[rng.random() for _ in range(cells + 1)] for _ in range(cells + 1)]


def _sample(grid: list[list[float]], cells: int, x: float, y: float) -> float:
    """Bilinear value noise at (x, y) in [0, 1)."""
    gx, gy = x * cells, y * cells
    x0, y0 = int(gx), int(gy)
    fx, fy = gx - x0, gy - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    top = grid[y0][x0] * (1 - fx) + grid[y0][x0 + 1] * fx
    bottom = grid[y0 + 1][x0] * (1 - fx) + grid[y0 + 1][x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def draw_scene(index: int) -> bytes:
    """RGB bytes of one SIZE x SIZE scene: a rotated field grid with texture, tracks and water."""
    rng = random.Random(1000 + index)
    coarse, fine = _noise(rng, 6), _noise(rng, 40)
    angle = rng.uniform(-0.4, 0.4)
    ca, sa = math.cos(angle), math.sin(angle)
    field_w, field_h = rng.randint(60, 110), rng.randint(40, 90)
    colours = {}
    lake = (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.18))
    out = bytearray()
    for row in range(SIZE):
        for col in range(SIZE):
            x, y = col / SIZE, row / SIZE
            u, v = col * ca - row * sa + SIZE, col * sa + row * ca + SIZE
            fu, fv = int(u // field_w), int(v // field_h)
            key = (fu, fv)
            if key not in colours:
                colours[key] = FIELD_COLOURS[rng.randrange(len(FIELD_COLOURS))]
            r, g, b = colours[key]
            shade = 0.75 + 0.35 * _sample(coarse, 6, x, y) + 0.15 * (_sample(fine, 40, x, y) - 0.5)
            if u % field_w < 2.5 or v % field_h < 2.5:  # tracks between fields
                r, g, b, shade = 210, 200, 180, 1.0
            d = math.hypot(x - lake[0], y - lake[1]) + 0.05 * (_sample(coarse, 6, x, y) - 0.5)
            if index == 2 and d < lake[2] * 1.8 or index != 2 and d < lake[2] * 0.5:
                r, g, b, shade = 40, 70, 110, 0.9 + 0.2 * _sample(fine, 40, x, y)
            out += bytes(max(0, min(255, int(c * shade))) for c in (r, g, b))
    return bytes(out)


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (_name, lon, lat, *_rest) in enumerate(DEMO_ITEMS):
            ppm = Path(tmp) / f"scene-{i}.ppm"
            ppm.write_bytes(f"P6 {SIZE} {SIZE} 255\n".encode() + draw_scene(i))
            tif, png = out_dir / f"scene-{i}.tif", out_dir / f"scene-{i}.png"
            tif.unlink(missing_ok=True)
            subprocess.run(
                ["gdal_translate", "-q", "-of", "COG", "-a_srs", "EPSG:4326", "-a_ullr",
                 str(lon), str(lat + FOOTPRINT_DEG), str(lon + FOOTPRINT_DEG), str(lat),
                 "-co", "COMPRESS=JPEG", "-co", "QUALITY=70", "-co", "BLOCKSIZE=256",
                 "-co", "OVERVIEWS=AUTO", str(ppm), str(tif)], check=True)
            subprocess.run(["gdal_translate", "-q", "-of", "PNG", "-outsize", str(THUMBNAIL_SIZE),
                            str(THUMBNAIL_SIZE), str(tif), str(png)], check=True)
            png.with_name(png.name + ".aux.xml").unlink(missing_ok=True)
            print(f"{tif} {tif.stat().st_size} B, {png} {png.stat().st_size} B")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "src/geopera_stac_ext/demo/data")
