"""The loader's hand-written encoders agree with the libraries they stand in for."""

import uuid
from datetime import datetime, timezone

import pytest
from plpygis import Geometry

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.ingest.encode import ewkb, new_uuids
from geopera_stac_ext.ingest.plan import month_ceil, month_floor
from geopera_stac_ext.ingest.validate import plain_object_parts
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


def test_month_rounding_contains_the_instant_and_lands_on_month_starts():
    t = datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert month_floor(t) == datetime(2025, 12, 1, tzinfo=timezone.utc)
    assert month_ceil(t) == datetime(2026, 1, 1, tzinfo=timezone.utc)
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert month_floor(start) == month_ceil(start) == start


HREFS = [
    "s3://bucket/a/b.tif", "gs://bucket/x", "s3://b.c-d_e/k:1/(2)/~3,4=5&6@7!$'*+", "s3://b/a.",
    "s3://b/.hidden/..x/x..", "s3://b/a/", "s3://b//a", "s3://b/a//b", "s3://b/./a",
    "s3://b/a/..", "s3://b/../x", "s3://b/.", "s3://b/", "s3://b", "s3:///k", "S3://b/k",
    "s3://b/k?x=1", "s3://b/k#f", "s3://b/k;p", "s3://u@b/k", "s3://b:9/k", "s3://b/%2e%2e/k",
    "s3://b/k k", "s3://b/k\\x", "s3://b/k\tx", " s3://b/k", "s3://b/k\n", "s3://[::1]/k",
    "https://host/x", "file:///x", "/abs/x", "rel/x", "s3://b/é", "gs://b/a/b/c/d.e.f",
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
