"""The demo's real imagery: small RGB COGs + PNG thumbnails shipped in demo_data/ (see
scripts/make_demo_imagery.py), copied into storage and described as item assets."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PNG_MEDIA_TYPE = "image/png"
SIZE = 512  # pixels per side of every demo COG (scripts/make_demo_imagery.py)
THUMBNAIL_SIZE = 128


def demo_properties(lon: float, lat: float, footprint_deg: float) -> dict[str, Any]:
    """Projection fields of a scene covering [lon, lon+d] x [lat, lat+d] in EPSG:4326: GDAL's
    STACIT driver (and odc-stac) need them to place the COG without opening it first."""
    px = footprint_deg / SIZE
    return {"proj:epsg": 4326, "proj:shape": [SIZE, SIZE],
            "proj:transform": [px, 0.0, lon, 0.0, -px, lat + footprint_deg]}


def demo_assets(storage: Path, href_prefix: str, index: int) -> list[dict[str, Any]]:
    """Copy scene `index`'s COG and thumbnail into `storage` (once) and return the items.create
    assets for them; hrefs are `href_prefix/<file>`, as the storage layout resolves them."""
    storage.mkdir(parents=True, exist_ok=True)
    assets = []
    for key, suffix, media_type, roles, title in (
            ("data", "tif", COG_MEDIA_TYPE, ["data"], "RGB image (COG)"),
            ("thumbnail", "png", PNG_MEDIA_TYPE, ["thumbnail"], "Thumbnail")):
        name = f"scene-{index}.{suffix}"
        target = storage / name
        source = DATA_DIR / name
        # NOTE: replaces an older demo's placeholder but never rewrites an identical file.
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)
        assets.append({"key": key, "href": f"{href_prefix}/{name}", "media_type": media_type,
                       "file_size_bytes": target.stat().st_size, "roles": roles, "title": title})
    return assets
