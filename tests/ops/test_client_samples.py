"""The guide's Python samples, run unchanged (only base_url added) with the `geopera` client."""

from __future__ import annotations

import contextlib
import io
import uuid
from datetime import timedelta

import pytest

import geopera
from geopera import Geopera

# NOTE: verbatim from spec/managing-data.md ("Listing and fetching items"); the guide's only
# placeholders are the key string and PROJECT_ID, which the test substitutes.
ITEMS_SAMPLE = '''
from geopera import Geopera
client = Geopera(api_key="gpra_your_api_key")
page = client.op("items.list", project_id=PROJECT_ID, limit=50)
print(page["total"], "items")
item = client.op("items.get", item_id=page["items"][0]["id"])
print(item["item"]["name"], item["item"]["lifecycle_state"])
'''

# NOTE: verbatim from "Working with collections"; it continues with the `client` of the sample
# above, as the guide's samples run together.
COLLECTIONS_SAMPLE = '''
collection = client.op(
    "collections.create",
    project_id=PROJECT_ID,
    name="May 2026 survey",
    color="#2e7d32",
)
# list with live item counts
for c in client.op("collections.list", project_id=PROJECT_ID):
    print(c["name"], c["item_count"])
'''


def runnable(sample: str, key: str, base_url: str) -> str:
    """The sample with the key filled in and base_url added: the only changes allowed."""
    assert sample.count('Geopera(api_key="gpra_your_api_key")') <= 1
    return sample.replace('Geopera(api_key="gpra_your_api_key")',
                          f'Geopera(api_key="{key}", base_url="{base_url}")')


def run(sample: str, namespace: dict) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(sample, "<guide sample>", "exec"), namespace)  # noqa: S102
    return out.getvalue().splitlines()


@pytest.fixture
def seeded(live_server, world, clock):
    """Three items in project A1, created through the client like any user would."""
    with Geopera(api_key=world["editor"].key, base_url=live_server) as c:
        for i, name in enumerate(("Field 12 — 2026-05-18", "Field 13 — 2026-05-18",
                                  "Lake run — 2026-05-20")):
            clock.now += timedelta(seconds=1)
            c.op("items.create", project_id=world.project_a1, name=name, type="image",
                 datetime=f"2026-05-{18 + i}T01:20:00Z", cloud_cover=4.1, gsd=0.5,
                 geometry={"type": "Polygon", "coordinates": [[[149.1, -35.3], [149.2, -35.3],
                                                              [149.2, -35.2], [149.1, -35.2],
                                                              [149.1, -35.3]]]},
                 assets=[{"key": "data", "href": f"s3://bucket/scene-{i}.tif",
                          "media_type": "image/tiff", "file_size_bytes": 100,
                          "roles": ["data"]}])
    return live_server


def test_items_list_and_get_sample(seeded, world):
    ns = {"PROJECT_ID": world.project_a1}
    lines = run(runnable(ITEMS_SAMPLE, world["viewer"].key, seeded), ns)
    assert lines[0] == "3 items"
    # Newest first: the last created item is page["items"][0].
    assert lines[1] == "Lake run — 2026-05-20 active"
    assert len(lines) == 2


def test_collections_create_and_list_sample(seeded, world):
    ns = {"PROJECT_ID": world.project_a1}
    run(runnable(ITEMS_SAMPLE, world["editor"].key, seeded), ns)
    lines = run(COLLECTIONS_SAMPLE, ns)
    assert lines == ["May 2026 survey 0"]
    assert ns["collection"]["color"] == "#2e7d32"


def test_collections_sample_count_is_live(seeded, world):
    ns = {"PROJECT_ID": world.project_a1}
    run(runnable(ITEMS_SAMPLE, world["editor"].key, seeded), ns)
    run(COLLECTIONS_SAMPLE, ns)
    client = ns["client"]
    client.op("items.create", project_id=world.project_a1, collection_id=ns["collection"]["id"],
              name="In the survey", bbox=[149.0, -35.4, 149.3, -35.1],
              assets=[{"key": "data", "href": "s3://bucket/x.tif"}])
    listing = run('for c in client.op("collections.list", project_id=PROJECT_ID):\n'
                  '    print(c["name"], c["item_count"])\n', ns)
    assert listing == ["May 2026 survey 1"]


def test_client_raises_typed_errors_with_the_problem(seeded, world):
    with Geopera(api_key=world["viewer"].key, base_url=seeded) as viewer:
        with pytest.raises(geopera.NotFound) as nf:
            viewer.op("items.get", item_id=str(uuid.uuid4()))
        assert nf.value.status == 404 and nf.value.problem["code"] == "not_found"
        assert nf.value.request_id == nf.value.problem["request_id"]
        with pytest.raises(geopera.PermissionDenied) as pd:
            viewer.op("collections.create", project_id=world.project_a1, name="x")
        assert "editor" in pd.value.detail
        with pytest.raises(geopera.InvalidRequest) as bad:
            viewer.op("items.list", project_id=world.project_a1, limit=0)
        assert bad.value.problem["errors"][0]["field"] == "limit"
    with Geopera(api_key="gpra_" + "x" * 43, base_url=seeded) as stranger:
        with pytest.raises(geopera.AuthenticationError) as auth:
            stranger.op("items.list", project_id=world.project_a1)
        assert auth.value.status == 401


def test_client_reads_base_url_and_key_from_the_environment(seeded, world, monkeypatch):
    monkeypatch.setenv("GEOPERA_API_KEY", world["viewer"].key)
    monkeypatch.setenv("GEOPERA_BASE_URL", seeded)
    with Geopera() as c:
        assert c.op("items.list", project_id=world.project_a1, limit=1)["total"] == 3
