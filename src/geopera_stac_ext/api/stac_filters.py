"""The STAC filter extension: /queryables through the engine's fields, CQL2 text over POST."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field
from stac_fastapi.extensions.filter.client import AsyncBaseFiltersClient

from geopera_stac_ext.api.stac_client import GeoperaStacClient, visibility
from geopera_stac_ext.db.pool import connection
from geopera_stac_ext.search.cql2sql import CQL2_CONFORMANCE
from geopera_stac_ext.search.engine import SORTABLE

FILTER_CONF = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"
SEARCH_CONFORMANCE = [FILTER_CONF, "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
                      *CQL2_CONFORMANCE]
ITEMS_CONFORMANCE = [FILTER_CONF,
                     "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
                     *CQL2_CONFORMANCE]

QUERYABLE_PROPS: dict[str, dict[str, Any]] = {
    "id": {"title": "Item ID", "type": "string"},
    "collection": {"title": "Collection ID", "type": "string"},
    "geometry": {"title": "Footprint", "$ref": "https://geojson.org/schema/Geometry.json"},
    "datetime": {"title": "Acquired", "type": "string", "format": "date-time"},
    "start_datetime": {"title": "Acquired from", "type": "string", "format": "date-time"},
    "end_datetime": {"title": "Acquired until", "type": "string", "format": "date-time"},
    "eo:cloud_cover": {"title": "Cloud cover (%) — also `cloud_cover`", "type": "number",
                       "minimum": 0, "maximum": 100},
    "gsd": {"title": "Ground sample distance (m)", "type": "number"},
    "title": {"title": "Name — also `name`", "type": "string"},
    "description": {"title": "Description", "type": "string"},
    "geopera:type": {"title": "Item type — also `type`", "type": "string"},
    "geopera:lifecycle_state": {"title": "Lifecycle state — also `lifecycle_state`",
                                "type": "string",
                                "enum": ["active", "expiring", "expired", "archived"]},
    "geopera:project_id": {"title": "Project — also `project_id`", "type": "string"},
    "created": {"title": "Created — also `created_at`", "type": "string", "format": "date-time"},
    "updated": {"title": "Updated — also `updated_at`", "type": "string", "format": "date-time"},
    "geopera:expires_at": {"title": "Expires — also `expires_at`", "type": "string",
                           "format": "date-time"},
}


class GeoperaFiltersClient(AsyncBaseFiltersClient):
    """/queryables: the fields the engine understands, with the types it reads them as (other
    properties are matched as JSON, typed by what they are compared with)."""

    async def get_queryables(self, request: Request, collection_id: str | None = None,
                             **kwargs: Any) -> dict[str, Any]:
        if collection_id is not None:
            async with connection(request.app) as conn:
                vis = await visibility(conn, request)
                await GeoperaStacClient()._collection(conn, request, collection_id, vis)
        return {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": str(request.url),
            "type": "object",
            "title": "Queryables",
            "description": "Sortable fields: " + ", ".join(sorted(SORTABLE)),
            "properties": QUERYABLE_PROPS,
            "additionalProperties": True,
        }


class FilterPostRequest(BaseModel):
    """The filter extension's POST fields, taking CQL2 text as well (pystac-client's default)."""

    filter_expr: dict[str, Any] | str | None = Field(None, alias="filter")
    filter_crs: str | None = Field(None, alias="filter-crs")
    filter_lang: Literal["cql2-json", "cql2-text"] | None = Field(None, alias="filter-lang")


def _filter_extensions() -> tuple[Any, Any]:
    from stac_fastapi.extensions import ItemCollectionFilterExtension, SearchFilterExtension

    search = SearchFilterExtension(client=GeoperaFiltersClient(),
                                   conformance_classes=SEARCH_CONFORMANCE)
    # NOTE: on the instance, not a subclass: stac-fastapi finds the extension by class name
    # (the landing page's queryables link).
    search.POST = FilterPostRequest
    return search, ItemCollectionFilterExtension(client=GeoperaFiltersClient(),
                                                 conformance_classes=ITEMS_CONFORMANCE)


def stac_extension_overrides() -> dict[str, Any]:
    """Extensions(...) overrides create_app() applies: /queryables through our client, CQL2
    text over POST, and the CQL2 conformance classes the engine passes."""
    search, items = _filter_extensions()
    return {"search_map": {"filter": search}, "item_collection_map": {"filter": items}}


__all__ = ["GeoperaFiltersClient", "stac_extension_overrides"]
