"""The demo's own seed (real COGs + PNG thumbnails, as `serve --demo` registers them) in the test
database, served live, plus the gdal CLI helpers the imagery tests share."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import bearer, ok

from geopera_stac_ext.demo.seed import seed_demo

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class Demo:
    url: str
    key: str
    project_id: str
    collection_id: str  # "Demo survey": demo scenes 0 and 1
    storage_dir: Path

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key)

    def items(self) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/collections/{self.collection_id}/items",
                         headers=self.headers, timeout=30)
        return ok(resp)["features"]


@pytest.fixture
def demo(db, settings, live_server) -> Demo:
    info = db(lambda conn: seed_demo(conn, settings))
    cols = ok(httpx.post(f"{live_server}/v1/op/collections.list", headers=bearer(info["api_key"]),
                         json={"project_id": info["project_id"]}, timeout=30))
    (collection,) = [c for c in cols if c["name"] == "Demo survey"]
    return Demo(live_server, info["api_key"], info["project_id"], collection["id"],
                settings.resolved_storage_dir)


@dataclass
class GdalRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def requests(self) -> list[tuple[str, str, int | None]]:
        """(method, path, status) of every HTTP request GDAL sent (from CPL_CURL_VERBOSE)."""
        out: list[tuple[str, str, int | None]] = []
        for line in self.stderr.splitlines():
            if line.startswith(("> GET ", "> HEAD ")):
                method, target = line[2:].split()[:2]
                out.append((method, target, None))
            elif line.startswith("< HTTP/") and out and out[-1][2] is None:
                out[-1] = (*out[-1][:2], int(line.split()[2]))
        return out

    def json(self) -> dict[str, Any]:
        assert self.returncode == 0, self.stderr[-3000:]
        return json.loads(self.stdout)


def gdal(args: list[str], *, key: str | None = None, timeout: float = 120) -> GdalRun:
    """Run a GDAL CLI as a user would: no cache between runs, every HTTP request traced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GDAL_", "CPL_", "VSI_"))}
    # NOTE: GDAL_PAM_ENABLED=NO: -stats must not write .aux.xml files next to checked-in data.
    env.update(CPL_CURL_VERBOSE="YES", GDAL_HTTP_MAX_RETRY="0", GDAL_PAM_ENABLED="NO")
    if key is not None:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: Bearer {key}"
    start = time.monotonic()
    res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    return GdalRun(res.returncode, res.stdout, res.stderr, time.monotonic() - start)
