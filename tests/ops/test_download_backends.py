"""S3 presigned URLs end to end (moto's S3 server on loopback) and offline GCS V4 signing.

NOTE: moto stands in for AWS S3 and a generated key for a Google service account: both clouds
are outside this machine. The S3 test fetches the presigned URL over real HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote, urlparse

import httpx
import pytest
from conftest import _free_port, create_item, ok, op, problem
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from gcs_loopback import gcs_server

from geopera_stac_ext.storage import buckets


def asset_of(db, item_id: str) -> str:
    return db(lambda c: c.fetchval(
        "SELECT id::text FROM geopera.assets WHERE item_id = $1 AND key = 'data'", item_id))


@pytest.fixture
def s3_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_s3_presigned_url_downloads_the_object_bytes(client, db, settings, world, s3_server):
    import boto3

    settings.s3_endpoint_url = s3_server
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket="imagery")
    payload = os.urandom(70_000)
    s3.put_object(Bucket="imagery", Key="deliveries/may/scene 1.tif", Body=payload)
    db(lambda c: buckets.allow_bucket(c, world.org_a, None, "s3://imagery/deliveries/"))
    item = create_item(client, world["editor"], world.project_a1, assets=[
        {"key": "data", "href": "s3://imagery/deliveries/may/scene 1.tif",
         "media_type": "image/tiff", "file_size_bytes": len(payload)}])
    body = ok(op(client, "items.asset.download", world["viewer"], item_id=item["id"],
                 asset_id=asset_of(db, item["id"])))
    assert body["expires_in_seconds"] == 900 and body["size_bytes"] == len(payload)
    url = urlparse(body["url"])
    query = dict(parse_qsl(url.query))
    assert url.netloc == urlparse(s3_server).netloc
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Signature"]
    assert "testing-secret-key" not in body["url"]
    got = httpx.get(body["url"])
    assert got.status_code == 200 and got.content == payload
    # NOTE: moto's server does not verify SigV4 signatures, so forgery is not tested here;
    # the signing itself is botocore's.
    ranged = httpx.get(body["url"], headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == payload[10:20]


def test_s3_without_credentials_is_503_not_500(client, db, settings, world, monkeypatch,
                                               tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings.s3_endpoint_url = "http://127.0.0.1:9/no-credentials-test"
    item = create_item(client, world["editor"], world.project_a1)  # s3://bucket/scene.tif
    resp = op(client, "items.asset.download", world["viewer"], item_id=item["id"],
              asset_id=asset_of(db, item["id"]))
    body = problem(resp, 503)
    assert "credentials" in body["detail"]
    # a refused signature must not leave a ledger row behind (same transaction)
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.egress_ledger")) == 0


@pytest.fixture
def gcs_account(tmp_path, settings):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "geopera-test",
            "private_key_id": "k1", "private_key": pem,
            "client_email": "signer@geopera-test.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token"}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    settings.gcs_credentials_file = path
    return info, key.public_key()


def _gcs_string_to_sign(url: str) -> tuple[bytes, bytes]:
    """Recompute Google's V4 string-to-sign from the URL alone (independent of the service)."""
    u = urlparse(url)
    pairs = [(k, v) for k, v in parse_qsl(u.query) if k != "X-Goog-Signature"]
    sig = dict(parse_qsl(u.query))["X-Goog-Signature"]
    canonical_query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}"
                               for k, v in sorted(pairs))
    canonical = "\n".join(["GET", u.path, canonical_query, f"host:{u.netloc}", "", "host",
                           "UNSIGNED-PAYLOAD"])
    q = dict(pairs)
    scope = q["X-Goog-Credential"].split("/", 1)[1]
    sts = "\n".join(["GOOG4-RSA-SHA256", q["X-Goog-Date"], scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    return sts.encode(), bytes.fromhex(sig)


def test_gcs_v4_url_shape_expiry_and_verifiable_signature(client, db, world, clock,
                                                          gcs_account, settings):
    info, public = gcs_account
    clock.now = datetime(2026, 5, 18, 10, 30, 0, tzinfo=timezone.utc)
    db(lambda c: buckets.allow_bucket(c, world.org_a, None, "gs://geopera-imagery/"))
    item = create_item(client, world["editor"], world.project_a1, assets=[
        {"key": "data", "href": "gs://geopera-imagery/may/scene 1+x.tif",
         "media_type": "image/tiff", "file_size_bytes": 12}])
    # NOTE: the size is asked of the store (a signed HEAD): a loopback stand-in for GCS.
    with gcs_server(public, {"geopera-imagery/may/scene 1+x.tif": b"x" * 12}) as (url, _):
        settings.gcs_endpoint_url = url
        body = ok(op(client, "items.asset.download", world["viewer"], item_id=item["id"],
                     asset_id=asset_of(db, item["id"])))
    u = urlparse(body["url"])
    q = dict(parse_qsl(u.query))
    assert (u.scheme, u.netloc) == ("http", urlparse(url).netloc)
    assert u.path == "/geopera-imagery/may/scene%201%2Bx.tif"
    assert q["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert q["X-Goog-Expires"] == "900" and body["expires_in_seconds"] == 900
    assert q["X-Goog-Date"] == "20260518T103000Z"
    assert q["X-Goog-Credential"] == (f"{info['client_email']}/20260518/auto/storage/"
                                      "goog4_request")
    assert q["X-Goog-SignedHeaders"] == "host"
    assert len(q["X-Goog-Signature"]) == 512  # RSA-2048 signature, hex
    sts, sig = _gcs_string_to_sign(body["url"])
    public.verify(sig, sts, padding.PKCS1v15(), hashes.SHA256())
    # stretching the expiry breaks the signature
    longer, _ = _gcs_string_to_sign(body["url"].replace("X-Goog-Expires=900",
                                                        "X-Goog-Expires=604800"))
    with pytest.raises(InvalidSignature):
        public.verify(sig, longer, padding.PKCS1v15(), hashes.SHA256())
    assert info["private_key"].split("\n")[1] not in body["url"]


def test_gcs_without_credentials_is_503(client, db, world, monkeypatch, settings):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    settings.gcs_credentials_file = None
    item = create_item(client, world["editor"], world.project_a1, assets=[
        {"key": "data", "href": "gs://b/o.tif"}])
    body = problem(op(client, "items.asset.download", world["viewer"], item_id=item["id"],
                      asset_id=asset_of(db, item["id"])), 503)
    assert "GCS credentials" in body["detail"]
