"""Bucket authority: only operator-granted s3:// and gs:// buckets (and prefixes) can be
referenced and signed, and the egress ledger records the store's real object size.

NOTE: moto's S3 server stands in for AWS S3 (outside this machine); the S3 calls are real
HTTP against it. GCS is played by tests/gcs_loopback.py, which verifies V4 signatures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import _free_port, make_actor, ok, op, problem
from cryptography.hazmat.primitives.asymmetric import rsa

from geopera_stac_ext.core.settings import dsn_from_env
from geopera_stac_ext.storage import buckets

CLI = str(Path(sys.executable).parent / "geopera-stac")


def _asset(href: str, size: int | None = 1) -> list[dict]:
    return [{"key": "data", "href": href, "media_type": "image/tiff", "file_size_bytes": size}]


def _aid(db, item_id: str) -> str:
    return db(lambda c: c.fetchval(
        "SELECT id::text FROM geopera.assets WHERE item_id = $1 AND key = 'data'", item_id))


def _create(client, actor, project, href, size=1):
    return op(client, "items.create", actor, project_id=project, name="x",
              geometry={"type": "Point", "coordinates": [1, 2]}, assets=_asset(href, size))


@pytest.fixture
def s3_server(monkeypatch, settings):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings.s3_endpoint_url = f"http://127.0.0.1:{port}"
    yield settings.s3_endpoint_url
    server.stop()


def test_a_bucket_nobody_granted_is_refused_at_create(client, world):
    for href in ("s3://victim-bucket/private/x.tif", "gs://victim-bucket/private/x.tif"):
        body = problem(_create(client, world["outsider"], world.project_b1, href), 400)
        assert body["errors"][0]["field"] == "assets[0].href"
        assert "victim-bucket" in body["detail"] and "allow-bucket" in body["detail"]


def test_a_prefix_grant_covers_only_its_prefix(client, db, world):
    db(lambda c: buckets.allow_bucket(c, world.org_b, None, "s3://shared/org-b"))
    ok(_create(client, world["outsider"], world.project_b1, "s3://shared/org-b/x.tif"))
    for href in ("s3://shared/org-a/x.tif", "s3://shared/org-bx/x.tif",
                 "s3://shared/org-b/../org-a/x.tif", "s3://shared/org-b/./x.tif",
                 "s3://shared/org-b//x.tif", "gs://shared/org-b/x.tif", "s3://shared/x.tif"):
        problem(_create(client, world["outsider"], world.project_b1, href), 400)
    # org A's grants do not extend to org B and vice versa
    problem(_create(client, world["owner"], world.project_a1, "s3://shared/org-b/x.tif"), 400)


def test_a_duplicate_into_an_org_without_the_bucket_is_400(client, db, world):
    db(lambda c: buckets.allow_bucket(c, world.org_a, None, "s3://a-only/"))
    item = ok(_create(client, world["owner"], world.project_a1, "s3://a-only/x.tif"))["item"]
    both = db(lambda c: make_actor(c, "both@x.example", [("project", world.project_a1, "viewer"),
                                                          ("org", world.org_b, "editor")]))
    body = problem(op(client, "items.duplicate", both, item_id=item["id"],
                      target_project_id=world.project_b1), 400)
    assert "a-only" in body["detail"]
    assert ok(op(client, "items.list", both, project_id=world.project_b1))["total"] == 0


def test_a_revoked_bucket_is_refused_at_download(client, db, world, s3_server):
    db(lambda c: buckets.allow_bucket(c, world.org_a, None, "s3://revoked/"))
    item = ok(_create(client, world["owner"], world.project_a1, "s3://revoked/x.tif"))["item"]
    db(lambda c: buckets.disallow_bucket(c, world.org_a, None, "s3://revoked/"))
    body = problem(op(client, "items.asset.download", world["owner"], item_id=item["id"],
                      asset_id=_aid(db, item["id"])), 400)
    assert "revoked" in body["detail"]
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.egress_ledger")) == 0


def test_egress_ledger_records_the_s3_objects_real_size(client, db, world, s3_server):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket="sized")
    payload = os.urandom(70_000)
    s3.put_object(Bucket="sized", Key="big.tif", Body=payload)
    db(lambda c: buckets.allow_bucket(c, world.org_a, None, "s3://sized/"))
    # The client declares 1 byte; the breaker must see 70 000.
    item = ok(_create(client, world["owner"], world.project_a1, "s3://sized/big.tif", 1))["item"]
    body = ok(op(client, "items.asset.download", world["owner"], item_id=item["id"],
                 asset_id=_aid(db, item["id"])))
    assert body["size_bytes"] == len(payload)
    assert db(lambda c: c.fetchval("SELECT bytes FROM geopera.egress_ledger")) == len(payload)
    # A granted key that does not exist in the bucket: 404, nothing ledgered.
    missing = ok(_create(client, world["owner"], world.project_a1, "s3://sized/none.tif"))["item"]
    problem(op(client, "items.asset.download", world["owner"], item_id=missing["id"],
               asset_id=_aid(db, missing["id"])), 404)
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.egress_ledger")) == 1


def test_egress_ledger_records_the_gcs_objects_real_size(client, db, world, settings, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from gcs_loopback import gcs_server

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    sa = tmp_path / "sa.json"
    sa.write_text(json.dumps({"type": "service_account", "private_key": pem,
                              "client_email": "signer@t.iam.gserviceaccount.com"}))
    settings.gcs_credentials_file = sa
    db(lambda c: buckets.allow_bucket(c, world.org_a, None, "gs://gbucket/"))
    item = ok(_create(client, world["owner"], world.project_a1, "gs://gbucket/o.tif", 1))["item"]
    with gcs_server(key.public_key(), {"gbucket/o.tif": b"z" * 4321}) as (url, seen):
        settings.gcs_endpoint_url = url
        body = ok(op(client, "items.asset.download", world["owner"], item_id=item["id"],
                     asset_id=_aid(db, item["id"])))
    assert body["size_bytes"] == 4321
    assert [s[0] for s in seen] == ["HEAD"] and seen[0][2] == 200  # signature verified
    assert db(lambda c: c.fetchval("SELECT bytes FROM geopera.egress_ledger")) == 4321


def test_admin_bucket_commands_through_the_cli(db_env, world, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GEOPERA_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL=dsn_from_env(db_env), GEOPERA_HOME=str(tmp_path / "home"))

    def cli(*args: str, expect: int = 0):
        res = subprocess.run([CLI, "admin", *args], env=env, capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == expect, (args, res.stdout, res.stderr)
        return json.loads(res.stdout) if expect == 0 else res.stderr

    grant = cli("allow-bucket", "--org", world.org_b, "--url", "s3://cli-bucket/deliveries")
    assert grant["url"] == "s3://cli-bucket/deliveries/" and grant["org_id"] == world.org_b
    listed = cli("list-buckets", "--org", world.org_b)
    assert "s3://cli-bucket/deliveries/" in [g["url"] for g in listed]
    assert cli("disallow-bucket", "--org", world.org_b, "--url",
               "s3://cli-bucket/deliveries/")["removed"] == 1
    assert "s3://cli-bucket/deliveries/" not in [
        g["url"] for g in cli("list-buckets", "--org", world.org_b)]
    for bad in ("https://x/y", "s3://Bad_Bucket/", "s3://b/../x/", "s3://"):
        err = cli("allow-bucket", "--org", world.org_b, "--url", bad, expect=2)
        assert err.startswith("geopera-stac: error:") and len(err.strip().splitlines()) == 1
