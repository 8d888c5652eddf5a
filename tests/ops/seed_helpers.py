"""Reseeding helper for the search property test: wipe items, insert a generated set."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from conftest import COPY_ITEM_TIMES

from geopera_stac_ext.domain.records import dumps, stac_content


async def reseed(conn: Any, projects: dict[str, str], items: list[dict[str, Any]], t0: Any,
                 d: float) -> None:
    await conn.execute("DELETE FROM geopera.assets")
    await conn.execute("DELETE FROM geopera.items")
    await conn.execute("DELETE FROM pgstac.items")
    inbox = {k: await conn.fetchval("SELECT inbox_collection FROM geopera.projects WHERE id = $1",
                                    uuid.UUID(pid)) for k, pid in projects.items()}
    rows, feats = [], []
    for it in items:
        it["id"] = str(uuid.uuid4())
        lon, lat = 149.0 + it["gx"] * 0.01, -35.5 + it["gy"] * 0.01
        geom = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat],
                                                    [lon + d, lat + d], [lon, lat + d],
                                                    [lon, lat]]]}
        fields = {"geometry": geom, "bbox": [lon, lat, lon + d, lat + d], "name": "p",
                  "datetime": t0 + timedelta(hours=it["hour"]),
                  "cloud_cover": it["cloud_cover"], "gsd": it["gsd"], "properties": {}}
        pgcol = inbox[it["project"]]
        feats.append(stac_content(it["id"], pgcol, fields))
        rows.append((uuid.UUID(it["id"]), uuid.UUID(projects[it["project"]]), pgcol, it["type"],
                     "deleted" if it["deleted"] else "active",
                     t0 if it["deleted"] else None, it["cloud_cover"]))
    if rows:
        await conn.executemany(
            "INSERT INTO geopera.items (id, project_id, pgstac_collection, type, lifecycle_state,"
            " deleted_at, cloud_cover) VALUES ($1, $2, $3, $4, $5, $6, $7)", rows)
        await conn.execute("SELECT pgstac.create_items($1::text::jsonb)", dumps(feats))
        await conn.execute(COPY_ITEM_TIMES, [r[0] for r in rows])
