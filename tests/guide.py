"""The guide's "Worked example: organize a delivery", as tests run it (one copy for all tests)."""

from pathlib import Path

# NOTE: the guide's section, vendored unchanged (tests/spec/ says where it comes from).
GUIDE = Path(__file__).resolve().parent / "spec" / "managing-data-worked-example.md"

# NOTE: the spec file lost the samples' indentation; this is the sample with it restored.
# test_guide_organize.py checks it equals the guide's text line by line (ignoring indentation).
WORKED_EXAMPLE = """\
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
"""

STEPS_1_TO_3 = WORKED_EXAMPLE[: WORKED_EXAMPLE.index("# 4.")]


def guide_worked_example() -> str:
    """The example's code as the guide prints it (from its first line to the download print)."""
    text = GUIDE.read_text()
    start = text.index("Worked example: organize a delivery")
    code = text[text.index("from geopera import Geopera", start):]
    end = code.index('"expires in", dl["expires_in_seconds"], "s")')
    return code[: end + len('"expires in", dl["expires_in_seconds"], "s")')]
