"""Datetime windows over instants and spanned items (start_datetime/end_datetime): every window
shape finds exactly the items whose [start, end] meets it, and the exact total counted from the
platform rows' copies (migration 0154) equals the pgstac rows' count, for items written by every
path (items.create, items.update, items.duplicate, the bulk loader)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from conftest import (
    assert_rows_pair_up,
    create_collection,
    create_item,
    geopera_cli,
    ok,
    op,
    reapply_migration,
)

T0 = datetime(2025, 6, 1, tzinfo=timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _span(start: datetime, end: datetime) -> dict[str, Any]:
    return {"datetime": None, "properties": {"start_datetime": _iso(start),
                                             "end_datetime": _iso(end)}}


@pytest.fixture
def windows(client, world, db_env, tmp_path) -> dict[str, Any]:
    """Instants every 6 hours over 5 days, spans of 1 hour to 3 days, in two collections and
    the inbox; some soft-deleted; one span moved by items.update, one instant turned into a
    span, one span duplicated, two spans loaded by the bulk loader."""
    owner, p = world["owner"], world.project_a1
    cols = [create_collection(client, owner, p, f"W{n}")["id"] for n in range(2)]
    items: list[dict[str, Any]] = []

    def add(start: datetime, end: datetime, n: int, **kw: Any) -> dict[str, Any]:
        cloud = (n * 13) % 100
        extra = {"datetime": _iso(start)} if start == end else _span(start, end)
        made = create_item(client, owner, p, name=f"w{n}", collection_id=cols[n % 2] if n % 3
                           else None, cloud_cover=cloud, **extra, **kw)
        it = {"id": made["id"], "start": start, "end": end, "cloud": cloud, "deleted": False}
        items.append(it)
        return it

    for n in range(20):
        t = T0 + timedelta(hours=6 * n)
        add(t, t, n)
    for n, (h, length) in enumerate([(3, 1), (10, 30), (100, 5), (50, 72), (-20, 24), (119, 2)]):
        start = T0 + timedelta(hours=h)
        add(start, start + timedelta(hours=length), 20 + n)
    for it in (items[3], items[22]):
        ok(op(client, "items.delete", owner, item_id=it["id"]))
        it["deleted"] = True
    # items.update: a span moved, an instant turned into a span
    moved = items[23]
    moved["start"], moved["end"] = T0 + timedelta(hours=70), T0 + timedelta(hours=80)
    ok(op(client, "items.update", owner, item_id=moved["id"], datetime=None,
          properties={"start_datetime": _iso(moved["start"]), "end_datetime": _iso(moved["end"])}))
    widened = items[5]
    widened["end"] = widened["start"] + timedelta(hours=40)
    ok(op(client, "items.update", owner, item_id=widened["id"], datetime=None,
          properties={"start_datetime": _iso(widened["start"]),
                      "end_datetime": _iso(widened["end"])}))
    # items.duplicate: the copy keeps its span
    copy = ok(op(client, "items.duplicate", owner, item_id=items[21]["id"]))["item"]
    items.append({**items[21], "id": copy["id"]})
    # the bulk loader
    lines = []
    for n, (h, length) in enumerate([(30, 12), (95, 48)]):
        start = T0 + timedelta(hours=h)
        lines.append({"type": "Feature", "stac_version": "1.0.0", "id": str(uuid.uuid4()),
                      "geometry": {"type": "Point", "coordinates": [149.0, -35.0]},
                      "bbox": [149.0, -35.0, 149.0, -35.0],
                      "properties": {"datetime": None, "start_datetime": _iso(start),
                                     "end_datetime": _iso(start + timedelta(hours=length)),
                                     "eo:cloud_cover": 42.0},
                      "links": [], "assets": {"data": {"href": f"s3://bucket/span{n}.tif",
                                                       "type": "image/tiff", "roles": ["data"]}}})
    src = tmp_path / "spans.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    run = geopera_cli(db_env, tmp_path, "load", src, "--project", p)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["loaded"] == 2, run.stdout
    for line in lines:
        props = line["properties"]
        items.append({"id": line["id"], "cloud": 42.0, "deleted": False,
                      "start": datetime.fromisoformat(props["start_datetime"]),
                      "end": datetime.fromisoformat(props["end_datetime"])})
    return {"owner": owner, "project": p, "items": items}


def _matching(items: list[dict], lo: datetime | None, hi: datetime | None, keep) -> set[str]:
    return {it["id"] for it in items if not it["deleted"] and keep(it)
            and (hi is None or it["start"] <= hi) and (lo is None or it["end"] >= lo)}


H = timedelta(hours=1)
WINDOWS = [
    ("inside one day", T0 + 24 * H, T0 + 48 * H),
    ("touching ends exactly", T0 + 12 * H, T0 + 18 * H),  # an instant at 12 h and one at 18 h
    ("before every instant", T0 - 30 * H, T0 - 10 * H),  # only the span from -20 h
    ("inside spans only", T0 + 120 * H + 30 * timedelta(minutes=1), T0 + 121 * H),
    ("open end", T0 + 100 * H, None),
    ("open start", None, T0 + 2 * H),
    ("everything", T0 - 100 * H, T0 + 500 * H),
]


@pytest.mark.parametrize("cloudy", [False, True], ids=["window", "window and cloud < 50"])
@pytest.mark.parametrize("name,lo,hi", WINDOWS, ids=[w[0] for w in WINDOWS])
def test_a_window_finds_exactly_the_items_that_meet_it(client, windows, name, lo, hi, cloudy):
    keep = (lambda it: it["cloud"] < 50) if cloudy else (lambda it: True)
    want = _matching(windows["items"], lo, hi, keep)
    assert want, name
    window = f"{_iso(lo) if lo else '..'}/{_iso(hi) if hi else '..'}"
    extra = {"filter": "eo:cloud_cover < 50", "filter_lang": "cql2-text"} if cloudy else {}
    got, totals = set(), set()
    for offset in range(0, len(want) + 1, 1):
        # NOTE: one item per page: full pages, so the exact total is counted, not inferred.
        page = ok(op(client, "items.search", windows["owner"], project_id=windows["project"],
                     datetime=window, limit=1, offset=offset, **extra))
        got |= {f["id"] for f in page["features"]}
        totals.add(page["numberMatched"])
    assert got == want
    assert totals == {len(want)}
    # the STAC API counts the same window the same way
    fc = ok(client.post("/search", json={"datetime": window, "limit": 1,
                                         **({"filter": "eo:cloud_cover < 50",
                                             "filter-lang": "cql2-text"} if cloudy else {})},
                        headers=windows["owner"].headers))
    assert fc["numberMatched"] == len(want)


def test_every_write_path_keeps_the_platform_copies(windows, db):
    assert_rows_pair_up(db)


def test_a_window_count_reads_only_the_platform_rows(windows, db):
    """A datetime window (with eo:cloud_cover comparisons) is counted from geopera.items alone;
    the page still reads pgstac's rows."""
    from geopera_stac_ext.db.sql import Query
    from geopera_stac_ext.search.engine import SearchRequest, visibility_for
    from geopera_stac_ext.search.where import where

    async def sides(conn) -> tuple[Any, list[str]]:
        vis = await visibility_for(conn, [windows["project"]])
        req = SearchRequest.parse(datetime="2025-06-02T00:00:00Z/2025-06-03T00:00:00Z",
                                  filter="eo:cloud_cover < 50")
        return where(req, vis, Query(), platform_copies=True), where(req, vis, Query()).stac

    counted, paged_stac = db(sides)
    assert counted.stac == [] and not counted.reads_stac
    assert any("i.cloud_cover" in c for c in counted.platform)
    instants, spans = counted.window_arms
    assert "i.ends_at = i.starts_at" in instants and any("i.starts_at >=" in c for c in instants)
    assert "i.ends_at <> i.starts_at" in spans and any("i.ends_at >=" in c for c in spans)
    assert any("p.datetime" in c for c in paged_stac)


def test_migration_0154_backfills_the_copies_of_an_existing_catalog(client, windows, db, db_env,
                                                                   tmp_path):
    """An existing database upgraded to 0154 gets every platform row's copies from pgstac's
    rows; the window counts then read them."""
    reapply_migration(db, db_env, tmp_path, "0154_platform_datetime.sql",
                      "DROP INDEX geopera.items_starts_at_idx, geopera.items_span_idx",
                      "UPDATE geopera.items SET starts_at = NULL, ends_at = NULL")
    lo, hi = T0 + 24 * H, T0 + 48 * H
    page = ok(op(client, "items.search", windows["owner"], project_id=windows["project"],
                 datetime=f"{_iso(lo)}/{_iso(hi)}", limit=1))
    assert page["numberMatched"] == len(_matching(windows["items"], lo, hi, lambda it: True))
