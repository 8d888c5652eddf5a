"""Python client for the Geopera imagery catalog op API."""

from geopera.client import DEFAULT_BASE_URL, Geopera, __version__
from geopera.signing import sign_inplace
from geopera.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    Conflict,
    GeoperaError,
    Gone,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    error_class_for_status,
)

__all__ = [
    "__version__",
    "DEFAULT_BASE_URL",
    "Geopera",
    "sign_inplace",
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
