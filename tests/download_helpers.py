"""Helpers shared by the download and lifecycle tests: items with real local-storage files."""

from __future__ import annotations

import os
import uuid
from typing import Any

from conftest import create_collection, create_item, op

from geopera_stac_ext.storage.hrefs import project_area

COG = "image/tiff; application=geotiff; profile=cloud-optimized"


def local_item(client, db, settings, actor, project_id: str, data: bytes | None = None,
               **kw: Any) -> tuple[dict[str, Any], str, bytes]:
    """An item whose `data` asset is a real file in the storage root: (item, asset id, bytes)."""
    data = os.urandom(5000) if data is None else data
    rel = f"scenes/{uuid.uuid4().hex}.tif"
    path = project_area(settings.resolved_storage_dir, project_id) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    item = create_item(client, actor, project_id, assets=[
        {"key": "data", "href": rel, "media_type": COG, "file_size_bytes": len(data),
         "roles": ["data"]}], **kw)
    asset_id = db(lambda c: c.fetchval(
        "SELECT id::text FROM geopera.assets WHERE item_id = $1 AND key = 'data'", item["id"]))
    return item, asset_id, data


def download(client, actor, item_id: str, asset_id: str):
    return op(client, "items.asset.download", actor, item_id=item_id, asset_id=asset_id)


def scene_with_thumbnail(client, db, settings, actor, project_id: str) -> dict[str, Any]:
    """A collected item with a real local `data` file and a `thumbnail` PNG file."""
    col = create_collection(client, actor, project_id)
    area = project_area(settings.resolved_storage_dir, project_id)
    files = {}
    for key, name, media, role in (("data", "scene.tif", COG, "data"),
                                   ("thumbnail", "thumb.png", "image/png", "thumbnail")):
        rel = f"scenes/{uuid.uuid4().hex}/{name}"
        (area / rel).parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(3000)
        (area / rel).write_bytes(data)
        files[key] = {"key": key, "href": rel, "media_type": media, "roles": [role],
                      "file_size_bytes": len(data), "bytes": data}
    item = create_item(client, actor, project_id, collection_id=col["id"],
                       assets=[{k: v for k, v in f.items() if k != "bytes"}
                               for f in files.values()])
    ids = dict(db(lambda c: c.fetch("SELECT key, id::text FROM geopera.assets WHERE item_id = $1",
                                    item["id"])))
    return {"collection": col, "item": item, "files": files, "ids": ids}
