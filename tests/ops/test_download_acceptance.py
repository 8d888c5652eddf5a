"""Acceptance: the guide's "Worked example: organize a delivery", unchanged, over real HTTP."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import timedelta

import httpx
from download_helpers import local_item

# NOTE: verbatim from the guide; the test only fills in the placeholders (key, project id) and
# adds base_url, as the acceptance criterion allows.
WORKED_EXAMPLE = '''
from geopera import Geopera
client = Geopera(api_key="gpra_your_api_key")
PROJECT_ID = "8f2c1e4a-..."
# 1. Create a collection for the delivery.
collection = client.op(
"collections.create",
project_id=PROJECT_ID,
name="May 2026 aerial survey",
color="#2e7d32",
show_on_map=True,
layer_order=10,
)
cid = collection["id"]
# 2. Find the uncollected items from this project and assign them.
loose = client.op("items.list", project_id=PROJECT_ID, uncollected=True, limit=200)
for item in loose["items"]:
    client.op(
    "items.update",
    item_id=item["id"],
    collection_id=cid,
    name=item["name"].strip(),
    )
# 3. Verify the collection now reports the expected count.
got = client.op("collections.get", project_id=PROJECT_ID, collection_id=cid)
print(got["name"], "now holds", got["item_count"], "items")
# 4. Pull a signed download URL for the first item's primary asset.
contents = client.op("items.list_by_collection", collection_id=cid, limit=1)
first = contents["items"][0]
assets = client.op("items.list_assets", item_id=first["id"])
data = next(a for a in assets if a["key"] == "data")
dl = client.op("items.asset.download", item_id=first["id"], asset_id=data["id"])
print("download:", dl["url"], "expires in", dl["expires_in_seconds"], "s")
'''


def test_worked_example_runs_unchanged_and_the_url_returns_the_exact_bytes(
        db, settings, clock, world, live_server):
    # NOTE: seeding goes through the live server too: a TestClient on the same app would run
    # a second lifespan and replace the pools the server's event loop is using.
    files = {}
    with httpx.Client(base_url=live_server, timeout=30) as http:
        for i in range(3):
            clock.now += timedelta(seconds=1)
            item, _, data = local_item(http, db, settings, world["editor"], world.project_a1,
                                       name=f"  Scene {i}  ")
            files[item["id"]] = data
    code = (WORKED_EXAMPLE
            .replace('Geopera(api_key="gpra_your_api_key")',
                     f'Geopera(api_key="{world["editor"].key}", base_url="{live_server}")')
            .replace('"8f2c1e4a-..."', f'"{world.project_a1}"'))
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "worked_example", "exec"), scope)
    printed = out.getvalue()
    assert "May 2026 aerial survey now holds 3 items" in printed
    m = re.search(r"^download: (\S+) expires in 900 s$", printed, re.M)
    assert m, printed
    assert m.group(1).startswith(live_server + "/download/")
    first_id = scope["first"]["id"]
    assert scope["first"]["name"] == "Scene 2"  # newest first, name stripped by step 2
    got = httpx.get(m.group(1))
    assert got.status_code == 200
    assert got.content == files[first_id]
    assert got.headers["content-length"] == str(len(files[first_id]))
