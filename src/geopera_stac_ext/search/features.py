"""A search page as GeoJSON: op records as plain Features, or full STAC Items with their assets."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.domain.stac_page import ASSET_ROWS_SQL, stac_page
from geopera_stac_ext.storage.asset_tokens import HrefSigner


def record_feature(record: dict[str, Any]) -> dict[str, Any]:
    """The raw item record as a GeoJSON Feature (record fields under `properties`)."""
    props = {k: v for k, v in record.items() if k not in ("id", "geometry", "bbox")}
    return {"type": "Feature", "id": record["id"], "geometry": record["geometry"],
            "bbox": record["bbox"], "properties": props}


async def stac_features(conn: Any, records: list[dict[str, Any]], base_url: str,
                        signer: HrefSigner | None = None) -> list[dict[str, Any]]:
    """The page's STAC Items: their live assets in ONE query, rendered from its rows."""
    if not records:
        return []
    rows = await conn.fetch(ASSET_ROWS_SQL, [r["id"] for r in records])
    return stac_page(records, rows, base_url, signer)


__all__ = ["record_feature", "stac_features"]
