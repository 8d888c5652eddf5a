"""V4 signed GCS GET URLs for gs:// hrefs, computed offline with a service-account RSA key."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from geopera_stac_ext.errors import ServiceUnavailable
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


def string_to_sign(uri: str, query: str, scope: str, stamp: str) -> bytes:
    canonical = "\n".join(["GET", uri, query, f"host:{HOST}", "", "host", "UNSIGNED-PAYLOAD"])
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return "\n".join([ALGORITHM, stamp, scope, digest]).encode()


def presign(settings: Any, href: str, ttl: int, now: datetime) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if not 1 <= ttl <= 604800:
        raise ValueError("GCS V4 URLs are valid 1 s to 7 days")
    bucket, name = split(href)
    email, key = service_account(settings)
    uri, query, scope, stamp = canonical_parts(bucket, name, email, now, ttl)
    signature = key.sign(string_to_sign(uri, query, scope, stamp), padding.PKCS1v15(),
                         hashes.SHA256()).hex()
    return f"https://{HOST}{uri}?{query}&X-Goog-Signature={signature}"
