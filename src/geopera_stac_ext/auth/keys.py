"""API keys: `gpra_` + 256 random bits, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "gpra_"
SCOPES = ("items:read", "items:write", "collections:read", "collections:write")
DEFAULT_SCOPES = SCOPES


def generate_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(raw: str) -> bytes:
    return hashlib.sha256(raw.encode("utf-8")).digest()


def display_prefix(raw: str) -> str:
    """The first characters of a key: enough to recognise it in a listing, useless to an attacker."""
    return raw[: len(PREFIX) + 6]


def parse_scopes(text: str | None) -> list[str]:
    if text is None:
        return list(DEFAULT_SCOPES)
    scopes = [s.strip() for s in text.replace(" ", ",").split(",") if s.strip()]
    if not scopes:
        # NOTE: an explicitly empty list must not silently become "all scopes".
        raise ValueError(f"give at least one scope; valid: {', '.join(SCOPES)}")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; valid: {', '.join(SCOPES)}")
    return sorted(set(scopes), key=SCOPES.index)
