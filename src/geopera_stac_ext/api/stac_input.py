"""STAC search input validated by the engine's own parsers before stac-fastapi's models see it."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geopera_stac_ext.core.errors import GeoperaError, InvalidRequest
from geopera_stac_ext.core.jsonsafe import unsafe_json
from geopera_stac_ext.api.problems import problem_response

# NOTE: stac-fastapi's request models (stac-pydantic) raise OverflowError on datetimes that
# leave years 1-9999 in UTC and call .get() on a body that is not an object: 500s. Every STAC
# search request is first parsed by the same code that runs it (GeoperaStacClient._request:
# GeoJSON, datetimes, numbers, CQL2, query, sortby; paging tokens are checked where they are
# read), so bad input is a 400 naming the
# field before any model runs; what passes is also valid for the models.
SEARCH_PATHS = re.compile(r"^/(search|collections/[^/]+/items)$")
PARAMS = {"bbox": "bbox", "intersects": "intersects", "datetime": "datetime", "ids": "ids",
          "collections": "collections", "limit": "limit", "query": "query", "filter": "filter_expr",
          "filter-lang": "filter_lang", "filter_lang": "filter_lang", "sortby": "sortby"}


async def check_search_params(params: dict[str, Any], *, from_query: bool) -> None:
    """Raise InvalidRequest naming the first bad search parameter."""
    from geopera_stac_ext.api.stac_client import GeoperaStacClient

    if (problem := unsafe_json(params)) is not None:
        raise InvalidRequest(problem)
    kwargs = {PARAMS[k]: v for k, v in params.items() if k in PARAMS and v is not None}
    if from_query and "limit" in kwargs:
        limit = str(kwargs["limit"])
        if not limit.isdigit():
            raise InvalidRequest("limit: must be an integer from 1 to 1000")
        kwargs["limit"] = int(limit)
    if isinstance(kwargs.get("bbox"), str):
        if not from_query:
            raise InvalidRequest("bbox: expected four numbers [west, south, east, north]")
        try:  # GET: "w,s,e,n" or the 3D "w,s,zmin,e,n,zmax"
            kwargs["bbox"] = [float(x) for x in kwargs["bbox"].split(",")]
        except ValueError:
            raise InvalidRequest("bbox: expected comma-separated numbers") from None
    await GeoperaStacClient._request(**kwargs)


class StacInputMiddleware:
    """Runs check_search_params on GET/POST /search and GET /collections/{id}/items."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not SEARCH_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] == "POST":
                receive = await self._check_body(receive)
            elif scope["method"] == "GET":
                query = scope.get("query_string", b"").decode("latin-1")
                await check_search_params(dict(parse_qsl(query, keep_blank_values=False)),
                                    from_query=True)
        except GeoperaError as err:
            await problem_response(None, err, scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _check_body(receive: Receive) -> Receive:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            # NOTE: the json module, as FastAPI's, so 400-digit integers and NaN reach
            # check_search_params and are refused naming their field.
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            raise InvalidRequest("body: not valid JSON (or nested too deeply)") from None
        if not isinstance(body, dict):
            raise InvalidRequest("body: the search request must be a JSON object")
        await check_search_params(body, from_query=False)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        return replay


__all__ = ["StacInputMiddleware", "check_search_params"]
