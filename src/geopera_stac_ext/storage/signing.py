"""HMAC-signed local download URLs: /download/{asset}/{grant}/{expires}/{signature}/{filename}."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from geopera_stac_ext.core.errors import Forbidden
from geopera_stac_ext.core.secretfile import write_private

DOWNLOAD_PREFIX = "/download/"
ASSET_PREFIX = "/v1/assets"
TTL_SECONDS = 900
KEY_FILE = "signing-key"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SECRETS: dict[str, bytes] = {}


MIN_SECRET_BYTES = 32
# NOTE: placeholders that ship in examples and compose files; a deployment that keeps one
# signs URLs anybody can forge. Compared lowercased, so any spelling of them is refused.
_PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "replaceme",
                 "your-secret", "insecure", "default-secret", "example")


def secret_problem(value: str) -> str | None:
    """Why a configured signing secret must not be used, or None when it is acceptable."""
    raw = value.encode()
    if len(raw) < MIN_SECRET_BYTES:
        return (f"GEOPERA_SIGNING_SECRET is {len(raw)} bytes; use at least "
                f"{MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -base64 48`), or unset it "
                "to generate one per GEOPERA_HOME")
    low = value.lower()
    if len(set(raw)) < 8 or any(p in low for p in _PLACEHOLDERS):
        return ("GEOPERA_SIGNING_SECRET is a placeholder or default value; set a random one "
                "(e.g. `openssl rand -base64 48`) or unset it to generate one per GEOPERA_HOME")
    return None


def check_signing_secret(settings: Any, *, demo: bool = False) -> None:
    """Refuse a short or default configured secret at start-up (the demo may use any)."""
    from geopera_stac_ext.core.errors import SetupError

    if settings.signing_secret is None or demo:
        return
    problem = secret_problem(settings.signing_secret.get_secret_value())
    if problem is not None:
        raise SetupError(problem)


def signing_secret(settings: Any) -> bytes:
    """The configured secret, else a random one generated once into $GEOPERA_HOME/signing-key."""
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value().encode()
    path = Path(settings.home) / KEY_FILE
    cached = _SECRETS.get(str(path))
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    # NOTE: exclusive: two processes starting together cannot both write a different key.
    write_private(path, secrets.token_urlsafe(48), exclusive=True)
    value = path.read_text().strip().encode()
    if len(value) < 32:
        raise RuntimeError(f"{path} holds a signing key shorter than 32 characters")
    _SECRETS[str(path)] = value
    return value


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _message(asset_id: str, grant_id: str, expires: int) -> str:
    return f"geopera-download-v1\n{asset_id}\n{grant_id}\n{expires}"


@lru_cache(maxsize=65536)
def filename_for(href: str) -> str:
    """The asset's file name as URLs carry it (only [A-Za-z0-9._-]).

    NOTE: cached: every asset of every STAC page needs it, and hrefs repeat across pages.
    """
    base = href.rstrip("/").rsplit("/", 1)[-1]
    return _SAFE_NAME.sub("_", base)[:200] or "asset"


def asset_href(base_url: str, asset_id: str, storage_href: str) -> str:
    """`base_url` without a trailing slash. The absolute URL a key holder fetches an asset at (GET/HEAD /v1/assets/…); it ends in
    the asset's own filename so GDAL and browsers see the right extension."""
    # NOTE: filename_for keeps only [A-Za-z0-9._-], which URLs never escape: no quote() needed
    # (this runs for every asset of every search page).
    return f"{base_url}{ASSET_PREFIX}/{asset_id}/{filename_for(storage_href)}"


def sign_path(secret: bytes, asset_id: str, grant_id: str, expires: int, href: str) -> str:
    """The path part of a signed URL (the service's base URL goes in front)."""
    sig = _mac(secret, _message(asset_id, grant_id, expires))
    return (f"{DOWNLOAD_PREFIX}{asset_id}/{grant_id}/{expires}/{sig}/"
            f"{quote(filename_for(href))}")


@dataclass(frozen=True)
class Token:
    asset_id: str
    grant_id: str
    expires: int


def verify(secret: bytes, token: str, now_epoch: float) -> Token:
    """Check a /download/ token; any alteration or expiry is 403 (never says which part)."""
    parts = token.split("/")
    if len(parts) not in (4, 5):
        raise Forbidden("this download URL is malformed; request a new one with "
                        "items.asset.download")
    asset_id, grant_id, expires_s, sig = parts[:4]
    try:
        uuid.UUID(asset_id)
        uuid.UUID(grant_id)
        expires = int(expires_s)
    except ValueError:
        raise Forbidden("this download URL is malformed; request a new one with "
                        "items.asset.download") from None
    expected = _mac(secret, _message(asset_id, grant_id, expires))
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise Forbidden("this download URL's signature does not match; request a new one with "
                        "items.asset.download")
    if now_epoch >= expires:
        raise Forbidden("this download URL has expired (they are valid 900 s); request a new "
                        "one with items.asset.download")
    return Token(asset_id, grant_id, expires)


def signed_url(settings: Any, href: str, *, asset_id: str, grant_id: str, now: Any,
               base_url: str) -> str:
    """A URL that fetches the asset for TTL_SECONDS: ours for local files, the store's for
    s3:// and gs://; plain http(s) hrefs are public already and returned unchanged."""
    from urllib.parse import urlparse

    scheme = urlparse(href).scheme
    if scheme == "s3":
        from geopera_stac_ext.storage import s3

        return s3.presign(settings, href, TTL_SECONDS)
    if scheme == "gs":
        from geopera_stac_ext.storage import gcs

        return gcs.presign(settings, href, TTL_SECONDS, now)
    if scheme in ("http", "https"):
        return href
    expires = int(now.timestamp()) + TTL_SECONDS
    return base_url.rstrip("/") + sign_path(signing_secret(settings), asset_id, grant_id,
                                            expires, href)


async def object_size(settings: Any, href: str, now: Any) -> int:
    """The stored size of an s3:// or gs:// object, asked of the store (a HEAD request)."""
    from urllib.parse import urlparse

    if urlparse(href).scheme == "s3":
        from geopera_stac_ext.storage import s3

        return await s3.object_size(settings, href)
    from geopera_stac_ext.storage import gcs

    return await gcs.object_size(settings, href, now)
