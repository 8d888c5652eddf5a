"""Keyset paging on an indexed nullable key (sortby eo:cloud_cover, gsd, title): the token's key
is a number (a text for title) or null, each resumes the right index range, and anything else
is refused."""

from __future__ import annotations

import pytest

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.db.sql import Query
from geopera_stac_ext.search.fields import CLOUD_COVER, TITLE
from geopera_stac_ext.search.paging import keyset_ok, make_token, nullable_after, read_token
from geopera_stac_ext.search.request import SearchRequest
from geopera_stac_ext.search.where import sort_keys


def _keys(sortby: str):
    return sort_keys(SearchRequest.parse(sortby=sortby))


def test_only_the_indexed_nullable_key_alone_before_the_id_pages_by_key():
    assert keyset_ok(_keys("eo:cloud_cover")) and keyset_ok(_keys("-cloud_cover"))
    assert keyset_ok(_keys("gsd")) and keyset_ok(_keys("-title")) and keyset_ok(_keys("name"))
    assert not keyset_ok(_keys("eo:cloud_cover,-datetime"))  # resumes by position
    assert not keyset_ok(_keys("gsd,title"))


def test_a_valued_key_resumes_after_the_value_then_reads_every_missing_row():
    q = Query()
    valued, missing = nullable_after(_keys("-eo:cloud_cover"), ["3.5", "b"], q)
    text, args = q.render(valued)
    assert text.startswith(f"({CLOUD_COVER} <= $1::float8 AND ({CLOUD_COVER} < $1::float8 OR")
    assert args == [3.5, "b"] and missing == "TRUE"


def test_a_null_key_resumes_inside_the_missing_rows_by_id():
    q = Query()
    valued, missing = nullable_after(_keys("eo:cloud_cover"), [None, "b"], q)
    assert valued == "FALSE" and q.render(missing) == ("p.id > $1::text", ["b"])


@pytest.mark.parametrize("key", [["NaN", "b"], ["inf", "b"], ["-Infinity", "b"], [3.5, "b"],
                                 ["x", "b"], ["1", None], ["1"], ["1", "b", "c"]])
def test_a_key_that_is_not_a_finite_number_and_an_id_is_refused(key):
    with pytest.raises(InvalidRequest):
        nullable_after(_keys("eo:cloud_cover"), key, Query())


def test_the_token_round_trips_a_float_and_a_null_exactly():
    for value in (0.1 + 0.2, 1e-07, 97.25, None):
        token = make_token(b"s" * 32, position=4, key=[value, "id-1"], caller="u", query="q")
        _, key = read_token(b"s" * 32, token, caller="u", query="q")
        assert key[1] == "id-1"
        assert (key[0] is None) if value is None else float(key[0]) == value


def test_a_title_key_resumes_after_the_text_as_text():
    q = Query()
    valued, missing = nullable_after(_keys("title"), ["kea'; DROP TABLE x; --", "b"], q)
    text, args = q.render(valued)
    assert text.startswith(f"({TITLE} >= $1::text AND ({TITLE} > $1::text OR")
    assert args == ["kea'; DROP TABLE x; --", "b"] and missing == "TRUE"


@pytest.mark.parametrize("key", [[3, "b"], [["a"], "b"], [{"a": 1}, "b"], ["a", 5]])
def test_a_title_key_that_is_not_a_text_and_an_id_is_refused(key):
    with pytest.raises(InvalidRequest):
        nullable_after(_keys("-title"), key, Query())
