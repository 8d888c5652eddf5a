"""The loader's hand-written encoders agree with the libraries they stand in for."""

import uuid
from datetime import datetime, timezone

import pytest
from plpygis import Geometry

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.ingest.encode import (
    AssetIds, encode_geometry, esc, ewkb, geometry_bounds, new_uuids, pg_array, roles_text)
from geopera_stac_ext.ingest.plan import month_ceil, month_floor, quarter_ceil, quarter_floor
from geopera_stac_ext.ingest import validate
from geopera_stac_ext.ingest.validate import item_id_of, plain_object_parts
from geopera_stac_ext.storage.hrefs import object_parts

RING = [[144.2, -37.3], [144.22, -37.3], [144.22, -37.28], [144.2, -37.28], [144.2, -37.3]]
HOLE = [[144.21, -37.29], [144.215, -37.29], [144.215, -37.285], [144.21, -37.29]]


@pytest.mark.parametrize("geometry", [
    {"type": "Point", "coordinates": [149.1, -35.3]},
    {"type": "Point", "coordinates": [0, 0]},  # integers are doubles in WKB
    {"type": "LineString", "coordinates": [[0, 0], [1.5, 2.25], [-180, 90]]},
    {"type": "Polygon", "coordinates": [RING]},
    {"type": "Polygon", "coordinates": [RING, HOLE]},
    {"type": "MultiPolygon", "coordinates": [[RING, HOLE], [[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
], ids=lambda g: f"{g['type']}-{len(str(g))}")
def test_ewkb_is_byte_for_byte_what_pypgstac_writes(geometry):
    """pypgstac's loader encodes geometry with plpygis; ours must give the same bytes."""
    assert ewkb(geometry) == Geometry.from_geojson(geometry).ewkb
    # the bounds read from the same doubles equal a walk over the coordinates
    assert encode_geometry(geometry) == (ewkb(geometry), geometry_bounds(geometry))
    assert all(type(b) is float for b in encode_geometry(geometry)[1])


def test_geometries_left_to_plpygis_get_their_bounds_by_a_walk():
    g = {"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": [143, -40]},
        {"type": "LineString", "coordinates": [[148, -33], [149, -31]]}]}
    assert encode_geometry(g) == (Geometry.from_geojson(g).ewkb, (143.0, -40.0, 149.0, -31.0))


@pytest.mark.parametrize("geometry", [
    {"type": "Point", "coordinates": [1, 2, 3]},
    {"type": "LineString", "coordinates": [[0, 0, 1], [1, 1, 1]]},
    {"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]},
    {"type": "GeometryCollection", "geometries": []},
])
def test_ewkb_leaves_3d_and_other_types_to_plpygis(geometry):
    assert ewkb(geometry) is None


def test_asset_ids_are_distinct_time_ordered_uuid7():
    ids = new_uuids(2000)
    assert len(set(ids)) == 2000
    parsed = [uuid.UUID(x) for x in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids  # canonical lower-case text, as COPY writes it
    later = uuid.UUID(new_uuids(1)[0])
    assert later.int >> 80 >= parsed[-1].int >> 80  # the 48-bit millisecond prefix never falls


def test_asset_ids_drawn_in_blocks_are_distinct_uuid7_and_never_fall_between_blocks():
    ids = AssetIds()
    ids.BLOCK = 5
    taken = [ids.take(3) for _ in range(6)]
    flat = [x for t in taken for x in t]
    assert len(set(flat)) == 18 and all(len(t) == 3 for t in taken)
    assert all(uuid.UUID(x).version == 7 for x in flat)
    big = ids.take(12)  # more than a block at once
    assert len(set(big)) == 12 and not set(big) & set(flat)
    assert min(uuid.UUID(x).int >> 80 for x in big) >= max(uuid.UUID(x).int >> 80 for x in flat)
    # handed out in ascending order within a block (the index keyed by them fills left to right)
    block = new_uuids(50)
    assert flat[:5] == sorted(flat[:5]) and block == sorted(block)


@pytest.mark.parametrize("roles", [[], ["data"], ["a", "b"], ['q"uote', "back\\slash", "t\tab"]])
def test_remembered_roles_text_is_the_escaped_array_literal(roles):
    assert roles_text(roles) == roles_text(list(roles)) == esc(pg_array(roles))


@pytest.mark.parametrize("raw", [
    "0b7f3a52-4c1e-4b8a-9d3e-2f6a1b0c9d8e", "0B7F3A52-4C1E-4B8A-9D3E-2F6A1B0C9D8E",
    "{0b7f3a52-4c1e-4b8a-9d3e-2f6a1b0c9d8e}", "0b7f3a524c1e4b8a9d3e2f6a1b0c9d8e",
    "urn:uuid:0b7f3a52-4c1e-4b8a-9d3e-2f6a1b0c9d8e"])
def test_item_id_shortcut_gives_what_uuid_gives(raw):
    """Canonical ids skip uuid.UUID; every spelling ends as the same canonical id."""
    props: dict = {}
    assert item_id_of({"id": raw}, props) == str(uuid.UUID(raw)) and props == {}


def test_item_id_not_a_uuid_gets_a_new_one_and_keeps_the_source_id():
    props: dict = {}
    got = item_id_of({"id": "scene-1"}, props)
    assert uuid.UUID(got).version == 4 and props == {"geopera:source_id": "scene-1"}


def test_remembered_keys_and_media_types_are_bounded_and_only_valid_ones():
    assert validate._fast_asset({"key": "bad key", "href": "s3://b/k"}) is None
    assert validate._fast_asset({"key": "k", "href": "s3://b/k", "media_type": "not a type"}) \
        is None
    assert "bad key" not in validate._GOOD_KEYS and "not a type" not in validate._GOOD_MEDIA
    for n in range(300):
        validate._fast_asset({"key": f"k{n}", "href": "s3://b/k", "media_type": f"image/x{n}"})
    assert len(validate._GOOD_KEYS) <= 256 and len(validate._GOOD_MEDIA) <= 256


def test_month_rounding_contains_the_instant_and_lands_on_month_starts():
    t = datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert month_floor(t) == datetime(2025, 12, 1, tzinfo=timezone.utc)
    assert month_ceil(t) == datetime(2026, 1, 1, tzinfo=timezone.utc)
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert month_floor(start) == month_ceil(start) == start


def test_quarter_rounding_contains_the_instant_and_lands_on_quarter_starts():
    from datetime import timedelta

    t = datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert quarter_floor(t) == datetime(2025, 10, 1, tzinfo=timezone.utc)
    assert quarter_ceil(t) == datetime(2026, 1, 1, tzinfo=timezone.utc)
    start = datetime(2026, 4, 1, tzinfo=timezone.utc)
    assert quarter_floor(start) == quarter_ceil(start) == start
    # every month, and an instant given in another zone (the UTC quarter counts)
    for month in range(1, 13):
        d = datetime(2025, month, 15, 12, tzinfo=timezone.utc)
        lo, hi = quarter_floor(d), quarter_ceil(d)
        assert lo <= d < hi and lo.month in (1, 4, 7, 10) and lo.day == 1
        assert (hi.year * 12 + hi.month) - (lo.year * 12 + lo.month) == 3
    east = datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=10)))  # 2025-12-31 UTC
    assert quarter_floor(east) == datetime(2025, 10, 1, tzinfo=timezone.utc)


HREFS = [
    "s3://bucket/a/b.tif", "gs://bucket/x", "s3://b.c-d_e/k:1/(2)/~3,4=5&6@7!$'*+", "s3://b/a.",
    "s3://b/.hidden/..x/x..", "s3://b/a/", "s3://b//a", "s3://b/a//b", "s3://b/./a",
    "s3://b/a/..", "s3://b/../x", "s3://b/.", "s3://b/", "s3://b", "s3:///k", "S3://b/k",
    "s3://b/k?x=1", "s3://b/k#f", "s3://b/k;p", "s3://u@b/k", "s3://b:9/k", "s3://b/%2e%2e/k",
    "s3://b/k k", "s3://b/k\\x", "s3://b/k\tx", " s3://b/k", "s3://b/k\n", "s3://[::1]/k",
    "https://host/x", "file:///x", "/abs/x", "rel/x", "s3://b/é", "gs://b/a/b/c/d.e.f",
    "s3://b/a/./b", "s3://b/a/../b", "s3://b/.a/b", "s3://b/a/.b/c", "s3://b/a/b/.",
    "s3://b/a/b/..", "s3://b/a.b/..c", "s3://b/..",
]


@pytest.mark.parametrize("href", HREFS)
def test_plain_object_parts_agrees_with_object_parts(href):
    """The loader's shortcut answers only where storage.hrefs.object_parts accepts the href,
    with the same (scheme, bucket, key); every other href goes to object_parts itself."""
    fast = plain_object_parts(href)
    try:
        slow = object_parts(href)
    except InvalidRequest:
        slow = "rejected"
    assert fast is None or fast == slow, (fast, slow)
    if href in ("s3://bucket/a/b.tif", "gs://bucket/x", "s3://b/a/", "s3://b/a."):
        assert fast is not None  # the usual spellings take the shortcut


BBOXES = [
    [144.2, -37.3, 144.22, -37.28], [0, 0, 0, 0], [-180, -90, 180, 90], [180.0, 90, -180, 90],
    [1, 2, 3], [1, 2, 3, 4, 5], "1,2,3,4", None, [True, 0, 1, 1], [0, 0, 1, False],
    [float("nan"), 0, 1, 1], [0, float("inf"), 1, 1], [0, 0, 1, 10**400], [181, 0, 1, 1],
    [0, -91, 1, 1], [0, 5, 1, 4], ["0", 0, 1, 1], [0, 0, 1, 1e-300], [-0.0, -0.0, 0.0, 0.0],
]


@pytest.mark.parametrize("bbox", BBOXES, ids=repr)
def test_plain_bbox_accepts_only_what_bbox_accepts_and_gives_the_same_value(bbox):
    """The loader's _plain_bbox is a shortcut: where it answers, _bbox (the authority)
    gives the same list of floats; everything else is left to _bbox."""
    from geopera_stac_ext.core.fields import _bbox

    try:
        expected = _bbox(bbox)
    except ValueError:
        expected = None
    got = validate._plain_bbox(bbox)
    assert got is None or (got == expected and all(type(x) is float for x in got))
    if expected is not None and all(type(x) in (int, float) for x in bbox):
        assert got == expected  # the usual shapes take the shortcut


@pytest.mark.parametrize("asset", [
    {"href": "s3://b/k", "type": "image/tiff", "file:size": 3, "roles": ["data"], "title": "t"},
    {"href": "s3://b/k"}, {"href": None, "type": None, "roles": None, "title": None},
    {"roles": []}, {}, "not an object", None, {"file:size": 0, "extra": 1},
], ids=repr)
def test_asset_params_are_the_stac_asset_fields_items_create_takes(asset):
    got = validate._asset_params("k", asset)
    if not isinstance(asset, dict):
        assert got == {"key": "k"}
        return
    expected = {k: v for k, v in {
        "key": "k", "href": asset.get("href"), "media_type": asset.get("type"),
        "file_size_bytes": asset.get("file:size"), "roles": asset.get("roles") or [],
        "title": asset.get("title")}.items() if v is not None}
    assert got == expected and list(got) == list(expected)


def test_grant_prefixes_answer_like_covers():
    from geopera_stac_ext.storage.buckets import covers

    grants = [("s3", "bucket", ""), ("s3", "other", "a/"), ("s3", "other", "b/c/"),
              ("gs", "bucket", "x/")]
    prefixes = validate.grant_prefixes(grants)
    for scheme in ("s3", "gs", "http"):
        for bucket in ("bucket", "other", "nope"):
            for key in ("a/1", "b/c/2", "b/d", "x/y", "", "a"):
                assert (key.startswith(prefixes.get((scheme, bucket), ()))
                        == covers(grants, scheme, bucket, key)), (scheme, bucket, key)
