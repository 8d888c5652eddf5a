"""GET /download/{token}: streams a local asset's bytes for a valid signed URL, with Range."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import anyio
from fastapi import Request
from starlette.responses import StreamingResponse

from geopera_stac_ext.db.pool import connection
from geopera_stac_ext.errors import Forbidden, GeoperaError, InvalidRequest, NotFound
from geopera_stac_ext.storage.hrefs import AREA_SQL, local_path
from geopera_stac_ext.storage.media import valid_media_type
from geopera_stac_ext.storage.signing import filename_for, signing_secret, verify

CHUNK = 256 * 1024
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


async def download(request: Request, token: str) -> StreamingResponse:
    settings = request.app.state.geopera_settings
    clock = request.app.state.clock
    now = clock() if clock else datetime.now(timezone.utc)
    tok = verify(signing_secret(settings), token, now.timestamp())
    async with connection(request.app) as conn:
        row: Any = await conn.fetchrow(
            f"SELECT a.href, a.media_type, a.deleted_at, {AREA_SQL} WHERE a.id = $1",
            tok.asset_id)
    if row is None or row["deleted_at"] is not None:
        raise NotFound("this asset has been deleted")
    try:
        path = local_path(settings.resolved_storage_dir, row["area"], row["href"])
    except InvalidRequest:
        # NOTE: re-checked at serve time: a symlink swapped after creation must not escape.
        raise Forbidden("this asset's file is outside its project's storage area") from None
    if path is None:
        raise NotFound("this asset is not stored locally; request a new URL")
    try:
        size = path.stat().st_size
    except OSError:
        raise NotFound("the asset's file is missing from storage") from None
    if not path.is_file():
        raise NotFound("the asset's file is missing from storage")
    media = row["media_type"]
    headers = {
        "Accept-Ranges": "bytes",
        # NOTE: always an attachment, never sniffed, and sandboxed should a browser render it
        # anyway: an uploaded text/html or SVG cannot run script on this service's origin.
        "Content-Disposition": f'attachment; filename="{filename_for(row["href"])}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
    span = parse_range(request.headers.get("range"), size)
    status = 200
    start, length = 0, size
    if span is not None:
        start, length = span[0], span[1] - span[0] + 1
        status = 206
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
    headers["Content-Length"] = str(length)
    return StreamingResponse(_stream(path, start, length), status_code=status, headers=headers,
                             media_type=media if media and valid_media_type(media)
                             else "application/octet-stream")
