"""Bulk seeding for search tests: geopera.items rows plus one pgstac.create_items call."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from geopera_stac_ext.core.fields import bbox_of
from conftest import COPY_ITEM_TIMES

from geopera_stac_ext.domain.records import dumps, stac_content

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def square(lon: float, lat: float, d: float = 0.02) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                [lon, lat + d], [lon, lat]]]}


async def seed_items(conn: Any, project_id: str, specs: list[dict[str, Any]],
                     collection_id: str | None = None) -> list[dict[str, Any]]:
    """Insert items described by `specs` (lon, lat, datetime, cloud_cover, name, type, deleted)
    and their `data` asset; returns the specs with their new ids."""
    pgcol = collection_id or await conn.fetchval(
        "SELECT inbox_collection FROM geopera.projects WHERE id = $1", uuid.UUID(project_id))
    rows, feats, assets = [], [], []
    now = datetime.now(timezone.utc)
    for spec in specs:
        iid = str(uuid.uuid4())
        spec["id"] = iid
        geom = square(spec["lon"], spec["lat"])
        fields = {"geometry": geom, "bbox": bbox_of(geom), "datetime": spec["datetime"],
                  "name": spec.get("name", "seeded"), "cloud_cover": spec.get("cloud_cover"),
                  "gsd": spec.get("gsd", 0.5), "properties": spec.get("properties", {})}
        feats.append(stac_content(iid, pgcol, fields))
        deleted = spec.get("deleted", False)
        rows.append((uuid.UUID(iid), uuid.UUID(project_id),
                     uuid.UUID(collection_id) if collection_id else None, pgcol,
                     spec.get("type", "image"), "deleted" if deleted else "active",
                     now, now if deleted else None, spec.get("cloud_cover")))
        assets.append((uuid.uuid4(), uuid.UUID(iid), "data", f"s3://bucket/{iid}.tif",
                       "image/tiff", 1000, ["data"]))
    await conn.executemany(
        "INSERT INTO geopera.items (id, project_id, collection_id, pgstac_collection, type,"
        " lifecycle_state, created_at, updated_at, deleted_at, cloud_cover)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)", rows)
    await conn.execute("SELECT pgstac.create_items($1::text::jsonb)", dumps(feats))
    await conn.execute(COPY_ITEM_TIMES, [r[0] for r in rows])
    await conn.executemany(
        "INSERT INTO geopera.assets (id, item_id, key, href, media_type, file_size_bytes, roles)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)", assets)
    return specs


def grid(n: int, lon: float = 149.0, lat: float = -35.5, **extra: Any) -> list[dict[str, Any]]:
    """n items on a small grid, one hour apart, cloud cover cycling 0..99."""
    return [{"lon": lon + (k % 40) * 0.01, "lat": lat + (k // 40) * 0.01,
             "datetime": T0 + timedelta(hours=k), "cloud_cover": float(k % 100),
             "name": f"grid {k}", **extra} for k in range(n)]
