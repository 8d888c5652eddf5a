"""A search page's STAC Items: links and asset objects written as JSON text, spliced by orjson."""

from __future__ import annotations

from typing import Any

import orjson

from geopera_stac_ext.domain.stac_feature import (
    AUTH_SCHEME,
    GEOJSON,
    JSON,
    schemas_for,
    stac_properties,
)
from geopera_stac_ext.storage.asset_tokens import EMBED_ROLES, HrefSigner
from geopera_stac_ext.storage.signing import asset_href

# The asset rows stac_page reads, in its tuple order; keys sorted as stac_assets shows them.
# NOTE: ids as text from the database: no UUID objects to make and convert per asset.
ASSET_ROWS_SQL = (
    "SELECT item_id::text, key, id::text, href, media_type, file_size_bytes, roles, title "
    "FROM geopera.assets WHERE item_id = ANY($1::uuid[]) AND deleted_at IS NULL "
    "ORDER BY item_id, key")
_EMPTY = orjson.Fragment(b"{}")
_REFS = f',"auth:refs":["{AUTH_SCHEME}"]'.encode()
_dumps = orjson.dumps


def _asset_json(b: str, asset_id: str, href: str, media_type: str | None, size: int | None,
                roles: list[str], title: str | None, signer: HrefSigner | None) -> bytes:
    """stac_feature._asset_entry as JSON text, written directly; `b` is the JSON-escaped base.

    NOTE: the href is the base, the asset id (a UUID), filename_for's [A-Za-z0-9._-] and a
    token of [A-Za-z0-9._-]: nothing in it to escape. Stored text (href, type, title) is
    escaped by orjson."""
    url = asset_href(b, asset_id, href)
    if signer is not None and roles and not EMBED_ROLES.isdisjoint(roles):
        url += signer.query(asset_id)
    out = (b'{"href":"' + url.encode() + b'","roles":' + _dumps(roles)
           + b',"geopera:href":' + _dumps(href) + _REFS)
    if media_type:
        out += b',"type":' + _dumps(media_type)
    if title:
        out += b',"title":' + _dumps(title)
    if size is not None:
        out += b',"file:size":' + str(size).encode()
    return out + b',"geopera:asset_id":"' + asset_id.encode() + b'"}'


def _links(b: str, item_id: str, cid: str | None) -> orjson.Fragment:
    """stac_feature._feature's links as JSON text; `b` is the JSON-escaped base URL.

    NOTE: ids are UUIDs written by the database (nothing to escape)."""
    root = f'{{"rel":"root","href":"{b}/","type":"{JSON}"}}'
    if cid:
        coll = f"{b}/collections/{cid}"
        return orjson.Fragment(
            f'[{root},{{"rel":"self","href":"{coll}/items/{item_id}","type":"{GEOJSON}"}},'
            f'{{"rel":"parent","href":"{coll}","type":"{JSON}"}},'
            f'{{"rel":"collection","href":"{coll}","type":"{JSON}"}}]')
    return orjson.Fragment(
        f'[{root},{{"rel":"self","href":"{b}/search?ids={item_id}","type":"{GEOJSON}"}},'
        f'{{"rel":"parent","href":"{b}/","type":"{JSON}"}}]')


def stac_page(records: list[dict[str, Any]], asset_rows: list[Any], base_url: str,
              signer: HrefSigner | None = None) -> list[dict[str, Any]]:
    """A page of Features from its item records and the rows of ASSET_ROWS_SQL: the same
    JSON stac_feature.stac_feature writes, with `links` and `assets` as orjson Fragments.

    NOTE: measured (benchmarks/search, issue 13 §7): building 300 asset entries and 400 link
    dicts per 100-item page (and freeing them) cost more CPU than the page's search. Writing
    their JSON text in Python costs a third of that; PostgreSQL writing it (string_agg,
    to_json, the filename's regexp) cost the database more than it saved here."""
    b = orjson.dumps(base_url.rstrip("/"))[1:-1].decode()
    # item id → [its entries as `"key":{…}` texts, whether any has a size]
    by_item: dict[str, list[Any]] = {}
    for item_id, key, asset_id, href, media_type, size, roles, title in asset_rows:
        got = by_item.get(item_id)
        if got is None:
            got = by_item[item_id] = [[], False]
        got[0].append(_dumps(key) + b":" + _asset_json(b, asset_id, href, media_type, size,
                                                        roles or [], title, signer))
        if size is not None:
            got[1] = True
    features = []
    for record in records:
        item_id, cid = record["id"], record.get("collection_id")
        row = by_item.get(item_id)
        properties = stac_properties(record)
        feature: dict[str, Any] = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": schemas_for(properties, row is not None,
                                           row is not None and row[1]),
            "id": item_id,
            "geometry": record["geometry"],
            "bbox": record["bbox"],
            "properties": properties,
            "links": _links(b, item_id, cid),
            "assets": (orjson.Fragment(b"{" + b",".join(row[0]) + b"}") if row is not None
                       else _EMPTY),
        }
        if cid:
            feature["collection"] = cid
        features.append(feature)
    return features


def materialized(feature: dict[str, Any]) -> dict[str, Any]:
    """The Feature as plain Python values (its Fragments parsed), for code that walks it
    (the fields extension)."""
    return orjson.loads(orjson.dumps(feature))


__all__ = ["ASSET_ROWS_SQL", "materialized", "stac_page"]
