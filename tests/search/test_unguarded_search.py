"""Searches answered through the hidden set (soft-deleted rows of the visible partitions) and
the platform row's copy of eo:cloud_cover (migration 0150) return exactly what the per-row
guard returns: the same ids in the same order and the same exact totals, for every shape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import (
    create_collection,
    create_item,
    ok,
    op,
    reapply_migration,
    square,
)

from geopera_stac_ext.search import engine

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
CLOUDS = [None, 0, 3.5, 12, 40, 49.9, 50, 77, 100]


@pytest.fixture
def catalog(client, world) -> dict[str, Any]:
    """30 items over two collections and the inbox; every fourth one (and one more) soft-deleted. Another
    project of the same organization holds items too (never in these results)."""
    owner, p = world["owner"], world.project_a1
    cols = [create_collection(client, owner, p, f"C{n}")["id"] for n in range(2)]
    items = []
    for n in range(30):
        cid = [cols[0], cols[1], None][n % 3]
        made = create_item(client, owner, p, name=f"n{n}", collection_id=cid,
                           cloud_cover=CLOUDS[n % len(CLOUDS)],
                           geometry=square(149 + (n % 5), -35),
                           datetime=(T0 + timedelta(hours=n // 2)).isoformat())
        items.append({"id": made["id"], "collection": cid, "cloud": CLOUDS[n % len(CLOUDS)],
                      "x": 149 + (n % 5), "t": T0 + timedelta(hours=n // 2),
                      "deleted": n % 4 == 1 or n == 6})
    for it in items:
        if it["deleted"]:
            ok(op(client, "items.delete", owner, item_id=it["id"]))
    for n in range(4):
        create_item(client, world["org_owner"], world.project_a2, name=f"other{n}",
                    cloud_cover=1)
    return {"owner": owner, "project": p, "cols": cols, "items": items}


def _expected(items: list[dict], keep) -> list[str]:
    live = [it for it in items if not it["deleted"] and keep(it)]
    live.sort(key=lambda it: (it["t"], it["id"]), reverse=True)
    return [it["id"] for it in live]


SHAPES = [
    ("unfiltered", {}, lambda it: True),
    ("a collection", {"collections": ["C0"]}, lambda it: it["collection"] == "C0"),
    ("bbox", {"bbox": [149.9, -35.5, 151.5, -33]}, lambda it: it["x"] in (150, 151)),
    ("cloud < 50", {"filter": "eo:cloud_cover < 50"},
     lambda it: it["cloud"] is not None and it["cloud"] < 50),
    ("cloud between, a collection",
     {"filter": "eo:cloud_cover BETWEEN 3 AND 60", "collections": ["C1"]},
     lambda it: it["collection"] == "C1" and it["cloud"] is not None and 3 <= it["cloud"] <= 60),
    ("cloud in, datetime", {"filter": "eo:cloud_cover IN (0, 12, 77)",
                            "datetime": "2025-03-01T03:00:00Z/.."},
     lambda it: it["cloud"] in (0, 12, 77) and it["t"] >= T0 + timedelta(hours=3)),
    ("no cloud cover", {"filter": "eo:cloud_cover IS NULL"}, lambda it: it["cloud"] is None),
    ("not cloudy or missing", {"filter": "NOT (eo:cloud_cover >= 50)"},
     lambda it: it["cloud"] is not None and it["cloud"] < 50),
]


def _search(client, catalog, params: dict[str, Any], offset: int, limit: int) -> dict:
    params = dict(params)
    if "collections" in params:
        params["collections"] = [catalog["cols"][int(c[1])] for c in params["collections"]]
    return ok(op(client, "items.search", catalog["owner"], project_id=catalog["project"],
                 limit=limit, offset=offset, filter_lang="cql2-text", **params))


@pytest.mark.parametrize("mode", ["hidden set", "guard per row"])
@pytest.mark.parametrize("name,params,keep", SHAPES, ids=[s[0] for s in SHAPES])
def test_every_shape_matches_the_expected_items_in_both_plans(client, catalog, monkeypatch,
                                                              mode, name, params, keep):
    if mode == "guard per row":
        # NOTE: the engine's own threshold, lowered: any soft-deleted row sends it to the guard.
        monkeypatch.setattr(engine, "HIDDEN_LIMIT", 0)
    for it in catalog["items"]:
        it["collection"] = ("C0" if it["collection"] == catalog["cols"][0] else
                            "C1" if it["collection"] == catalog["cols"][1] else it["collection"])
    want = _expected(catalog["items"], keep)
    assert want, name
    got, total = [], None
    for offset in range(0, len(want) + 2, 2):
        page = _search(client, catalog, params, offset, 2)
        got += [f["id"] for f in page["features"]]
        assert total in (None, page["numberMatched"])
        total = page["numberMatched"]
    assert got == want
    assert total == len(want)


def test_the_plan_uses_the_hidden_set_until_the_limit(client, catalog, db, monkeypatch):
    from geopera_stac_ext.search.engine import SearchRequest, visibility_for

    async def chosen(conn) -> bool:
        vis = await visibility_for(conn, [catalog["project"]])
        req = SearchRequest.parse(limit=2)
        return await engine._unguarded(conn, req, vis, engine._plan(req, vis).where)

    deleted = sum(it["deleted"] for it in catalog["items"])
    monkeypatch.setattr(engine, "HIDDEN_LIMIT", deleted)
    assert db(chosen) is True
    monkeypatch.setattr(engine, "HIDDEN_LIMIT", deleted - 1)
    assert db(chosen) is False


def test_a_type_or_platform_filter_keeps_the_guard(client, catalog, db):
    from geopera_stac_ext.search.engine import SearchRequest, visibility_for

    async def chosen(conn, **kw) -> bool:
        vis = await visibility_for(conn, [catalog["project"]])
        req = SearchRequest.parse(limit=2, **kw)
        return await engine._unguarded(conn, req, vis, engine._plan(req, vis).where)

    assert db(lambda c: chosen(c)) is True
    assert db(lambda c: chosen(c, type=["image"])) is False
    assert db(lambda c: chosen(c, filter="geopera:lifecycle_state = 'active'")) is False


def test_a_cloud_cover_count_reads_the_platform_copy(client, catalog, db):
    """The exact count of a cloud-cover-only filter is an index scan of geopera.items: the
    copy, not pgstac's content (the page still walks pgstac's own expression)."""
    from geopera_stac_ext.db.sql import Query
    from geopera_stac_ext.search.engine import SearchRequest, visibility_for
    from geopera_stac_ext.search.where import where

    async def sides(conn) -> tuple[list[str], list[str]]:
        vis = await visibility_for(conn, [catalog["project"]])
        req = SearchRequest.parse(filter="eo:cloud_cover < 50")
        counted = where(req, vis, Query(), platform_copies=True)
        paged = where(req, vis, Query())
        return counted.stac, paged.stac

    counted_stac, paged_stac = db(sides)
    assert counted_stac == []
    assert any("eo:cloud_cover" in c for c in paged_stac)


PLATFORM_ORDERS = [
    ("-created", lambda it: (it["created"], it["id"]), True),
    ("updated", lambda it: (it["updated"], it["id"]), False),
    # NOTE: uncollected items (no collection) sort last in either direction (NULLS LAST).
    ("collection", lambda it: (it["collection"] is None, it["collection"] or "", it["id"]),
     False),
]


@pytest.mark.parametrize("sortby,key,desc", PLATFORM_ORDERS, ids=[o[0] for o in PLATFORM_ORDERS])
def test_platform_orders_page_from_the_platform_rows(client, catalog, sortby, key, desc):
    """sortby on platform fields picks the page from geopera.items alone (no pgstac clause):
    the same order, pages and total as the whole sorted set, by offset and by STAC token."""
    owner = catalog["owner"]
    records = {}
    for offset in range(0, 40, 10):
        page = ok(op(client, "items.search", owner, project_id=catalog["project"], limit=10,
                     offset=offset, sortby=[{"field": sortby.lstrip("-"),
                                             "direction": "desc" if desc else "asc"}]))
        for f in page["features"]:
            records[f["id"]] = f["properties"]
        assert page["numberMatched"] == sum(not it["deleted"] for it in catalog["items"])
    live = [{"id": i, "created": r["created_at"], "updated": r["updated_at"],
             "collection": r["collection_id"]} for i, r in records.items()]
    nulls_last = sortby == "collection"
    want = sorted(live, key=key, reverse=desc and not nulls_last)
    got = []
    for offset in range(0, len(live), 3):
        page = ok(op(client, "items.search", owner, project_id=catalog["project"], limit=3,
                     offset=offset, sortby=[{"field": sortby.lstrip("-"),
                                             "direction": "desc" if desc else "asc"}]))
        got += [f["id"] for f in page["features"]]
    assert got == [it["id"] for it in want]
    # the STAC API's keyset tokens walk the same order
    seen, url, params = [], "/search", {"limit": 4, "sortby": sortby}
    while url:
        fc = ok(client.get(url, params=params, headers=owner.headers))
        seen += [f["id"] for f in fc["features"]]
        nxt = [lk["href"] for lk in fc["links"] if lk["rel"] == "next"]
        url, params = (nxt[0], None) if nxt else (None, None)
    assert [s for s in seen if s in records] == got


def test_migration_0150_backfills_the_copy_of_an_existing_catalog(client, catalog, db, db_env,
                                                                  tmp_path):
    """An existing database upgraded to 0150 gets every platform row's copy from the content."""
    reapply_migration(db, db_env, tmp_path, "0150_hidden_set_and_cloud_cover.sql",
                      "DROP INDEX geopera.items_cloud_cover_idx",
                      "UPDATE geopera.items SET cloud_cover = NULL")
    assert db(lambda c: c.fetchval(
        "SELECT count(*) FROM geopera.items WHERE cloud_cover IS NOT NULL")) >= 20
    # the counters and extents were not touched by the backfill
    page = _search(client, catalog, {"filter": "eo:cloud_cover < 50"}, 0, 1)
    assert page["numberMatched"] == len(_expected(
        catalog["items"], lambda it: it["cloud"] is not None and it["cloud"] < 50))
