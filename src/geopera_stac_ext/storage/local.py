"""GET /download/{token}: streams a local asset's bytes for a valid signed URL, with Range."""

from __future__ import annotations

import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator
from urllib.parse import unquote

import anyio
from fastapi import Request
from starlette.responses import Response, StreamingResponse

from geopera_stac_ext.db.pool import connection
from geopera_stac_ext.core.errors import Forbidden, GeoperaError, InvalidRequest, NotFound
from geopera_stac_ext.storage.hrefs import AREA_SQL, local_path
from geopera_stac_ext.storage.media import valid_media_type
from geopera_stac_ext.storage.signing import filename_for, signing_secret, verify

CHUNK = 256 * 1024
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/tiff"})
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(GeoperaError):
    status, code, title = 416, "range_not_satisfiable", "Range not satisfiable"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range, None to send the whole file.

    NOTE: multi-range and malformed headers are ignored (RFC 9110 §14.2 lets a server send
    the full representation instead); only an unsatisfiable single range is an error.
    """
    if not header:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if m is None:
        return None
    first_s, last_s = m.groups()
    if first_s == "" and last_s == "":
        return None
    if first_s == "":
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} selects no bytes of a {size}-byte file",
                                      headers={"Content-Range": f"bytes */{size}"})
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(f"range {header!r} starts beyond the file's {size} bytes",
                                  headers={"Content-Range": f"bytes */{size}"})
    return first, size - 1 if last is None else min(last, size - 1)


async def _stream(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        await f.seek(start)
        remaining = length
        while remaining > 0:
            chunk = await f.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def disposition(media_type: str) -> str:
    """`inline` for raster images (thumbnails render in <img>), `attachment` for the rest.

    NOTE: never inline for markup (HTML, SVG): an uploaded document must not run as a page
    on the API's origin.
    """
    kind = media_type.split(";", 1)[0].strip().lower()
    return "inline" if kind in INLINE_TYPES else "attachment"


def serve_file(request: Request, path: Path, size: int, media_type: str | None,
               filename: str) -> Response:
    """The file's bytes (or the `Range` asked for); HEAD gets the same headers, no body."""
    # NOTE: a stored type that is not a valid, header-safe media type (rows from before
    # validation) is served as opaque bytes rather than failing or being echoed.
    media = (media_type if media_type and valid_media_type(media_type)
             else "application/octet-stream")
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'{disposition(media)}; filename="{filename}"',
        "Cache-Control": "private, no-store",
        # NOTE: never sniffed, and sandboxed should a browser render it anyway: an uploaded
        # text/html or SVG (always an attachment) cannot run script on this service's origin.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    span = requested_span(request, size)
    status = 200
    start, length = 0, size
    if span is not None:
        start, length = span[0], span[1] - span[0] + 1
        status = 206
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media)
    return StreamingResponse(_stream(path, start, length), status_code=status, headers=headers,
                             media_type=media)


def requested_span(request: Request, size: int) -> tuple[int, int] | None:
    return parse_range(request.headers.get("range"), size)


def stat_file(path: Path) -> int:
    """The size of a regular file in storage; 404 when it is missing (or not a file)."""
    try:
        st = path.stat()
    except OSError:
        raise NotFound("the asset's file is missing from storage") from None
    if not stat.S_ISREG(st.st_mode):
        raise NotFound("the asset's file is missing from storage")
    return st.st_size


async def download(request: Request, token: str) -> Response:
    """GET/HEAD /download/{token}: only the asset's own filename; anything else is 404.

    NOTE: GDAL probes sidecars (`x.tif.aux.xml`, `x.tif.ovr`, …) next to every URL it opens;
    answering them with the image itself made it loop, so they are 404 without a database trip.
    """
    parts = token.split("/")
    if len(parts) > 5:
        raise NotFound("no such file under this download URL")
    settings = request.app.state.geopera_settings
    clock = request.app.state.clock
    now = clock() if clock else datetime.now(timezone.utc)
    tok = verify(signing_secret(settings), "/".join(parts[:4]), now.timestamp())
    async with connection(request.app) as conn:
        row: Any = await conn.fetchrow(
            f"SELECT a.href, a.media_type, a.deleted_at, {AREA_SQL} WHERE a.id = $1",
            tok.asset_id)
    if row is None or row["deleted_at"] is not None:
        raise NotFound("this asset has been deleted")
    filename = filename_for(row["href"])
    if len(parts) == 5 and unquote(parts[4]) != filename:
        raise NotFound("no such file under this download URL")
    try:
        path = local_path(settings.resolved_storage_dir, row["area"], row["href"])
    except InvalidRequest:
        # NOTE: re-checked at serve time: a symlink swapped after creation must not escape.
        raise Forbidden("this asset's file is outside its project's storage area") from None
    if path is None:
        raise NotFound("this asset is not stored locally; request a new URL")
    size = stat_file(path)
    return serve_file(request, path, size, row["media_type"], filename)
