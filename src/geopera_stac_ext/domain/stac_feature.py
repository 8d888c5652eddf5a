"""An item record plus its assets as a STAC 1.0.0 Feature (items.get_stac, format=stac, STAC API)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from geopera_stac_ext.domain.records import MAPPED_PROPERTIES
from geopera_stac_ext.storage.asset_tokens import EMBED_ROLES, HrefSigner
from geopera_stac_ext.storage.signing import asset_href

GEOJSON = "application/geo+json"
JSON = "application/json"
# The STAC Authentication extension: how a client authenticates (landing page, collections)
# and which assets need it (`auth:refs`).
AUTH_EXTENSION = "https://stac-extensions.github.io/authentication/v1.1.0/schema.json"
AUTH_SCHEME = "geopera_key"
AUTH_SCHEMES = {AUTH_SCHEME: {
    "type": "http", "scheme": "bearer",
    "description": "A Geopera API key (`gpra_…`) sent as `Authorization: Bearer <key>` on every "
                   "request, asset hrefs included (thumbnail and overview hrefs also carry a "
                   "short-lived `access_token` bound to the key, for <img src>).",
}}
# Field prefix → the schema of the STAC extension that defines it (stac_extensions).
EXTENSION_SCHEMAS = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "auth": AUTH_EXTENSION,
}


# NOTE: pairs, not a dict view: this loop runs for every item of every page.
_MAPPED = tuple(MAPPED_PROPERTIES.items())


def stac_properties(record: dict[str, Any]) -> dict[str, Any]:
    props = dict(record.get("properties") or {})
    for rec_name, stac_name in _MAPPED:
        value = record.get(rec_name)
        if value is not None:
            props[stac_name] = value
    if "datetime" not in props:
        props["datetime"] = record.get("datetime")
    props["created"] = record.get("created_at")
    props["updated"] = record.get("updated_at")
    props["geopera:type"] = record.get("type")
    props["geopera:lifecycle_state"] = record.get("lifecycle_state")
    props["geopera:project_id"] = record.get("project_id")
    if record.get("expires_at"):
        props["geopera:expires_at"] = record["expires_at"]
    return props


def _asset_entry(base: str, asset_id: str, href: str, media_type: str | None,
                 size: int | None, roles: list[str], title: str | None,
                 signer: HrefSigner | None) -> dict[str, Any]:
    """One asset entry (stac_assets' rules); `base` without a trailing slash."""
    url = asset_href(base, asset_id, href)
    if signer is not None and roles and not EMBED_ROLES.isdisjoint(roles):
        url += signer.query(asset_id)
    entry: dict[str, Any] = {"href": url, "roles": roles, "geopera:href": href,
                             "auth:refs": [AUTH_SCHEME]}
    if media_type:
        entry["type"] = media_type
    if title:
        entry["title"] = title
    if size is not None:
        entry["file:size"] = size
    entry["geopera:asset_id"] = asset_id
    return entry


def stac_assets(assets: list[dict[str, Any]], base_url: str,
                signer: HrefSigner | None = None) -> dict[str, Any]:
    """Each asset's `href` is its key-authenticated URL on this service; the stored href stays
    visible as `geopera:href`. With a signer (the caller's key), thumbnail and overview hrefs
    also carry an `access_token`, so an <img src> shows them without a header."""
    return {a["key"]: _asset_entry(base_url, a["id"], a["href"], a.get("media_type"),
                                   a.get("file_size_bytes"), list(a.get("roles") or []),
                                   a.get("title"), signer)
            for a in assets}


# NOTE: property names are the tenant's: only small sets are remembered, so the cache stays a
# few MB however many distinct (or huge) key sets items carry.
CACHED_KEYS = 32


def extensions_for(properties: dict[str, Any], has_assets: bool, has_file: bool) -> list[str]:
    """The schemas of the extension fields (`prefix:name`) an item carries, sorted.

    NOTE: asset entries are built by _asset_entry, whose only extension fields are `auth:refs`
    (always) and `file:size`: the caller says whether there are assets and sizes instead of
    this scanning their keys (which cost more than the rest of the feature).
    """
    return list(schemas_for(properties, has_assets, has_file))


def schemas_for(properties: dict[str, Any], has_assets: bool,
                has_file: bool) -> tuple[str, ...]:
    """extensions_for as a tuple (orjson writes it as the same array), the cached one itself."""
    keys = tuple(properties)
    if len(keys) > CACHED_KEYS:
        return _schemas_of(keys, has_assets, has_file)
    return _cached_schemas(keys, has_assets, has_file)


def _schemas_of(keys: tuple[str, ...], has_assets: bool, has_file: bool) -> tuple[str, ...]:
    prefixes = {k.partition(":")[0] for k in keys if ":" in k}
    if has_assets:
        prefixes.add("auth")
        if has_file:
            prefixes.add("file")
    return tuple(sorted(EXTENSION_SCHEMAS[p] for p in prefixes if p in EXTENSION_SCHEMAS))


# NOTE: cached by the properties' key names: a page's items mostly share one set.
_cached_schemas = lru_cache(maxsize=512)(_schemas_of)


def _feature(record: dict[str, Any], assets: dict[str, Any], base: str, has_file: bool,
             derived_from: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    item_id = record["id"]
    cid = record.get("collection_id")
    root = {"rel": "root", "href": f"{base}/", "type": JSON}
    if cid:
        coll = f"{base}/collections/{cid}"
        links = [root, {"rel": "self", "href": f"{coll}/items/{item_id}", "type": GEOJSON},
                 {"rel": "parent", "href": coll, "type": JSON},
                 {"rel": "collection", "href": coll, "type": JSON}]
    else:
        links = [root, {"rel": "self", "href": f"{base}/search?ids={item_id}", "type": GEOJSON},
                 {"rel": "parent", "href": f"{base}/", "type": JSON}]
    for parent in derived_from:
        links.append({"rel": "derived_from", "href": f"{base}/search?ids={parent}",
                      "type": GEOJSON})
    properties = stac_properties(record)
    feature: dict[str, Any] = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": extensions_for(properties, bool(assets), has_file),
        "id": item_id,
        "geometry": record["geometry"],
        "bbox": record["bbox"],
        "properties": properties,
        "links": links,
        "assets": assets,
    }
    if cid:
        feature["collection"] = cid
    return feature


def stac_feature(record: dict[str, Any], assets: list[dict[str, Any]], base_url: str,
                 *, derived_from: list[str] | tuple[str, ...] = (),
                 signer: HrefSigner | None = None) -> dict[str, Any]:
    """A STAC Feature with absolute links under `base_url` (the STAC API's own paths); `signer`
    adds access tokens to embeddable asset hrefs (stac_assets).

    An uncollected item has no `collection` field; its parent is the catalog root.
    """
    base = base_url.rstrip("/")
    asset_map = stac_assets(assets, base, signer)
    has_file = any("file:size" in e for e in asset_map.values())
    return _feature(record, asset_map, base, has_file, derived_from)
