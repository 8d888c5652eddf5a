"""STAC search input parsed once, off the event loop, by the engine's own parsers."""

from __future__ import annotations

import asyncio
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geopera_stac_ext.api.stac_client import PARSED_SEARCH, GeoperaStacClient
from geopera_stac_ext.core.errors import GeoperaError, InvalidRequest
from geopera_stac_ext.core.fields import _geometry
from geopera_stac_ext.core.jsonsafe import unsafe_json
from geopera_stac_ext.core.problem import problem_response
from geopera_stac_ext.search.engine import SearchRequest

# NOTE: stac-fastapi's request models (stac-pydantic) raise OverflowError on datetimes that
# leave years 1-9999 in UTC and call .get() on a body that is not an object: 500s. Every STAC
# search request is first parsed by the same code that runs it (GeoperaStacClient._request:
# GeoJSON, datetimes, numbers, CQL2, query, sortby; paging tokens are checked where they are
# read), so bad input is a 400 naming the field before any model runs; what passes is also
# valid for the models.
SEARCH_PATHS = re.compile(r"^/(search|collections/[^/]+/items)$")
PARAMS = {"bbox": "bbox", "intersects": "intersects", "datetime": "datetime", "ids": "ids",
          "collections": "collections", "limit": "limit", "query": "query", "filter": "filter_expr",
          "filter-lang": "filter_lang", "filter_lang": "filter_lang", "sortby": "sortby"}

# NOTE: measured (benchmarks/fairness): with 20,000-vertex bodies admitted by the per-user cap,
# the one event loop spent ~90% of its time on them — JSON decoding twice, our GeoJSON check
# twice, and stac-pydantic's geojson models (half of it) — and another tenant's items.get
# queued behind those blocks for seconds. Now the body is decoded and checked once, in these
# threads (the GIL is handed back to the loop every few ms instead of after a whole body),
# and the geometry never reaches stac-fastapi's model. Two threads: as many as this
# machine's cores, and a bound on how much parsing can run beside the loop.
PARSER = ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1),
                            thread_name_prefix="geopera-search-input")


# NOTE: orjson.loads turns integers beyond 64 bits into floats where the json module keeps
# them exact (and unsafe_json names them); a body with a run of 20 digits is read by the json
# module instead (ids or long decimals that merely look like one only cost speed).
LONG_DIGITS = re.compile(rb"[0-9]{20}")


def _decode_body(raw: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The body as an object and its checked `intersects` geometry (in a parser thread)."""
    body: Any = None
    decoded = False
    if raw.strip() and not LONG_DIGITS.search(raw):
        try:
            body, decoded = orjson.loads(raw), True
        except orjson.JSONDecodeError:
            pass  # NOTE: NaN, 1e400, lone surrogates: the json module reads them, named below
    if not decoded and raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidRequest("body: not valid JSON (or nested too deeply)") from None
    if not isinstance(body, dict):
        raise InvalidRequest("body: the search request must be a JSON object")
    return body, _checked(body, decoded)


def _checked(params: dict[str, Any], decoded: bool = False) -> dict[str, Any] | None:
    """unsafe_json over everything, then the `intersects` geometry (in a parser thread)."""
    if (problem := unsafe_json(params, decoded=decoded)) is not None:
        raise InvalidRequest(problem)
    intersects = params.get("intersects")
    if intersects is None:
        return None
    if isinstance(intersects, str):
        try:
            intersects = orjson.loads(intersects)
        except orjson.JSONDecodeError:
            raise InvalidRequest("intersects: not valid GeoJSON") from None
    if params.get("bbox") is not None:
        raise InvalidRequest("bbox and intersects cannot be combined; pass one")
    try:
        return _geometry(intersects)
    except ValueError as e:
        raise InvalidRequest(f"intersects: {e}") from None


# NOTE: below this size (a search without a large footprint) parsing takes microseconds on the
# loop, less than handing it to a thread and back (two wake-ups per request); larger inputs,
# which can take milliseconds, still go to the threads.
INLINE_BYTES = 4096


async def in_parser(fn: Any, *args: Any, size: int = INLINE_BYTES) -> Any:
    if size < INLINE_BYTES:
        return fn(*args)
    return await asyncio.get_running_loop().run_in_executor(PARSER, fn, *args)


async def parse_search_params(params: dict[str, Any], *, from_query: bool,
                              geometry: dict[str, Any] | None = None) -> SearchRequest:
    """The SearchRequest, or InvalidRequest naming the first bad search parameter.

    `geometry`: `params["intersects"]` already checked by _checked (in a parser thread).
    """
    kwargs = {PARAMS[k]: v for k, v in params.items()
              if k in PARAMS and k != "intersects" and v is not None}
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
    req = await GeoperaStacClient._request(**kwargs)
    req.intersects = geometry
    return req


class StacInputMiddleware:
    """Parses GET/POST /search and GET /collections/{id}/items before stac-fastapi does.

    The parsed SearchRequest (and the POST body) are left in the scope's state for the
    handlers; a POST body reaches stac-fastapi's model without its `intersects` (checked here).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not SEARCH_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] == "POST":
                receive = await self._check_body(scope, receive)
            elif scope["method"] == "GET":
                query = scope.get("query_string", b"").decode("latin-1")
                params = dict(parse_qsl(query, keep_blank_values=False))
                geometry = await in_parser(_checked, params, size=len(query))
                req = await parse_search_params(params, from_query=True, geometry=geometry)
                if scope["path"] == "/search":
                    scope.setdefault("state", {})[PARSED_SEARCH] = (req, None)
        except GeoperaError as err:
            await problem_response(None, err, scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _check_body(scope: Scope, receive: Receive) -> Receive:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        body, geometry = await in_parser(_decode_body, raw, size=len(raw))
        req = await parse_search_params(body, from_query=False, geometry=geometry)
        if scope["path"] == "/search":
            scope.setdefault("state", {})[PARSED_SEARCH] = (req, body)
            if body.get("intersects") is not None:
                # NOTE: checked above; stac-pydantic's geojson models would spend as long
                # again on it, on the event loop.
                raw = orjson.dumps({k: v for k, v in body.items() if k != "intersects"})
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        return replay


__all__ = ["StacInputMiddleware", "parse_search_params", "PARSED_SEARCH"]
