"""API keys: format, entropy, hashing and scope parsing (no database)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from geopera_stac_ext.auth.guard import bearer_token
from geopera_stac_ext.auth.keys import (
    DEFAULT_SCOPES,
    PREFIX,
    SCOPES,
    display_prefix,
    generate_key,
    hash_key,
    parse_scopes,
)
from geopera_stac_ext.core.errors import Unauthenticated


def random_part(key: str) -> bytes:
    body = key[len(PREFIX):]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_key_is_prefix_plus_at_least_32_random_bytes():
    key = generate_key()
    assert key.startswith("gpra_")
    assert len(random_part(key)) >= 32
    # url-safe: usable in a header and a shell without quoting.
    assert set(key[len(PREFIX):]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_keys_do_not_repeat_and_look_random():
    keys = {generate_key() for _ in range(2000)}
    assert len(keys) == 2000
    # Every byte value position varies: no fixed padding or counter inside the random part.
    parts = [random_part(k) for k in list(keys)[:200]]
    for i in range(32):
        assert len({p[i] for p in parts}) > 50


def test_hash_is_sha256_of_the_whole_key_and_not_the_key():
    key = generate_key()
    digest = hash_key(key)
    assert digest == hashlib.sha256(key.encode()).digest()
    assert len(digest) == 32
    assert key.encode() not in digest and random_part(key) not in digest
    assert hash_key(key) != hash_key(key + "x")


def test_display_prefix_reveals_only_a_few_characters():
    key = generate_key()
    shown = display_prefix(key)
    assert key.startswith(shown) and len(shown) == len(PREFIX) + 6


def test_default_scopes_are_all_four():
    assert parse_scopes(None) == list(SCOPES) == list(DEFAULT_SCOPES)
    assert set(SCOPES) == {"items:read", "items:write", "collections:read",
                           "collections:write"}


def test_scopes_are_parsed_deduplicated_and_ordered():
    assert parse_scopes("collections:read, items:read,items:read") == [
        "items:read", "collections:read"]
    assert parse_scopes("items:write items:read") == ["items:read", "items:write"]


@pytest.mark.parametrize("text", ["items:fly", "items:read,admin", "ITEMS:READ", "*"])
def test_unknown_scopes_are_refused_by_name(text):
    with pytest.raises(ValueError) as err:
        parse_scopes(text)
    assert "unknown scope" in str(err.value) and "items:read" in str(err.value)


@pytest.mark.parametrize("text", ["", "  ", ",", " , "])
def test_explicitly_empty_scopes_are_refused_not_widened(text):
    with pytest.raises(ValueError) as err:
        parse_scopes(text)
    assert "at least one scope" in str(err.value)


@pytest.mark.parametrize("header,ok", [
    ("Bearer gpra_abc", True), ("bearer gpra_abc", True), ("Bearer  gpra_abc ", True),
    (None, False), ("", False), ("Bearer", False), ("Token gpra_abc", False),
    ("Bearer abc", False), ("gpra_abc", False),
])
def test_bearer_token_parsing(header, ok):
    if ok:
        assert bearer_token(header) == "gpra_abc"
    else:
        with pytest.raises(Unauthenticated) as err:
            bearer_token(header)
        assert err.value.status == 401
        assert "gpra_abc" not in err.value.detail  # never echo what the caller sent
