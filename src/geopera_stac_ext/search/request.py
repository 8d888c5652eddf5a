"""A validated search request: every front door (op API, STAC GET and POST) builds one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.fields import _geometry
from geopera_stac_ext.search.cql2text import parse_cql2_text_async
from geopera_stac_ext.search.params import (
    parse_bbox,
    parse_datetime,
    parse_filter,
    parse_sortby,
    storable,
    str_list,
)
from geopera_stac_ext.search.query_ext import query_to_cql2

MAX_LIMIT = 1000


@dataclass
class SearchRequest:
    """A validated search: every front door builds one of these."""

    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: tuple[datetime | None, datetime | None] | None = None
    ids: list[str] | None = None
    collections: list[str] | None = None
    types: list[str] | None = None
    filter: Any = None  # CQL2 JSON (query extension clauses ANDed in)
    sortby: list[dict[str, str]] = field(default_factory=list)
    limit: int = 10
    offset: int = 0  # the page's position (with `after`, only for the total's shortcut)
    after: list[Any] | None = None  # keyset: resume after this sort key (search/paging.py)

    @classmethod
    def parse(cls, *, bbox: Any = None, intersects: Any = None, datetime: Any = None,
              ids: Any = None, collections: Any = None, type: Any = None, query: Any = None,
              filter: Any = None, filter_lang: str | None = None, sortby: Any = None,
              limit: Any = 10, offset: Any = 0, max_limit: int = MAX_LIMIT,
              clamp_limit: bool = False) -> "SearchRequest":
        req = cls()
        if bbox is not None:
            req.bbox = parse_bbox(bbox)
        if intersects is not None:
            if bbox is not None:
                raise InvalidRequest("bbox and intersects cannot be combined; pass one")
            try:
                req.intersects = _geometry(intersects)
            except ValueError as e:
                raise InvalidRequest(f"intersects: {e}") from None
        if datetime is not None:
            req.datetime = parse_datetime(datetime)
        req.ids = str_list(ids, "ids")
        req.collections = str_list(collections, "collections")
        req.types = str_list([type] if isinstance(type, str) else type, "type")
        req.filter = _combined_filter(filter, filter_lang, query)
        req.sortby = parse_sortby(sortby)
        req.limit = _limit(limit, max_limit, clamp_limit)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidRequest("offset: must be a non-negative integer")
        req.offset = offset
        return req

    @classmethod
    async def parse_async(cls, **kw: Any) -> "SearchRequest":
        """parse(), with CQL2 text parsed off the event loop (the front doors use this)."""
        filt, lang = kw.get("filter"), kw.get("filter_lang")
        if isinstance(filt, str) and str(lang or "cql2-text").lower() == "cql2-text":
            kw["filter"], kw["filter_lang"] = await parse_cql2_text_async(filt), "cql2-json"
        return cls.parse(**kw)


def _combined_filter(filter: Any, filter_lang: str | None, query: Any) -> Any:
    """The CQL2 filter and the query extension's clauses, ANDed (None when neither)."""
    clauses = []
    if filter is not None:
        clauses.append(storable(parse_filter(filter, filter_lang), "filter"))
    if query is not None:
        if isinstance(query, str):
            try:
                query = orjson.loads(query)
            except orjson.JSONDecodeError:
                raise InvalidRequest("query: not valid JSON") from None
        clauses.extend(query_to_cql2(storable(query, "query")))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"op": "and", "args": clauses}


def _limit(limit: Any, max_limit: int, clamp: bool) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidRequest(f"limit: must be an integer from 1 to {max_limit}")
    if limit > max_limit:
        if not clamp:
            raise InvalidRequest(f"limit: must be an integer from 1 to {max_limit}")
        limit = max_limit
    return limit
