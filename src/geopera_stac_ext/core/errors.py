"""One exception hierarchy, rendered as RFC 9457 application/problem+json."""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://geopera.dev/problems/"


class SetupError(RuntimeError):
    """The service cannot start (missing PostgreSQL/PostGIS, bad configuration)."""


class GeoperaError(Exception):
    """Base of every error a request can end with."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)

    def problem(self, instance: str, request_id: str) -> dict[str, Any]:
        return {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "code": self.code,
            "request_id": request_id,
            **self.extra,
        }


class InvalidRequest(GeoperaError):
    status, code, title = 400, "invalid_request", "Invalid request"


class Unauthenticated(GeoperaError):
    status, code, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="geopera"'})
        super().__init__(detail, **kw)


class PaymentRequired(GeoperaError):
    status, code, title = 402, "payment_required", "Payment required"


class Forbidden(GeoperaError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(GeoperaError):
    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(GeoperaError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(GeoperaError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(GeoperaError):
    status, code, title = 410, "gone", "Gone"


class PayloadTooLarge(GeoperaError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(GeoperaError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class RateLimited(GeoperaError):
    status, code, title = 429, "rate_limited", "Too many requests"


class InternalError(GeoperaError):
    status, code, title = 500, "internal_error", "Internal server error"


class ServiceUnavailable(GeoperaError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class TransientConflict(ServiceUnavailable):
    """The database aborted the transaction to break a deadlock or a serialization conflict:
    nothing was changed, and running the request again is safe."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


BY_STATUS: dict[int, type[GeoperaError]] = {
    cls.status: cls
    for cls in (InvalidRequest, Unauthenticated, PaymentRequired, Forbidden, NotFound,
                MethodNotAllowed, Conflict, Gone, PayloadTooLarge, UnsupportedMediaType,
                RateLimited, InternalError, ServiceUnavailable)
}


def for_status(status: int) -> type[GeoperaError]:
    """The error class for an HTTP status (generic client/server error when unknown)."""
    if status in BY_STATUS:
        return BY_STATUS[status]
    return InvalidRequest if 400 <= status < 500 else InternalError
