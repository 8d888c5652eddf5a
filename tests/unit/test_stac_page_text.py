"""stac_page writes links and assets as JSON text: the same JSON, key for key and in order, as
the dict renderer (stac_feature), whatever a tenant stores in a key, href, type or title."""

from __future__ import annotations

import json

import orjson
import pytest

from geopera_stac_ext.domain import stac_feature as sf
from geopera_stac_ext.domain.stac_page import materialized, stac_page
from geopera_stac_ext.storage.asset_tokens import HrefSigner

ITEM = "0b6f5a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
COLL = "7d1e2f3a-4b5c-4d6e-9f80-1a2b3c4d5e6f"
HOSTILE = ['a"b\\c', "tab\there", "nl\nx", "\x01\x02\x1f", "é ü 中文 \u2028\u2029", "</script>",
           "x" * 300, "s3://b/k/", "s3://b/dir///", "", "/", "üñí/çødé name.tif"]


def _record(cid: str | None, **extra) -> dict:
    return {"id": ITEM, "project_id": "11111111-2222-4333-8444-555555555555",
            "collection_id": cid, "name": "N", "description": None, "type": "image",
            "geometry": {"type": "Point", "coordinates": [1.5, 2.25]},
            "bbox": [1.5, 2.25, 1.5, 2.25],
            "datetime": "2026-05-18T01:20:00Z", "cloud_cover": 4.1, "gsd": None,
            "properties": {"platform": "sat", "view:off_nadir": 3}, "lifecycle_state": "active",
            "created_at": "2026-05-18T01:20:00.5Z", "updated_at": "2026-05-18T01:20:00Z",
            "expires_at": None, **extra}


def _rows(texts: list[str]) -> list[tuple]:
    """Asset rows (ASSET_ROWS_SQL's tuple order), sorted by key as the query returns them."""
    rows = []
    for n, text in enumerate(texts):
        roles = [["thumbnail"], ["data", "overview"], [], ["data"]][n % 4]
        rows.append((ITEM, f"k{n:02d}{text[:20]}", f"00000000-0000-4000-8000-{n:012d}",
                     f"s3://bucket/{text}" if n % 2 else text or "x", text or None,
                     None if n % 3 else n * 1000, roles, text or None))
    return sorted(rows, key=lambda r: r[1])


def _by_dicts(record: dict, rows: list[tuple], base: str, signer) -> dict:
    assets = [{"key": k, "id": aid, "href": href, "media_type": mt, "file_size_bytes": size,
               "roles": roles, "title": title} for _i, k, aid, href, mt, size, roles, title in rows]
    return sf.stac_feature(record, assets, base, signer=signer)


@pytest.mark.parametrize("cid", [COLL, None])
@pytest.mark.parametrize("signed", [True, False])
def test_text_rendered_items_equal_the_dict_renderer_in_key_order(cid, signed):
    signer = HrefSigner(b"s" * 32, "6f1c0a8e-7f43-4c55-9d3b-0a1f7d6a2b11", 1_900_000_000)
    signer = signer if signed else None
    record, rows = _record(cid), _rows(HOSTILE)
    for base in ("http://testserver/", 'https://h.example/a"b\\c/'):
        (feature,) = stac_page([record], rows, base, signer)
        want = _by_dicts(record, rows, base, signer)
        # NOTE: json.dumps of the parsed text keeps its key order: order is compared too.
        assert json.dumps(orjson.loads(orjson.dumps(feature))) == json.dumps(want)
        assert materialized(feature) == want


def test_an_item_without_assets_has_an_empty_asset_object_and_no_auth_schema():
    (feature,) = stac_page([_record(COLL)], [], "http://testserver", None)
    text = orjson.dumps(feature)
    assert orjson.loads(text)["assets"] == {}
    assert orjson.loads(text) == json.loads(json.dumps(_by_dicts(_record(COLL), [],
                                                                 "http://testserver", None)))
    assert sf.AUTH_EXTENSION not in orjson.loads(text)["stac_extensions"]
