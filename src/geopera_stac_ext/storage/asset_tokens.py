"""Embeddable asset URLs: a short-lived HMAC token bound to (API key, asset, expiry) in the query."""

from __future__ import annotations

import hmac
import math
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from geopera_stac_ext.core.errors import Unauthenticated
from geopera_stac_ext.storage.signing import signing_secret

# NOTE: RFC 6750's name for a bearer credential in a URI query; logredact.py redacts it.
TOKEN_PARAM = "access_token"
TOKEN_TTL_SECONDS = 900
# NOTE: expiries are rounded up to this step, so one key's URL of one asset stays the same for
# 5 minutes (browsers and STAC Browser cache the thumbnail) and lives 15-20 minutes.
TOKEN_STEP_SECONDS = 300
# Asset roles whose hrefs carry a token: what browsers embed with <img src> (no headers).
EMBED_ROLES = frozenset({"thumbnail", "overview"})
_DOMAIN = "geopera-asset-token-v1"


def _mac(secret: bytes, key_id: str, asset_id: str, expires: int) -> str:
    message = f"{_DOMAIN}\n{key_id}\n{asset_id}\n{expires}".encode()
    # NOTE: the one-shot C digest: a page of 100 items signs 100 thumbnails.
    digest = hmac.digest(secret, message, "sha256")
    return urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_expiry(now_epoch: float) -> int:
    return math.ceil((now_epoch + TOKEN_TTL_SECONDS) / TOKEN_STEP_SECONDS) * TOKEN_STEP_SECONDS


@lru_cache(maxsize=16384)
def make_token(secret: bytes, key_id: str, asset_id: str, expires: int) -> str:
    """`<key id>.<expiry, epoch s>.<HMAC-SHA256>`: only this server can mint one.

    NOTE: cached: expiries step every 5 minutes, so a key paging through results asks for the
    same tokens again (a page of 100 items signs 100 thumbnails)."""
    return f"{key_id}.{expires}.{_mac(secret, key_id, asset_id, expires)}"


@dataclass(frozen=True)
class HrefSigner:
    """Mints the tokens of one response: the caller's key, one expiry for every asset."""

    secret: bytes
    key_id: str
    expires: int

    def query(self, asset_id: str) -> str:
        return f"?{TOKEN_PARAM}={make_token(self.secret, self.key_id, asset_id, self.expires)}"


def href_signer(settings: Any, principal: Any, now_epoch: float) -> HrefSigner | None:
    """The signer for a response to `principal` (None without a key: nothing is signed)."""
    key_id = getattr(principal, "key_id", None)
    if not key_id:
        return None
    return HrefSigner(signing_secret(settings), str(key_id), token_expiry(now_epoch))


def verify_token(secret: bytes, token: str, asset_id: str, now_epoch: float) -> str:
    """The key id a valid, unexpired token for `asset_id` was minted for; 401 otherwise.

    NOTE: one message for every failure (tampered, another asset's, expired, malformed), and
    the token itself is never echoed: it is a credential.
    """
    bad = Unauthenticated("this asset URL's access token is invalid or expired; fetch the item "
                          "again for a fresh URL, or send `Authorization: Bearer gpra_…`")
    parts = token.split(".")
    if len(token) > 200 or len(parts) != 3:
        raise bad
    key_id, expires_s, mac = parts
    try:
        key_id = str(uuid.UUID(key_id))
        expires = int(expires_s)
    except ValueError:
        raise bad from None
    expected = _mac(secret, key_id, asset_id, expires)
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise bad
    if now_epoch >= expires:
        raise bad
    return key_id
