"""No credentials in logs: a real download through uvicorn leaves no signature, signed path or
query signature in any log line (uvicorn's access log, ours, anything else)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from conftest import serving
from download_helpers import local_item

from geopera_stac_ext.app import create_app
from geopera_stac_ext.core.logredact import redact


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Collect]:
    handler = Collect()
    names = ("", "uvicorn.access", "uvicorn.error", "geopera_stac_ext.access", "httpx")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield handler
    for lg, level in zip(loggers, levels):
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_a_real_download_logs_no_signature(client, db, settings, world, db_env, clock,
                                           captured):
    item, asset_id, data = local_item(client, db, settings, world["editor"], world.project_a1)
    with serving(create_app(settings, pg_env=db_env, clock=clock), log_level="info") as base:
        key = {"Authorization": f"Bearer {world['viewer'].key}"}
        grant = httpx.post(f"{base}/v1/op/items.asset.download", headers=key,
                           json={"item_id": item["id"], "asset_id": asset_id}).json()
        path = urlparse(grant["url"]).path
        sig = path.split("/")[5]
        got = httpx.get(base + path)
        assert got.status_code == 200 and got.content == data
        # signatures in a query string (S3/GCS style) are credentials too
        httpx.get(f"{base}{path}?X-Amz-Signature=deadbeefcafe&X-Goog-Signature=f00dfeed")
        time.sleep(0.3)  # uvicorn writes its access line after the response
    text = "\n".join(captured.lines)
    assert f"/download/{asset_id}/" in text, text  # the request is logged...
    assert "[REDACTED]" in text
    for secret in (sig, "deadbeefcafe", "f00dfeed", world["viewer"].key):
        assert secret not in text, secret                   # ...its credential is not
    access = [ln for ln in captured.lines if "/download/" in ln]
    assert len(access) >= 4  # two requests, each in uvicorn's and our access log


def test_redact_covers_signed_paths_query_signatures_and_api_keys():
    line = ('GET /download/a/g/1700000000/SIGNATURE123/x.tif?X-Amz-Credential=AKIA%2F1'
            '&X-Amz-Signature=abc&X-Goog-Signature=def&token=t0k Authorization: Bearer '
            'gpra_SECRETKEY')
    out = redact(line)
    for secret in ("SIGNATURE123", "AKIA", "abc", "def", "t0k", "SECRETKEY"):
        assert secret not in out, (secret, out)
    assert out.startswith("GET /download/a/g/1700000000/[REDACTED]/x.tif?")


def test_an_embeddable_hrefs_access_token_is_never_logged(client, db, settings, world, db_env,
                                                          clock, captured):
    from download_helpers import scene_with_thumbnail
    from test_asset_tokens import stac_item, token_of

    scene = scene_with_thumbnail(client, db, settings, world["editor"], world.project_a1)
    href = stac_item(client, scene, world["viewer"])["assets"]["thumbnail"]["href"]
    token = token_of(href)
    with serving(create_app(settings, pg_env=db_env, clock=clock), log_level="info") as base:
        path = href.removeprefix("http://testserver")
        got = httpx.get(base + path)  # no header: as an <img src> fetches it
        assert got.status_code == 200 and got.content == scene["files"]["thumbnail"]["bytes"]
        assert httpx.get(base + path[:-3] + "AAA").status_code == 401  # a tampered one
        time.sleep(0.3)
    text = "\n".join(captured.lines)
    assert "/thumb.png?access_token=[REDACTED]" in text, text
    assert token.split(".")[2] not in text and token[:-3] not in text
