"""Thin synchronous client for the Geopera typed op API (`POST /v1/op/{operation_id}`)."""

from __future__ import annotations

import email.utils
import math
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from geopera.errors import (
    ConfigurationError,
    GeoperaError,
    RateLimited,
    TransportError,
    error_class_for_status,
)

__all__ = ["Geopera", "DEFAULT_BASE_URL", "__version__"]

__version__ = "0.1.0"

DEFAULT_BASE_URL = "https://api.geopera.com"
_USER_AGENT = f"geopera-python/{__version__}"
_ACCEPT = "application/json, application/geo+json, application/problem+json"
_LSN_HEADER = "X-Geopera-LSN"
_MIN_LSN_HEADER = "X-Geopera-Min-LSN"


def _lsn_value(text: str) -> int | None:
    """A PostgreSQL WAL position `X/Y` as a number (None when malformed)."""
    hi, sep, lo = text.strip().partition("/")
    try:
        return (int(hi, 16) << 32) | int(lo, 16) if sep and len(hi) <= 8 and len(lo) <= 8 \
            else None
    except ValueError:
        return None


# Non-JSON error bodies are usually proxy HTML pages; keep exception messages readable.
_MAX_TEXT_DETAIL = 500


class Geopera:
    """Client for the Geopera op API.

    Only 429 responses are retried (honouring ``Retry-After``, at most ``max_retries`` times,
    each wait capped at ``max_retry_wait`` seconds). 5xx responses are never retried: ops may
    have side effects and the client cannot tell whether the server applied one before failing.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        api_key = api_key or os.environ.get("GEOPERA_API_KEY")
        if not api_key:
            raise ConfigurationError(
                "No API key: pass Geopera(api_key=...) or set the GEOPERA_API_KEY environment "
                "variable."
            )
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = (
            base_url or os.environ.get("GEOPERA_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._sleep: Callable[[float], None] = time.sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": _USER_AGENT,
                "Accept": _ACCEPT,
            },
        )

    def _remember_lsn(self, response: httpx.Response) -> None:
        """Send the newest write position back, so later reads see this client's writes.

        NOTE: a service with a read replica names, on each write, the database position of
        that write (X-Geopera-LSN); a read sent with X-Geopera-Min-LSN is answered from a
        database that has it (docs/deploy.md "Read replica").
        """
        lsn = response.headers.get(_LSN_HEADER)
        if lsn is None or _lsn_value(lsn) is None:
            return
        current = self._http.headers.get(_MIN_LSN_HEADER)
        if current is None or _lsn_value(lsn) > (_lsn_value(current) or -1):
            self._http.headers[_MIN_LSN_HEADER] = lsn

    def __repr__(self) -> str:
        return f"Geopera(base_url={self.base_url!r})"

    def __enter__(self) -> Geopera:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._http.close()

    def op(self, operation_id: str, /, **params: Any) -> Any:
        """Invoke an operation; ``None`` params are sent as JSON ``null``, not omitted."""
        path = f"/v1/op/{quote(operation_id, safe='')}"
        attempt = 0
        while True:
            try:
                response = self._http.post(path, json=params)
            except httpx.TransportError as exc:
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code != 429 or attempt >= self.max_retries:
                break
            self._sleep(self._retry_wait(response, attempt))
            attempt += 1
        self._remember_lsn(response)
        if not response.is_success:
            raise _error_from_response(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise GeoperaError(
                f"{response.status_code}: response body is not valid JSON",
                status=response.status_code,
                headers=response.headers,
            ) from exc

    def sign_inplace(self, obj: Any) -> Any:
        """A pystac-client `modifier`: rewrites each asset href of the items it is given to a
        signed URL (one `items.asset.download` grant per asset; see geopera.signing)."""
        from geopera.signing import Signer

        signer = self.__dict__.get("_signer")
        if signer is None:
            signer = self.__dict__.setdefault("_signer", Signer(self))
        return signer(obj)

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float:
        hinted = _parse_retry_after(response.headers.get("Retry-After"))
        wait = hinted if hinted is not None else 0.5 * 2**attempt
        return min(wait, self.max_retry_wait)


def _parse_retry_after(value: str | None) -> float | None:
    """Parse a Retry-After header (delta-seconds or HTTP-date) into seconds from now."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _error_from_response(response: httpx.Response) -> GeoperaError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        problem: dict[str, Any] = body
    else:
        problem = {
            "type": "about:blank",
            "title": response.reason_phrase or f"HTTP {status}",
            "status": status,
            "detail": response.text[:_MAX_TEXT_DETAIL] or None,
        }
    fields: dict[str, Any] = {
        "status": status,
        "code": _str_or_none(problem.get("code")),
        "detail": _str_or_none(problem.get("detail")),
        "title": _str_or_none(problem.get("title")),
        "request_id": _str_or_none(problem.get("request_id"))
        or response.headers.get("X-Request-ID"),
        "problem": problem,
        "headers": response.headers,
    }
    cls = error_class_for_status(status)
    if cls is RateLimited:
        return RateLimited(
            retry_after=_parse_retry_after(response.headers.get("Retry-After")), **fields
        )
    return cls(**fields)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
