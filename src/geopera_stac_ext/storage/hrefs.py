"""Which asset hrefs the catalog accepts: object-store URLs, or files inside a project's area."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from geopera_stac_ext.core.errors import InvalidRequest

REMOTE_SCHEMES = ("s3", "gs", "http", "https")
SIGNED_SCHEMES = ("s3", "gs")
# NOTE: every project's local files live under <storage root>/projects/<project id>/ (its
# "area"); a local href is a path inside the area of the project that first registered it.
AREA_DIR = "projects"
# The FROM clause (alias `a`) that adds `area`: the project whose area holds an asset's file,
# i.e. the project of the asset's origin (a duplicate re-points at its source's stored file).
AREA_SQL = """(SELECT oi.project_id FROM geopera.assets o JOIN geopera.items oi ON oi.id = o.item_id
     WHERE o.id = coalesce(a.origin_id, a.id)) AS area
FROM geopera.assets a"""
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def project_area(storage_dir: Path, project_id: object) -> Path:
    """The directory that holds one project's local files."""
    return storage_dir.resolve() / AREA_DIR / str(project_id)


def _syntax(href: str) -> None:
    if CONTROL.search(href):
        raise InvalidRequest(f"asset href {href!r} contains a control character")
    if "\\" in href:
        raise InvalidRequest(f"asset href {href!r} contains a backslash; use '/' between "
                             "path segments")


def _no_dot_segments(href: str, path: str) -> None:
    # NOTE: checked on the decoded path: '%2e%2e' in a file:// URL is '..' once unquoted.
    if any(seg in ("..", ".") for seg in path.split("/")):
        raise InvalidRequest(f"asset href {href!r} contains a '.' or '..' segment; name the "
                             "file by its plain path inside the project's storage area")


def local_path(storage_dir: Path, area_project_id: object, href: str) -> Path | None:
    """The file a local href names inside the project's area, or None for a remote href.

    Raises InvalidRequest (400) for anything that would leave the area: '..', absolute paths
    elsewhere, symlinks pointing out of it, backslashes, control characters.
    """
    _syntax(href)
    parsed = urlparse(href)
    if parsed.scheme in REMOTE_SCHEMES:
        if not parsed.netloc:
            raise InvalidRequest(f"asset href {href!r} has no bucket/host")
        return None
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidRequest(f"asset href {href!r} names another host")
        raw = unquote(parsed.path)
        _syntax(raw)
    elif parsed.scheme == "":
        raw = href
    else:
        raise InvalidRequest(
            f"asset href scheme {parsed.scheme!r} is not supported; use a path inside the "
            f"project's storage area, file://, s3://, gs:// or https://")
    _no_dot_segments(href, raw)
    area = project_area(storage_dir, area_project_id)
    candidate = PurePosixPath(raw)
    full = Path(candidate if candidate.is_absolute() else area / candidate).resolve()
    # NOTE: resolve() follows symlinks, so a link pointing out of the area is caught too (also
    # at serve time, for a link swapped after the item was created).
    if area not in full.parents:
        raise InvalidRequest(
            f"asset href {href!r} points outside this project's storage area; local assets "
            f"are paths relative to {AREA_DIR}/<project id>/ under GEOPERA_STORAGE_DIR")
    return full


def split_object_url(href: str, scheme: str, noun: str) -> tuple[str, str]:
    """(bucket, object name) of `scheme://bucket/name`; 400 naming the expected form."""
    u = urlparse(href)
    name = u.path.lstrip("/")
    if u.scheme != scheme or not u.netloc or not name or u.query or u.fragment:
        raise InvalidRequest(f"asset href {href!r} is not of the form {scheme}://bucket/{noun}")
    return u.netloc, name


def object_parts(href: str) -> tuple[str, str, str] | None:
    """(scheme, bucket, key) of an s3:// or gs:// href (validated), None for other hrefs."""
    scheme = urlparse(href).scheme
    if scheme not in SIGNED_SCHEMES:
        return None
    bucket, key = split_object_url(href, scheme, "key" if scheme == "s3" else "object")
    _no_dot_segments(href, key)
    if "//" in key:
        raise InvalidRequest(f"asset href {href!r} has an empty path segment")
    return scheme, bucket, key


def check_href(storage_dir: Path, project_id: object, href: str) -> None:
    """Syntax and confinement of one asset href registered by `project_id` (400 when bad)."""
    if not href or len(href) > 2048:
        raise InvalidRequest("asset href must be 1–2048 characters")
    local_path(storage_dir, project_id, href)
    object_parts(href)
