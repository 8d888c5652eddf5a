"""The ApiExtension that mounts the signed-download route (GET /download/{token})."""

from __future__ import annotations

import attr
from fastapi import FastAPI
from stac_fastapi.types.extension import ApiExtension

from geopera_stac_ext.storage.local import download


@attr.s
class DownloadsExtension(ApiExtension):
    """Serves local-storage assets for URLs signed by items.asset.download."""

    conformance_classes: list[str] = attr.ib(factory=list)
    schema_href: str | None = attr.ib(default=None)

    def register(self, app: FastAPI) -> None:
        # NOTE: outside the OpenAPI document: it is not an op, and the URL is opaque to clients.
        app.add_api_route("/download/{token:path}", download, methods=["GET"],
                          include_in_schema=False, name="download")
