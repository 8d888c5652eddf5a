"""Exception hierarchy for the Geopera client, carrying RFC 9457 problem documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "GeoperaError",
    "ConfigurationError",
    "TransportError",
    "APIError",
    "InvalidRequest",
    "AuthenticationError",
    "PaymentRequired",
    "PermissionDenied",
    "NotFound",
    "Conflict",
    "Gone",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "error_class_for_status",
]


class GeoperaError(Exception):
    """Base class for every error raised by the Geopera client."""

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        title: str | None = None,
        request_id: str | None = None,
        problem: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.request_id = request_id
        self.problem: dict[str, Any] = problem if problem is not None else {}
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        super().__init__(message if message is not None else self._format())

    def _format(self) -> str:
        head = " ".join(str(p) for p in (self.status, self.code or self.title) if p)
        text = f"{head}: {self.detail}" if head and self.detail else head or self.detail or ""
        if self.request_id:
            text = f"{text} (request_id={self.request_id})"
        return text


class ConfigurationError(GeoperaError):
    """The client was constructed with missing or invalid settings."""


class TransportError(GeoperaError):
    """The request never produced an HTTP response (DNS, connect, TLS, timeout...)."""


class APIError(GeoperaError):
    """The server answered with a non-2xx status."""


class InvalidRequest(APIError):
    """400: the request was malformed or failed validation."""


class AuthenticationError(APIError):
    """401: the API key is missing, invalid or revoked."""


class PaymentRequired(APIError):
    """402: the account lacks credit or an entitlement for this operation."""


class PermissionDenied(APIError):
    """403: the key is valid but not allowed to do this."""


class NotFound(APIError):
    """404: the addressed resource does not exist (or is not visible to this tenant)."""


class Conflict(APIError):
    """409: the request conflicts with the current state of the resource."""


class Gone(APIError):
    """410: the resource existed but has been removed."""


class PayloadTooLarge(APIError):
    """413: the request body exceeds the server limit."""


class RateLimited(APIError):
    """429: too many requests; `retry_after` is the server's hint in seconds, if any."""

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(APIError):
    """5xx: the server failed to handle a request it accepted."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    402: PaymentRequired,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    429: RateLimited,
}


def error_class_for_status(status: int) -> type[APIError]:
    """Return the exception class that represents an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)
