"""Collection extents, kept by the database on every write (migration 0070); reads only format them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

# The columns a collection query selects for apply_extent (alias `c` = geopera.collections).
EXTENT_COLUMNS = "c.extent_bbox, c.extent_start, c.extent_end"


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
