"""Which asset hrefs the catalog accepts: remote object stores, or files inside the storage root."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from geopera_stac_ext.errors import InvalidRequest

REMOTE_SCHEMES = ("s3", "gs", "http", "https")


def local_path(storage_dir: Path, href: str) -> Path | None:
    """The file a local href names, or None for a remote href. Raises for hrefs outside the root."""
    parsed = urlparse(href)
    if parsed.scheme in REMOTE_SCHEMES:
        if not parsed.netloc:
            raise InvalidRequest(f"asset href {href!r} has no bucket/host")
        return None
    if parsed.scheme == "file":
        raw = unquote(parsed.path)
    elif parsed.scheme == "":
        raw = href
    else:
        raise InvalidRequest(
            f"asset href scheme {parsed.scheme!r} is not supported; use a path inside the "
            f"storage root, file://, s3://, gs:// or https://")
    root = storage_dir.resolve()
    candidate = Path(raw)
    full = (candidate if candidate.is_absolute() else root / candidate).resolve()
    # NOTE: resolve() follows symlinks and '..', so a link pointing outside is caught too.
    if full != root and root not in full.parents:
        raise InvalidRequest(
            f"asset href {href!r} points outside the storage root; local assets must live "
            "under GEOPERA_STORAGE_DIR")
    return full


def split_object_url(href: str, scheme: str, noun: str) -> tuple[str, str]:
    """(bucket, object name) of `scheme://bucket/name`; 400 naming the expected form."""
    u = urlparse(href)
    name = u.path.lstrip("/")
    if u.scheme != scheme or not u.netloc or not name:
        raise InvalidRequest(f"asset href {href!r} is not of the form {scheme}://bucket/{noun}")
    return u.netloc, name


def check_href(storage_dir: Path, href: str) -> None:
    if not href or len(href) > 2048:
        raise InvalidRequest("asset href must be 1–2048 characters")
    local_path(storage_dir, href)
