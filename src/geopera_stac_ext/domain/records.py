"""Item and collection records: how platform rows and pgstac STAC content map to each other."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson

# Item record field ↔ STAC property. Everything else in `properties` passes through.
MAPPED_PROPERTIES = {
    "name": "title",
    "description": "description",
    "cloud_cover": "eo:cloud_cover",
    "gsd": "gsd",
    "datetime": "datetime",
}
STAC_TO_RECORD = {v: k for k, v in MAPPED_PROPERTIES.items()}

# One SELECT list for reading item records: platform row `i` joined to pgstac row `p`.
ITEM_COLUMNS = """
    i.id, i.project_id, i.collection_id, i.type, i.lifecycle_state, i.created_at,
    i.updated_at, i.expires_at, p.content->'properties' AS properties, p.content->'bbox' AS bbox,
    ST_AsGeoJSON(p.geometry, 9)::jsonb AS geometry
"""
ITEM_JOIN = """
    geopera.items i
    JOIN pgstac.items p ON p.id = i.id::text AND p.collection = i.pgstac_collection
"""

COLLECTION_COLUMNS = """
    c.id, c.project_id, c.name, c.description, c.color, c.show_on_map, c.layer_order,
    c.created_at, c.updated_at,
    (SELECT count(*) FROM geopera.items x
      WHERE x.collection_id = c.id AND x.deleted_at IS NULL) AS item_count
"""


def _iso(v: datetime | None) -> str | None:
    """isoformat() with `Z` for UTC.

    NOTE: orjson writes a datetime exactly as isoformat() does (no fraction when the
    microseconds are 0; OPT_UTC_Z spells +00:00 as Z) in a third of the time; every item of
    every search page formats three (benchmarks/search, issue 13 §7). Other offsets (user
    input) keep isoformat()'s spelling."""
    if v is None:
        return None
    if v.tzinfo is timezone.utc:
        return orjson.dumps(v, option=orjson.OPT_UTC_Z)[1:-1].decode()
    return v.isoformat().replace("+00:00", "Z")


def item_record(row: Any) -> dict[str, Any]:
    """The raw item record returned by items.get/list/search."""
    props = dict(row["properties"] or {})
    record: dict[str, Any] = {
        "id": str(row["id"]),
        "project_id": str(row["project_id"]),
        "collection_id": str(row["collection_id"]) if row["collection_id"] else None,
        "name": props.pop("title", None),
        "description": props.pop("description", None),
        "type": row["type"],
        "geometry": row["geometry"],
        "bbox": row["bbox"],
        "datetime": props.pop("datetime", None),
        "cloud_cover": props.pop("eo:cloud_cover", None),
        "gsd": props.pop("gsd", None),
        "properties": props,
        "lifecycle_state": row["lifecycle_state"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "expires_at": _iso(row["expires_at"]),
    }
    return record


def stac_content(item_id: str, pgstac_collection: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The STAC Feature stored in pgstac for an item's record fields (assets live in geopera)."""
    props = dict(fields.get("properties") or {})
    for rec_name, stac_name in MAPPED_PROPERTIES.items():
        props.pop(stac_name, None)
        value = fields.get(rec_name)
        if value is not None:
            props[stac_name] = _iso(value) if isinstance(value, datetime) else value
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": pgstac_collection,
        "geometry": fields["geometry"],
        "bbox": fields["bbox"],
        "properties": props,
        "links": [],
        "assets": {},
    }


def dumps(doc: Any) -> str:
    return orjson.dumps(doc).decode()


def collection_record(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "project_id": str(row["project_id"]),
        "name": row["name"],
        "description": row["description"],
        "color": row["color"],
        "show_on_map": row["show_on_map"],
        "layer_order": row["layer_order"],
        "item_count": row["item_count"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def asset_record(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "item_id": str(row["item_id"]),
        "key": row["key"],
        "href": row["href"],
        "media_type": row["media_type"],
        "file_size_bytes": row["file_size_bytes"],
        "roles": list(row["roles"] or []),
        "title": row["title"],
    }


def stac_collection(cid: str, title: str, description: str | None) -> dict[str, Any]:
    """A minimal valid STAC Collection document for pgstac."""
    return {
        "type": "Collection", "stac_version": "1.0.0", "id": cid, "title": title,
        "description": description or title, "license": "proprietary", "links": [],
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
                   "temporal": {"interval": [[None, None]]}},
    }
