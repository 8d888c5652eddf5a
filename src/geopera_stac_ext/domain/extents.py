"""Collection extents, kept by the database on every write (migration 0070); reads only format them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

# What a collection query (alias `c` = geopera.collections) adds for apply_extent.
EXTENT_COLUMNS = "e.extent_bbox, e.extent_start, e.extent_end"
EXTENT_JOIN = "LEFT JOIN geopera.collection_extents e ON e.collection_id = c.id"


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def live_extent(row: Any) -> dict[str, Any] | None:
    """The STAC `extent` of a collection's live items, None while it has none."""
    bbox = row["extent_bbox"]
    if bbox is None or row["extent_start"] is None:
        return None
    return {"spatial": {"bbox": [list(bbox)]},
            "temporal": {"interval": [[_iso(row["extent_start"]), _iso(row["extent_end"])]]}}


def apply_extent(doc: dict[str, Any], row: Any) -> None:
    """The live extent replaces the one given at creation; without live items the collection
    keeps its declared extent."""
    extent = live_extent(row)
    if extent:
        doc["extent"] = extent
