"""items.search and items.search_org: the search engine behind the op API."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Literal

from pydantic import Field

from geopera_stac_ext.core.errors import Forbidden, InvalidRequest, NotFound
from geopera_stac_ext.core.fields import Limit, Offset, Record, Uuid
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op
from geopera_stac_ext.search.gate import db_slot
from geopera_stac_ext.search.engine import (
    SearchRequest,
    run_search,
    user_visibility,
    visibility_for,
)
from geopera_stac_ext.search.features import record_feature, stac_features
from geopera_stac_ext.storage.asset_tokens import href_signer


class SortBy(Params):
    field: str = Field(min_length=1, max_length=256)
    direction: Literal["asc", "desc"] = "asc"


class ItemsSearchOrgParams(Params):
    # NOTE: geometry-ish fields are typed loosely here; the engine validates them with
    # messages that name the exact problem (3-value bbox, south > north, …).
    bbox: list[Any] | None = None
    intersects: dict[str, Any] | None = None
    datetime: str | None = None
    collections: list[str] | None = Field(default=None, max_length=1000)
    ids: list[str] | None = Field(default=None, max_length=1000)
    type: str | list[str] | None = None
    query: dict[str, Any] | None = None
    filter: dict[str, Any] | str | None = None
    filter_lang: Literal["cql2-json", "cql2-text"] | None = Field(default=None,
                                                                  alias="filter-lang")
    sortby: list[SortBy] | None = None
    limit: Limit = 10
    offset: Offset = 0
    format: Literal["record", "stac"] = "record"
    base_url: str | None = Field(default=None, max_length=2048,
                                 description="base of STAC link hrefs when format=stac")

    model_config = {**Params.model_config, "populate_by_name": True}


class ItemsSearchParams(ItemsSearchOrgParams):
    project_id: Uuid


class FeatureCollection(Record):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
    numberMatched: int
    numberReturned: int


async def _request(p: ItemsSearchOrgParams) -> SearchRequest:
    return await SearchRequest.parse_async(
        bbox=p.bbox, intersects=p.intersects, datetime=p.datetime, ids=p.ids,
        collections=p.collections, type=p.type, query=p.query, filter=p.filter,
        filter_lang=p.filter_lang,
        sortby=[s.model_dump() for s in p.sortby] if p.sortby is not None else None,
        limit=p.limit, offset=p.offset,
    )


async def _respond(ctx: OpContext, p: ItemsSearchOrgParams, req: SearchRequest,
                   vis: Any) -> dict[str, Any]:
    if p.base_url and not p.base_url.startswith(("http://", "https://")):
        raise InvalidRequest("base_url: must be an absolute http(s) URL")
    # NOTE: outside HTTP (demo seeding) there is no app, hence no per-user gate to apply.
    gate = (db_slot(ctx.request.app, ctx.conn, ctx.principal.user_id)
            if ctx.request is not None else nullcontext())
    async with gate:
        result = await run_search(ctx.conn, req, vis, ctx.settings.search_timeout_ms)
    if p.format == "stac":
        base = p.base_url or (str(ctx.request.base_url) if ctx.request else "")
        signer = href_signer(ctx.settings, ctx.principal, ctx.now().timestamp())
        features = await stac_features(ctx.conn, result.records, base, signer)
    else:
        features = [record_feature(r) for r in result.records]
    return {"type": "FeatureCollection", "features": features,
            "numberMatched": result.total, "numberReturned": len(features)}


@op("items.search", params=ItemsSearchParams, result=FeatureCollection, side_effect="read",
    scope="items:read", purpose="Search a project's items with STAC filters.",
    errors=(Forbidden, NotFound, InvalidRequest))
async def items_search(ctx: OpContext, p: ItemsSearchParams) -> dict[str, Any]:
    req = await _request(p)
    await ctx.authorize("items:read", p.project_id)
    return await _respond(ctx, p, req, await visibility_for(ctx.conn, [p.project_id]))


@op("items.search_org", params=ItemsSearchOrgParams, result=FeatureCollection,
    side_effect="read", scope="items:read",
    purpose="Search every item across your organization.",
    errors=(Forbidden, InvalidRequest))
async def items_search_org(ctx: OpContext, p: ItemsSearchOrgParams) -> dict[str, Any]:
    req = await _request(p)
    ctx.require_scope("items:read")
    vis = await user_visibility(ctx.conn, ctx.principal.user_id, org_only=True)
    return await _respond(ctx, p, req, vis)
