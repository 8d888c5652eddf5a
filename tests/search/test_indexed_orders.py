"""sortby gsd, title (name) and end_datetime walk an index of every partition (migration 0155)
and return what sorting every visible item returns: missing values last in either direction,
the id breaking ties, the same pages by op offset and by STAC keyset token."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import create_collection, create_item, ok, op

T0 = datetime(2025, 9, 1, tzinfo=timezone.utc)
GSDS = [0.3, None, 1.0, 0.3, 10.0, 2.5, None, 0.05]
# NOTE: lower-case letters and digits only: every collation sorts them as Python does.
NAMES = ["kea", "moa", "kea", "tui", "ruru", "weka", "moa2", "huia", "kaka"]


@pytest.fixture
def ordered(client, world) -> dict[str, Any]:
    """27 items over two collections and the inbox: gsd repeated or missing, names repeated,
    instants and spans (end_datetime repeated across them); two soft-deleted."""
    owner, p = world["owner"], world.project_a1
    cols = [create_collection(client, owner, p, f"O{n}")["id"] for n in range(2)]
    items = []
    for n in range(27):
        start = T0 + timedelta(hours=n % 7)
        end = start + timedelta(hours=(n % 3) * 5)
        when = ({"datetime": start.isoformat()} if start == end else
                {"datetime": None, "properties": {"start_datetime": start.isoformat(),
                                                  "end_datetime": end.isoformat()}})
        made = create_item(client, owner, p, name=NAMES[n % len(NAMES)],
                           gsd=GSDS[n % len(GSDS)], collection_id=[*cols, None][n % 3], **when)
        items.append({"id": made["id"], "gsd": GSDS[n % len(GSDS)], "title": NAMES[n % len(NAMES)],
                      "start": start, "end_datetime": end, "deleted": n in (4, 11)})
    for it in items:
        if it["deleted"]:
            ok(op(client, "items.delete", owner, item_id=it["id"]))
    return {"owner": owner, "project": p, "items": [it for it in items if not it["deleted"]]}


def _expected(items: list[dict], field: str, desc: bool) -> list[str]:
    valued = [it for it in items if it[field] is not None]
    missing = [it for it in items if it[field] is None]
    valued.sort(key=lambda it: (it[field], it["id"]), reverse=desc)
    missing.sort(key=lambda it: it["id"], reverse=desc)
    return [it["id"] for it in valued + missing]


ORDERS = [("gsd", "gsd"), ("title", "title"), ("name", "title"), ("end_datetime", "end_datetime")]


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sortby,field", ORDERS, ids=[o[0] for o in ORDERS])
def test_an_indexed_order_pages_like_a_full_sort(client, ordered, sortby, field, desc):
    want = _expected(ordered["items"], field, desc)
    direction = "desc" if desc else "asc"
    got = []
    for offset in range(0, len(want) + 4, 4):
        page = ok(op(client, "items.search", ordered["owner"], project_id=ordered["project"],
                     limit=4, offset=offset, sortby=[{"field": sortby, "direction": direction}]))
        got += [f["id"] for f in page["features"]]
        assert page["numberMatched"] == len(want)
    assert got == want
    # the STAC API's keyset tokens walk the same order, page by page
    seen, url = [], "/search"
    params: dict[str, Any] | None = {"limit": 5, "sortby": f"{'-' if desc else '+'}{sortby}"}
    while url:
        fc = ok(client.get(url, params=params, headers=ordered["owner"].headers))
        seen += [f["id"] for f in fc["features"]]
        nxt = [lk["href"] for lk in fc["links"] if lk["rel"] == "next"]
        url, params = (nxt[0], None) if nxt else ("", None)
    assert seen == want


def test_a_filtered_indexed_order_keeps_the_filter(client, ordered):
    """A filter on the same property and a footprint-free filter on another keep the order."""
    items = [it for it in ordered["items"] if it["gsd"] is not None and it["gsd"] < 2]
    want = _expected(items, "gsd", True)
    page = ok(op(client, "items.search", ordered["owner"], project_id=ordered["project"],
                 limit=50, filter="gsd < 2", filter_lang="cql2-text",
                 sortby=[{"field": "gsd", "direction": "desc"}]))
    assert [f["id"] for f in page["features"]] == want


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
def test_end_datetime_under_a_window_sorts_the_windows_matches(client, ordered, desc):
    """`sortby -end_datetime` with a datetime window is sorted, not walked (the walk is not
    bounded by the window's end); either way it returns the window's items in order."""
    from geopera_stac_ext.search.engine import _unbounded_walk
    from geopera_stac_ext.search.request import SearchRequest
    from geopera_stac_ext.search.where import sort_keys

    lo, hi = T0 + timedelta(hours=2), T0 + timedelta(hours=4)
    window = f"{lo.isoformat()}/{hi.isoformat()}"
    req = SearchRequest.parse(sortby=f"{'-' if desc else ''}end_datetime", datetime=window)
    assert _unbounded_walk(req, sort_keys(req)) is desc
    open_end = SearchRequest.parse(sortby="-end_datetime", datetime=f"{lo.isoformat()}/..")
    assert not _unbounded_walk(open_end, sort_keys(open_end))
    inside = [it for it in ordered["items"] if it["start"] <= hi and it["end_datetime"] >= lo]
    assert 0 < len(inside) < len(ordered["items"])
    page = ok(op(client, "items.search", ordered["owner"], project_id=ordered["project"],
                 limit=50, datetime=window,
                 sortby=[{"field": "end_datetime", "direction": "desc" if desc else "asc"}]))
    assert [f["id"] for f in page["features"]] == _expected(inside, "end_datetime", desc)
    assert page["numberMatched"] == len(inside)
