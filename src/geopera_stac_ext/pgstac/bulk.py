"""pgstac for the bulk loader (psycopg, synchronous): row format, COPY, partitions, base items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import psycopg
from pypgstac.hydration import dehydrate

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.db.locks import PARTITION_RANGE_CLASS
from geopera_stac_ext.pgstac.partitions import LOCK_SQL, PARENT_LOCK_SQL, PARTITION_LOCK, RANGE_LOCK_SQL

# NOTE: the columns pypgstac's Loader.load_partition COPYs; the rows are made by stac_row,
# which is Loader.format_item's (tests/ops/test_loader.py compares them).
ITEMS_COPY = ("COPY pgstac.items (id, collection, datetime, end_datetime, geometry, content,"
              " private) FROM STDIN")
BASE_ITEM_SQL = "SELECT pgstac.collection_base_item(%s::jsonb)"
BASES_SQL = ("SELECT c.id, b.base_item, b.base_item_id, c.partition_trunc"
             " FROM pgstac.collections c CROSS JOIN LATERAL pgstac.current_base_item(c.id) b"
             " WHERE c.id = ANY(%s)")
Ranges = tuple[datetime, datetime, datetime, datetime]


# The base item pgstac derives for every collection the platform creates (stac_collection's).
PLAIN_BASE = {"type": "Feature", "stac_version": "1.0.0", "assets": None}
_ROW_KEYS = frozenset(("type", "stac_version", "id", "collection", "geometry",
                       "pgstac:base_item"))


def _plain_doc(content: dict[str, Any]) -> dict[str, Any] | None:
    """dehydrate(PLAIN_BASE, content) minus the row's own columns, for the usual content.

    NOTE: dehydrate drops the keys equal to the base's (type, stac_version) and keeps every
    key the base lacks as it is; `assets` ({} against None) stays. One dict comprehension
    instead of its recursive walk; None (unusual content) leaves it to dehydrate.
    """
    if (content.get("type") != "Feature" or content.get("stac_version") != "1.0.0"
            or content.get("assets") != {} or "private" in content):
        return None
    return {k: v for k, v in content.items() if k not in _ROW_KEYS}


def stac_row(content: dict[str, Any], base_item: dict[str, Any] | None,
             base_item_id: int | None) -> tuple[str, str, str, str | None]:
    """(datetime, end_datetime, content, private) exactly as pypgstac's Loader.format_item
    makes them for `content` in a collection with that base item (geometry aside); base_item
    None: PLAIN_BASE."""
    props = content["properties"]
    sdt, edt = props.get("start_datetime"), props.get("end_datetime")
    if sdt is not None and edt is not None:
        dt = sdt
    else:
        dt = edt = props.get("datetime")
    if dt is None:
        raise InvalidRequest("datetime is required")
    if base_item is None and base_item_id is None:
        doc = _plain_doc(content)
        if doc is not None:
            return dt, edt, orjson.dumps(doc).decode(), None
        base_item = PLAIN_BASE
    doc = dehydrate(base_item, {**content, "geometry": None})
    doc.pop("id", None)
    doc.pop("collection", None)
    doc.pop("geometry", None)
    doc.pop("pgstac:base_item", None)
    if base_item_id is not None:
        doc["pgstac:base_item"] = base_item_id
    private = doc.pop("private", None)
    return (dt, edt, orjson.dumps(doc).decode(),
            None if private is None else orjson.dumps(private).decode())


def base_item(conn: psycopg.Connection, collection_doc: dict[str, Any]) -> dict[str, Any]:
    """The base item pgstac derives for a collection document (without its `collection`)."""
    base = conn.execute(BASE_ITEM_SQL, (orjson.dumps(collection_doc).decode(),)).fetchone()[0]
    return {k: v for k, v in base.items() if k != "collection"}


def collection_bases(conn: psycopg.Connection, ids: list[str]
                     ) -> list[tuple[str, dict[str, Any], int | None, bool]]:
    """(id, base item, base item id, untruncated) of the pgstac collections named.

    `untruncated`: one partition for all time (no partition_trunc)."""
    return [(str(c), base, base_id, trunc is None)
            for c, base, base_id, trunc in conn.execute(BASES_SQL, (ids,))]


def lock_partitions(cur: psycopg.Cursor) -> None:
    """Partitions are created one transaction at a time (pgstac/partitions.py)."""
    cur.execute(LOCK_SQL.format("%s"), (PARTITION_LOCK,))


def create_collection(cur: psycopg.Cursor, document: dict[str, Any]) -> None:
    cur.execute("SELECT pgstac.create_collection(%s::jsonb)", (orjson.dumps(document).decode(),))


def cover(cur: psycopg.Cursor, collection: str, ranges: Ranges) -> None:
    """Make the collection's partition exist and cover these datetime/end_datetime ranges.

    NOTE: what pypgstac's loader does before a direct COPY, minus its own commit; the locks
    first, in the order every writer takes them (pgstac.partitions.lock_for_write; the caller
    took PARTITION_LOCK first when the batch may create partitions, and covers collections in
    sorted order).
    """
    d0, d1, e0, e1 = ranges
    cur.execute(PARENT_LOCK_SQL)
    cur.execute(RANGE_LOCK_SQL.format("%s", "%s"), (PARTITION_RANGE_CLASS, collection))
    cur.execute("SELECT pgstac.check_partition(%s, tstzrange(%s, %s, '[]'),"
                " tstzrange(%s, %s, '[]'))", (collection, d0, d1, e0, e1))
