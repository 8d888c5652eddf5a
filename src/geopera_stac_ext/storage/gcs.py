"""V4 signed GCS GET URLs for gs:// hrefs, computed offline with a service-account RSA key."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from geopera_stac_ext.core.errors import NotFound, ServiceUnavailable
from geopera_stac_ext.storage.hrefs import split_object_url

HOST = "storage.googleapis.com"
ALGORITHM = "GOOG4-RSA-SHA256"


def split(href: str) -> tuple[str, str]:
    return split_object_url(href, "gs", "object")


@lru_cache(maxsize=4)
def _load_account(path: str, mtime: float) -> tuple[str, Any]:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    info = json.loads(Path(path).read_text())
    key = load_pem_private_key(info["private_key"].encode(), password=None)
    return info["client_email"], key


def service_account(settings: Any) -> tuple[str, Any]:
    path = settings.gcs_credentials_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        raise ServiceUnavailable("GCS credentials are not configured on the server "
                                 "(GEOPERA_GCS_CREDENTIALS_FILE or GOOGLE_APPLICATION_CREDENTIALS)")
    try:
        return _load_account(str(path), Path(path).stat().st_mtime)
    except (OSError, ValueError, KeyError):
        # NOTE: never echo the file's content: it holds the private key.
        raise ServiceUnavailable("the GCS service-account file cannot be read or is not a "
                                 "service-account key") from None


def endpoint(settings: Any) -> tuple[str, str]:
    """(scheme, host) of the XML API: Google's, or GEOPERA_GCS_ENDPOINT_URL (an emulator)."""
    url = getattr(settings, "gcs_endpoint_url", None)
    if not url:
        return "https", HOST
    u = urlparse(url)
    return u.scheme or "https", u.netloc


def canonical_parts(bucket: str, name: str, email: str, when: datetime, ttl: int
                    ) -> tuple[str, str, str, str]:
    """(canonical URI, canonical query, scope, timestamp) per Google's V4 signing process."""
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{stamp[:8]}/auto/storage/goog4_request"
    uri = "/" + quote(bucket, safe="") + "/" + quote(name, safe="/~")
    params = {
        "X-Goog-Algorithm": ALGORITHM,
        "X-Goog-Credential": f"{email}/{scope}",
        "X-Goog-Date": stamp,
        "X-Goog-Expires": str(ttl),
        "X-Goog-SignedHeaders": "host",
    }
    query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}"
                     for k, v in sorted(params.items()))
    return uri, query, scope, stamp


def string_to_sign(uri: str, query: str, scope: str, stamp: str, method: str = "GET",
                   host: str = HOST) -> bytes:
    canonical = "\n".join([method, uri, query, f"host:{host}", "", "host", "UNSIGNED-PAYLOAD"])
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return "\n".join([ALGORITHM, stamp, scope, digest]).encode()


def presign(settings: Any, href: str, ttl: int, now: datetime, method: str = "GET") -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if not 1 <= ttl <= 604800:
        raise ValueError("GCS V4 URLs are valid 1 s to 7 days")
    bucket, name = split(href)
    email, key = service_account(settings)
    scheme, host = endpoint(settings)
    uri, query, scope, stamp = canonical_parts(bucket, name, email, now, ttl)
    signature = key.sign(string_to_sign(uri, query, scope, stamp, method, host),
                         padding.PKCS1v15(), hashes.SHA256()).hex()
    return f"{scheme}://{host}{uri}?{query}&X-Goog-Signature={signature}"


async def object_size(settings: Any, href: str, now: datetime) -> int:
    """The object's real size: a HEAD through a V4-signed URL (the same credentials)."""
    import httpx

    url = presign(settings, href, 60, now, method="HEAD")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.head(url)
    except httpx.HTTPError as e:
        raise ServiceUnavailable(f"cannot reach the GCS store: {type(e).__name__}") from None
    if resp.status_code == 404:
        raise NotFound(f"the object {href} does not exist in its bucket")
    length = resp.headers.get("content-length")
    if resp.status_code != 200 or length is None or not length.isdigit():
        raise ServiceUnavailable(f"the GCS store refused to describe the object "
                                 f"(HTTP {resp.status_code})")
    return int(length)
