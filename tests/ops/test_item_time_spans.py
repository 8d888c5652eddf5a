"""properties.start_datetime / end_datetime are checked before anything is written: a start
after the end, or a value PostgreSQL would not read as the same instant, is a 400 naming the
property (pgstac raised inside the write: a 500 before), on items.create and items.update."""

from __future__ import annotations

import pytest
from conftest import assert_rows_pair_up, create_item, item_params, ok, op, problem

BAD = [
    ({"start_datetime": "2025-01-02T00:00:00Z", "end_datetime": "2025-01-01T00:00:00Z"},
     "properties.start_datetime must not be after properties.end_datetime"),
    ({"start_datetime": "yesterday", "end_datetime": "2025-01-01T00:00:00Z"},
     "properties.start_datetime must be an RFC 3339 timestamp"),
    ({"start_datetime": "2025-01-01T00:00:00Z", "end_datetime": 12},
     "properties.end_datetime must be an RFC 3339 timestamp"),
    # an ISO 8601 week date: Python reads it, PostgreSQL does not
    ({"start_datetime": "2025-W01-1", "end_datetime": "2025-01-09T00:00:00Z"},
     "properties.start_datetime must be an RFC 3339 timestamp"),
    ({"start_datetime": "2025-01-01T00:00:00Z", "end_datetime": "2025-13-01T00:00:00Z"},
     "properties.end_datetime"),
    ({"start_datetime": "2025-01-01T00:00:00", "end_datetime": "2025-01-02T00:00:00Z"},
     "properties.start_datetime must be an RFC 3339 timestamp"),  # no zone
    # PostgreSQL rounds the seventh digit (start .000001, end .000000); Python truncates both
    ({"start_datetime": "2025-01-01T00:00:00.0000006Z",
      "end_datetime": "2025-01-01T00:00:00.0000004Z"},
     "properties.start_datetime must not be after properties.end_datetime"),
]


@pytest.mark.parametrize("props,detail", BAD, ids=[d for _p, d in BAD])
def test_a_bad_span_is_a_400_on_create_and_update(client, world, db, props, detail):
    owner, p = world["owner"], world.project_a1
    before = db(lambda c: c.fetchval("SELECT count(*) FROM geopera.items"))
    for datetime in (None, "2025-01-01T00:00:00Z"):
        body = problem(op(client, "items.create", owner,
                          **item_params(p, datetime=datetime, properties=props)), 400)
        assert detail in body["detail"]
    assert db(lambda c: c.fetchval("SELECT count(*) FROM geopera.items")) == before
    item = create_item(client, owner, p)
    body = problem(op(client, "items.update", owner, item_id=item["id"], datetime=None,
                      properties=props), 400)
    assert detail in body["detail"]
    got = ok(op(client, "items.get", owner, item_id=item["id"]))["item"]
    assert got["properties"] == item["properties"] and got["datetime"] == item["datetime"]


def test_a_span_of_zero_length_and_a_zoned_span_are_stored(client, world, db):
    owner, p = world["owner"], world.project_a1
    for props in ({"start_datetime": "2025-01-01T00:00:00Z", "end_datetime": "2025-01-01T00:00:00Z"},
                  {"start_datetime": "2025-01-01T10:00:00+10:00",
                   "end_datetime": "2025-01-01T00:00:00.5Z"},
                  {"start_datetime": "2024-12-31T23:59:59.9999994Z",
                   "end_datetime": "2024-12-31T23:59:59.9999995Z"}):
        made = create_item(client, owner, p, datetime=None, properties=props)
        assert made["properties"] == props
    assert_rows_pair_up(db)
