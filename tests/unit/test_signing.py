"""Local URL signing: the generated per-home secret, HMAC round trip, tampering and expiry."""

from __future__ import annotations

import stat
import uuid

import pytest

from geopera_stac_ext.core.errors import Forbidden
from geopera_stac_ext.core.settings import Settings
from geopera_stac_ext.storage import signing
from geopera_stac_ext.storage.local import RangeNotSatisfiable, parse_range


def test_generated_secret_is_private_stable_and_per_home(tmp_path):
    a = Settings(home=tmp_path / "a")
    key = signing.signing_secret(a)
    path = tmp_path / "a" / "signing-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32 and path.read_text().strip().encode() == key
    signing._SECRETS.clear()  # a restarted process reads the same file
    assert signing.signing_secret(Settings(home=tmp_path / "a")) == key
    assert signing.signing_secret(Settings(home=tmp_path / "b")) != key


def test_configured_secret_wins_and_never_appears_in_the_url(tmp_path):
    s = Settings(home=tmp_path, signing_secret="configured-secret-value")
    assert signing.signing_secret(s) == b"configured-secret-value"
    assert not (tmp_path / "signing-key").exists()
    asset, grant = str(uuid.uuid4()), str(uuid.uuid4())
    path = signing.sign_path(b"configured-secret-value", asset, grant, 2_000_000_000,
                             "dir/My scene (1).tif")
    assert "configured-secret-value" not in path
    assert path.endswith("/My_scene_1_.tif")


def test_verify_round_trip_tampering_and_expiry():
    secret = b"k" * 40
    asset, grant = str(uuid.uuid4()), str(uuid.uuid4())
    token = signing.sign_path(secret, asset, grant, 1000, "a.tif")[len("/download/"):]
    got = signing.verify(secret, token, 999.0)
    assert (got.asset_id, got.grant_id, got.expires) == (asset, grant, 1000)
    with pytest.raises(Forbidden, match="expired"):
        signing.verify(secret, token, 1000.0)
    with pytest.raises(Forbidden, match="signature"):
        signing.verify(b"x" * 40, token, 999.0)
    with pytest.raises(Forbidden, match="signature"):
        signing.verify(secret, token.replace("/1000/", "/1001/"), 999.0)


@pytest.mark.parametrize("header,size,expected", [
    (None, 10, None), ("bytes=0-0", 10, (0, 0)), ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)), ("bytes=8-", 10, (8, 9)), ("bytes=3-2", 10, None),
    ("bytes=1-2,4-5", 10, None), ("lines=1-2", 10, None), ("bytes=-", 10, None),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=-1", 0)])
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range(header, size)
    assert e.value.headers["Content-Range"] == f"bytes */{size}"
