"""The first ops with the guide's semantics: items.create/get/list, collections.create/list/get."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

from conftest import create_collection, create_item, item_params, ok, op, problem, square

from geopera_stac_ext.storage.hrefs import project_area


# ------------------------------------------------------------------ items.create / items.get


def test_items_create_returns_the_item_envelope(client, world, clock):
    item = create_item(client, world["editor"], world.project_a1, name="Field 12 — 2026-05-18",
                       description="first pass", properties={"platform": "drone-7"},
                       geometry=square(149.0, -35.0, 0.5))
    assert set(item) >= {"id", "project_id", "collection_id", "name", "description", "type",
                         "geometry", "bbox", "datetime", "cloud_cover", "gsd", "properties",
                         "lifecycle_state", "created_at", "updated_at", "expires_at"}
    uuid.UUID(item["id"])
    assert item["project_id"] == world.project_a1
    assert item["collection_id"] is None
    assert item["name"] == "Field 12 — 2026-05-18"
    assert item["description"] == "first pass"
    assert item["type"] == "image"
    assert item["cloud_cover"] == 4.1 and item["gsd"] == 0.5
    assert item["datetime"] == "2026-05-18T01:20:00Z"
    assert item["properties"] == {"platform": "drone-7"}
    assert item["lifecycle_state"] == "active"
    assert item["geometry"] == square(149.0, -35.0, 0.5)
    assert item["bbox"] == [149.0, -35.0, 149.5, -34.5]
    assert item["created_at"] == clock.now.isoformat().replace("+00:00", "Z")
    # Org A is on the free plan: the item gets a retention deadline.
    assert item["expires_at"] is not None and item["expires_at"] > item["created_at"]


def test_items_get_returns_what_create_returned(client, world):
    created = create_item(client, world["editor"], world.project_a1, type="mosaic",
                          viz_profiles={"true-color": {"bands": [3, 2, 1], "rescale": [0, 3000]},
                                        "ndvi": {"expression": "(b4-b3)/(b4+b3)"}})
    got = ok(op(client, "items.get", world["viewer"], item_id=created["id"]))
    assert set(got) == {"item"}
    assert got["item"] == created
    assert got["item"]["type"] == "mosaic"
    assert got["item"]["viz_profiles"] == {
        "true-color": {"bands": [3, 2, 1], "rescale": [0, 3000]},
        "ndvi": {"expression": "(b4-b3)/(b4+b3)"}}


def test_items_get_of_item_without_viz_profiles_has_empty_map(client, world):
    created = create_item(client, world["editor"], world.project_a1)
    assert created["viz_profiles"] == {}
    assert ok(op(client, "items.get", world["owner"], item_id=created["id"]))["item"][
        "viz_profiles"] == {}


def test_items_create_from_bbox_only_builds_the_footprint(client, world):
    params = item_params(world.project_a1, bbox=[10, 20, 11, 21])
    del params["geometry"]
    item = ok(op(client, "items.create", world["editor"], **params))["item"]
    assert item["bbox"] == [10, 20, 11, 21]
    assert item["geometry"] == {"type": "Polygon", "coordinates": [
        [[10, 20], [11, 20], [11, 21], [10, 21], [10, 20]]]}


def test_items_create_without_datetime_uses_now(client, world, clock):
    params = item_params(world.project_a1)
    del params["datetime"]
    item = ok(op(client, "items.create", world["editor"], **params))["item"]
    assert item["datetime"] == clock.now.isoformat().replace("+00:00", "Z")


def test_mapped_properties_must_go_through_item_fields(client, world):
    body = problem(op(client, "items.create", world["editor"],
                      **item_params(world.project_a1, properties={"eo:cloud_cover": 3})), 400)
    assert "cloud_cover" in body["detail"]


def test_items_create_writes_stac_content_assets_ledger_and_audit(client, world, db):
    col = create_collection(client, world["editor"], world.project_a1)
    loose = create_item(client, world["editor"], world.project_a1)
    filed = create_item(client, world["editor"], world.project_a1, collection_id=col["id"])

    async def state(conn):
        inbox = await conn.fetchval("SELECT inbox_collection FROM geopera.projects WHERE id=$1",
                                    uuid.UUID(world.project_a1))
        stac = {r["id"]: r["collection"] for r in await conn.fetch(
            "SELECT id, collection FROM pgstac.items")}
        assets = await conn.fetchval("SELECT count(*) FROM geopera.assets")
        ledger = await conn.fetchval("SELECT sum(delta_bytes) FROM geopera.storage_ledger")
        audits = [r["operation"] for r in await conn.fetch(
            "SELECT operation FROM geopera.audit_log ORDER BY id")]
        return inbox, stac, assets, ledger, audits

    inbox, stac, assets, ledger, audits = db(state)
    assert stac == {loose["id"]: inbox, filed["id"]: col["id"]}
    assert inbox == f"inbox-{world.project_a1}"
    assert assets == 2 and ledger == 2000
    assert audits == ["collections.create", "items.create", "items.create"]


def test_item_href_outside_storage_root_is_400(client, world, settings, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.tif").write_bytes(b"x")
    area = project_area(settings.resolved_storage_dir, world.project_a1)
    area.mkdir(parents=True)
    os.symlink(outside / "x.tif", area / "link.tif")
    for href in ("/etc/passwd", "file:///etc/passwd", "../elsewhere/x.tif",
                 f"file://{outside}/x.tif", "sub/../../elsewhere/x.tif", "link.tif",
                 "ftp://host/x.tif", "s3:///no-bucket.tif"):
        params = item_params(world.project_a1)
        params["assets"][0]["href"] = href
        body = problem(op(client, "items.create", world["editor"], **params), 400)
        assert "href" in body["detail"], (href, body)
    assert ok(op(client, "items.list", world["editor"], project_id=world.project_a1))[
        "total"] == 0


def test_item_href_inside_storage_root_is_accepted(client, world, settings):
    root = project_area(settings.resolved_storage_dir, world.project_a1)
    (root / "deliveries").mkdir(parents=True)
    (root / "deliveries" / "scene.tif").write_bytes(b"tiff")
    for href in (f"file://{root}/deliveries/scene.tif", "deliveries/scene.tif",
                 f"{root}/deliveries/scene.tif", "https://example.com/scene.tif",
                 "gs://bucket/scene.tif"):
        params = item_params(world.project_a1)
        params["assets"][0]["href"] = href
        item = ok(op(client, "items.create", world["editor"], **params))["item"]
        assert item["id"]


# ------------------------------------------------------------------ items.list


def test_items_list_envelope_and_exact_total(client, world, clock):
    for i in range(7):
        clock.now += timedelta(seconds=1)
        create_item(client, world["editor"], world.project_a1, name=f"S{i}")
    page = ok(op(client, "items.list", world["viewer"], project_id=world.project_a1, limit=3))
    assert set(page) == {"items", "total"}
    assert page["total"] == 7
    assert [i["name"] for i in page["items"]] == ["S6", "S5", "S4"]
    first = page["items"][0]
    for key in ("id", "project_id", "collection_id", "name", "type", "cloud_cover", "gsd",
                "lifecycle_state"):
        assert key in first
    assert ok(op(client, "items.list", world["viewer"], project_id=world.project_a1,
                 offset=6))["items"][0]["name"] == "S0"
    beyond = ok(op(client, "items.list", world["viewer"], project_id=world.project_a1,
                   offset=50))
    assert beyond == {"items": [], "total": 7}


def test_items_list_default_limit_is_50(client, world, db):
    for i in range(52):
        create_item(client, world["editor"], world.project_a1, name=f"S{i}")
    page = ok(op(client, "items.list", world["viewer"], project_id=world.project_a1))
    assert len(page["items"]) == 50 and page["total"] == 52


def test_items_list_order_is_newest_first_then_id_descending(client, world, clock):
    # Three items share one created_at (the clock does not move), two are newer.
    same = [create_item(client, world["editor"], world.project_a1, name=f"same{i}")["id"]
            for i in range(3)]
    clock.now += timedelta(minutes=1)
    newer = [create_item(client, world["editor"], world.project_a1, name=f"new{i}")["id"]
             for i in range(2)]
    page = ok(op(client, "items.list", world["viewer"], project_id=world.project_a1))
    ids = [i["id"] for i in page["items"]]
    assert ids == sorted(newer, key=uuid.UUID, reverse=True) + sorted(same, key=uuid.UUID,
                                                                       reverse=True)


def test_paging_covers_every_item_once(client, world, clock):
    made = set()
    for i in range(23):
        if i % 4 == 0:
            clock.now += timedelta(seconds=1)  # NOTE: several ties per timestamp on purpose.
        made.add(create_item(client, world["editor"], world.project_a1, name=f"S{i}")["id"])
    seen: list[str] = []
    for offset in range(0, 30, 5):
        page = ok(op(client, "items.list", world["viewer"], project_id=world.project_a1,
                     limit=5, offset=offset))
        assert page["total"] == 23
        seen += [i["id"] for i in page["items"]]
    assert len(seen) == 23 and set(seen) == made


def test_items_list_filters_by_collection_and_uncollected(client, world):
    editor = world["editor"]
    c1 = create_collection(client, editor, world.project_a1, name="C1")
    c2 = create_collection(client, editor, world.project_a1, name="C2")
    in_c1 = {create_item(client, editor, world.project_a1, collection_id=c1["id"])["id"]
             for _ in range(3)}
    in_c2 = {create_item(client, editor, world.project_a1, collection_id=c2["id"])["id"]}
    loose = {create_item(client, editor, world.project_a1)["id"] for _ in range(2)}
    create_item(client, world["org_owner"], world.project_a2)  # another project's item

    def ids(**kw):
        page = ok(op(client, "items.list", world["viewer"], project_id=world.project_a1, **kw))
        assert page["total"] == len(page["items"])
        return {i["id"] for i in page["items"]}

    assert ids() == in_c1 | in_c2 | loose
    assert ids(collection_id=c1["id"]) == in_c1
    assert ids(collection_id=c2["id"]) == in_c2
    assert ids(uncollected=True) == loose
    assert ids(uncollected=False) == in_c1 | in_c2 | loose
    assert ids(collection_id=None) == in_c1 | in_c2 | loose
    page = ok(op(client, "items.list", world["viewer"], project_id=world.project_a1,
                 collection_id=c1["id"]))
    assert {i["collection_id"] for i in page["items"]} == {c1["id"]}


def test_items_list_with_another_projects_collection_leaks_nothing(client, world):
    org_owner = world["org_owner"]
    col_a2 = create_collection(client, org_owner, world.project_a2)
    create_item(client, org_owner, world.project_a2, collection_id=col_a2["id"])
    page = ok(op(client, "items.list", world["owner"], project_id=world.project_a1,
                 collection_id=col_a2["id"]))
    assert page == {"items": [], "total": 0}


# ------------------------------------------------------------------ collections


def test_collections_create_defaults_and_echo(client, world, db):
    col = create_collection(client, world["editor"], world.project_a1, name="May 2026 survey")
    assert col["name"] == "May 2026 survey"
    assert col["project_id"] == world.project_a1
    assert col["description"] is None and col["color"] is None
    assert col["show_on_map"] is True and col["layer_order"] == 0
    assert col["item_count"] == 0
    stac = db(lambda conn: conn.fetchval(
        "SELECT content->>'title' FROM pgstac.collections WHERE id = $1", col["id"]))
    assert stac == "May 2026 survey"


def test_collections_create_with_every_field(client, world):
    col = create_collection(client, world["editor"], world.project_a1, name="Survey",
                            description="aerial", color="#2E7D32", show_on_map=False,
                            layer_order=10)
    assert (col["description"], col["color"], col["show_on_map"], col["layer_order"]) == (
        "aerial", "#2e7d32", False, 10)
    got = ok(op(client, "collections.get", world["viewer"], project_id=world.project_a1,
                collection_id=col["id"]))
    assert got == col


def test_collections_list_is_a_bare_array_with_live_counts(client, world, db):
    editor = world["editor"]
    assert ok(op(client, "collections.list", world["viewer"], project_id=world.project_a1)) == []
    back = create_collection(client, editor, world.project_a1, name="back", layer_order=5)
    front = create_collection(client, editor, world.project_a1, name="front", layer_order=-1)
    create_collection(client, world["org_owner"], world.project_a2, name="elsewhere")
    items = [create_item(client, editor, world.project_a1, collection_id=back["id"])
             for _ in range(3)]
    create_item(client, editor, world.project_a1)  # uncollected: counted nowhere
    listed = ok(op(client, "collections.list", world["viewer"], project_id=world.project_a1))
    assert isinstance(listed, list)
    assert [(c["name"], c["item_count"]) for c in listed] == [("front", 0), ("back", 3)]
    # The count is live: a soft-deleted item stops counting at once.
    db(lambda conn: conn.execute(
        "UPDATE geopera.items SET deleted_at = now(), lifecycle_state = 'deleted' "
        "WHERE id = $1", uuid.UUID(items[0]["id"])))
    got = ok(op(client, "collections.get", world["viewer"], project_id=world.project_a1,
                collection_id=back["id"]))
    assert got["item_count"] == 2
    assert front["id"] in {c["id"] for c in ok(op(
        client, "collections.list", world["viewer"], project_id=world.project_a1))}


def test_collections_get_returns_the_collection(client, world):
    col = create_collection(client, world["editor"], world.project_a1, name="One")
    create_item(client, world["editor"], world.project_a1, collection_id=col["id"])
    got = ok(op(client, "collections.get", world["viewer"], project_id=world.project_a1,
                collection_id=col["id"]))
    assert got["id"] == col["id"] and got["name"] == "One" and got["item_count"] == 1


def test_two_collections_may_share_a_name(client, world):
    a = create_collection(client, world["editor"], world.project_a1, name="Same")
    b = create_collection(client, world["editor"], world.project_a1, name="Same")
    assert a["id"] != b["id"]
