"""Named SQL parameters render to asyncpg's `$n`; the builder, not the SQL text, says which
relations a clause reads."""

from __future__ import annotations

import pytest

from geopera_stac_ext.db.sql import Query
from geopera_stac_ext.search.cql2sql import Translator
from geopera_stac_ext.search.fields import PLATFORM, STAC
from geopera_stac_ext.search.request import SearchRequest
from geopera_stac_ext.search.visibility import Visibility
from geopera_stac_ext.search.where import where


def test_placeholders_are_numbered_in_order_of_use_and_a_name_used_twice_is_one_parameter():
    q = Query()
    a, b, lim = q.bind("a"), q.bind(2.5, "::float8"), q.bind(10, name="limit")
    text, args = q.render(f"SELECT {b} WHERE x = {a} AND y = {a} LIMIT {lim}")
    assert text == "SELECT $1::float8 WHERE x = $2 AND y = $2 LIMIT $3"
    assert args == [2.5, "a", 10]


def test_a_parameter_the_final_sql_dropped_is_not_sent():
    q = Query()
    q.bind("unused")
    used = q.bind(1)
    assert q.render(f"SELECT {used}") == ("SELECT $1", [1])


def test_quoted_literals_and_casts_are_never_placeholders():
    q = Query()
    key = q.bind("gsd", "::text")
    text, args = q.render(f"SELECT p.content->'properties'->'eo:cloud_cover', "
                          f"'it''s :not' || {key}, x::int, '{{}}'")
    assert text == ("SELECT p.content->'properties'->'eo:cloud_cover', "
                    "'it''s :not' || $1::text, x::int, '{}'")
    assert args == ["gsd"]


def test_an_unbound_name_and_a_rebound_name_are_programming_errors():
    q = Query()
    with pytest.raises(KeyError, match=":missing"):
        q.render("SELECT :missing")
    q.bind([1], name="ids")
    with pytest.raises(ValueError, match=":ids"):
        q.bind([2], name="ids")


@pytest.mark.parametrize(("cql2", "relations"), [
    ("eo:cloud_cover < 10", {STAC}),
    ("datetime > TIMESTAMP('2020-01-01T00:00:00Z')", {STAC}),
    ("type = 'image'", {PLATFORM}),
    ("lifecycle_state = 'active' AND gsd > 1", {PLATFORM, STAC}),
    # NOTE: a literal that merely looks like a column reference reads nothing
    ("title = 'i.type p.id'", {STAC}),
])
def test_the_translator_reports_the_relations_a_filter_reads(cql2, relations):
    req = SearchRequest.parse(filter=cql2)
    assert Translator(Query()).where(req.filter).relations == relations


def test_clauses_land_on_the_side_of_the_relations_they_read():
    req = SearchRequest.parse(filter="type = 'image' AND eo:cloud_cover < 10",
                              datetime="2020-01-01T00:00:00Z/..")
    q = Query()
    w = where(req, Visibility(("00000000-0000-0000-0000-000000000001",), ("c",)), q)
    assert any("i.type" in c for c in w.platform)
    assert not any("i." in c for c in w.stac)
    assert w.reads_stac and not w.counted
    platform_only = where(SearchRequest.parse(filter="type = 'image'"),
                          Visibility(("00000000-0000-0000-0000-000000000001",), ("c",)), Query())
    assert not platform_only.reads_stac
    assert {PLATFORM, STAC} <= q.relations
