"""pgstac for the bulk loader (psycopg, synchronous): row format, COPY, partitions, base items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql
from pypgstac.hydration import dehydrate

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.db.locks import PARTITION_RANGE_CLASS
from geopera_stac_ext.pgstac.partitions import LOCK_SQL, PARENT_LOCK_SQL, PARTITION_LOCK, RANGE_LOCK_SQL

# NOTE: the columns pypgstac's Loader.load_partition COPYs; the rows are made by stac_row,
# which is Loader.format_item's (tests/ops/test_loader.py compares them).
ITEMS_COPY = ("COPY pgstac.items (id, collection, datetime, end_datetime, geometry, content,"
              " private) FROM STDIN")
PARTITION_COPY = ("COPY {} (id, collection, datetime, end_datetime, geometry, content, private)"
                  " FROM STDIN")
# The collection-level partition of each pgstac collection (pgstac's partition_name: _items_<key>)
PARTITIONS_SQL = ("SELECT id, CASE WHEN to_regclass(format('pgstac._items_%%s', key)) IS NOT NULL"
                  " THEN format('pgstac.%%I', format('_items_%%s', key)) END"
                  " FROM pgstac.collections WHERE id = ANY(%s)")
# NOTE: what pgstac's statement trigger on pgstac.items (partition_after_triggerfunc) does
# for rows inserted through the parent, for rows COPYed into the partitions: the partitions
# the rows fall in (here those whose range meets a collection's rows), in name order.
STATS_SQL = """
    SELECT pgstac.update_partition_stats_q(p.partition, true) FROM (
        SELECT DISTINCT ps.partition FROM pgstac.partition_stats ps
        JOIN unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS b(collection, lo, hi)
          ON ps.collection = b.collection AND ps.partition_dtrange && tstzrange(b.lo, b.hi, '[]')
        ORDER BY 1) p
"""
# NOTE: what the platform's statement trigger on pgstac.items (geopera.extent_stac_insert,
# migration 0071) notes for rows inserted through the parent: per collection, the bounds of
# the rows' footprints and times (recompute: times whose text the loader could not read
# exactly as PostgreSQL does; the collection is then recomputed at commit). Inboxes are no
# collections: the join drops them.
EXTENT_SQL = """
    INSERT INTO geopera.collection_extent_pending AS x
        (collection_id, x0, y0, x1, y1, t0, t1, recompute)
    SELECT c.id, b.x0, b.y0, b.x1, b.y1, b.t0, b.t1, b.recompute
    FROM unnest(%s::text[], %s::float8[], %s::float8[], %s::float8[], %s::float8[],
                %s::timestamptz[], %s::timestamptz[], %s::bool[])
         AS b(collection, x0, y0, x1, y1, t0, t1, recompute)
    JOIN geopera.collections c ON c.id = geopera.item_uuid(b.collection)
    ORDER BY 1
    ON CONFLICT (collection_id, xid) DO UPDATE SET
        x0 = least(x.x0, EXCLUDED.x0), y0 = least(x.y0, EXCLUDED.y0),
        x1 = greatest(x.x1, EXCLUDED.x1), y1 = greatest(x.y1, EXCLUDED.y1),
        t0 = least(x.t0, EXCLUDED.t0), t1 = greatest(x.t1, EXCLUDED.t1),
        recompute = x.recompute OR EXCLUDED.recompute
"""
# (pgstac collection, x0, y0, x1, y1, min datetime, max end_datetime, recompute)
Note = tuple[str, float, float, float, float, datetime, datetime, bool]
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


def copy_rows(cur: psycopg.Cursor, rows: dict[str, str], notes: list[Note]) -> None:
    """COPY pgstac rows (pgstac collection → its rows as COPY text) straight into each
    collection's partition, as pypgstac's loader does, then what the statement triggers on
    pgstac.items would have done for them (`notes`: per collection, the rows' bounds).

    NOTE: measured: through the parent, both statement triggers collect every new row (the
    whole content) in a transition table and join it per statement; ≈ 25% of the pgstac COPY's
    server CPU (SQL A/B, 5,000-row batches). The parent is locked first, as every pgstac write
    does (pgstac/partitions.py's order), and the rows are COPYed in collection order.
    """
    cur.execute(PARENT_LOCK_SQL)
    names = dict(cur.execute(PARTITIONS_SQL, (list(rows),)).fetchall())
    for collection in sorted(rows):
        name = names.get(collection)
        target = (sql.SQL(ITEMS_COPY) if name is None else  # not where pgstac puts it: route
                  sql.SQL(PARTITION_COPY).format(sql.SQL(name)))
        with cur.copy(target) as copy:
            copy.write(rows[collection])
    if any(names.get(c) is None for c in rows):
        notes = [n for n in notes if names.get(n[0]) is not None]  # the triggers noted those
    if not notes:
        return
    cols = list(zip(*notes))
    cur.execute(STATS_SQL, (list(cols[0]), list(cols[5]), list(cols[6])))
    cur.execute(EXTENT_SQL, tuple(list(c) for c in cols))
