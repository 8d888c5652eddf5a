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


def stac_properties(record: dict[str, Any]) -> dict[str, Any]:
    props = dict(record.get("properties") or {})
    for rec_name, stac_name in MAPPED_PROPERTIES.items():
        if record.get(rec_name) is not None:
            props[stac_name] = record[rec_name]
    props.setdefault("datetime", record.get("datetime"))
    props["created"] = record.get("created_at")
    props["updated"] = record.get("updated_at")
    props["geopera:type"] = record.get("type")
    props["geopera:lifecycle_state"] = record.get("lifecycle_state")
    props["geopera:project_id"] = record.get("project_id")
    if record.get("expires_at"):
        props["geopera:expires_at"] = record["expires_at"]
    return props


def stac_assets(assets: list[dict[str, Any]], base_url: str,
                signer: HrefSigner | None = None) -> dict[str, Any]:
    """Each asset's `href` is its key-authenticated URL on this service; the stored href stays
    visible as `geopera:href`. With a signer (the caller's key), thumbnail and overview hrefs
    also carry an `access_token`, so an <img src> shows them without a header."""
    out: dict[str, Any] = {}
    for a in assets:
        roles = list(a.get("roles") or [])
        href = asset_href(base_url, a["id"], a["href"])
        if signer is not None and not EMBED_ROLES.isdisjoint(roles):
            href += signer.query(a["id"])
        entry: dict[str, Any] = {"href": href, "roles": roles,
                                 "geopera:href": a["href"], "auth:refs": [AUTH_SCHEME]}
        if a.get("media_type"):
            entry["type"] = a["media_type"]
        if a.get("title"):
            entry["title"] = a["title"]
        if a.get("file_size_bytes") is not None:
            entry["file:size"] = a["file_size_bytes"]
        entry["geopera:asset_id"] = a["id"]
        out[a["key"]] = entry
    return out


def extensions_used(properties: dict[str, Any], assets: dict[str, Any]) -> list[str]:
    """The schemas of the extension fields (`prefix:name`) an item carries, sorted.

    NOTE: asset entries are built by stac_assets, whose only extension fields are `auth:refs`
    (always) and `file:size`; scanning their keys cost more than the rest of the feature.
    """
    prefixes = {k.partition(":")[0] for k in properties if ":" in k}
    if assets:
        prefixes.add("auth")
        if any("file:size" in e for e in assets.values()):
            prefixes.add("file")
    return list(_schemas(frozenset(prefixes)))


@lru_cache(maxsize=1024)
def _schemas(prefixes: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(EXTENSION_SCHEMAS[p] for p in prefixes if p in EXTENSION_SCHEMAS))


def stac_feature(record: dict[str, Any], assets: list[dict[str, Any]], base_url: str,
                 *, derived_from: list[str] | tuple[str, ...] = (),
                 signer: HrefSigner | None = None) -> dict[str, Any]:
    """A STAC Feature with absolute links under `base_url` (the STAC API's own paths); `signer`
    adds access tokens to embeddable asset hrefs (stac_assets).

    An uncollected item has no `collection` field; its parent is the catalog root.
    """
    base = base_url.rstrip("/")
    item_id = record["id"]
    cid = record.get("collection_id")
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": f"{base}/", "type": JSON},
    ]
    if cid:
        links += [
            {"rel": "self", "href": f"{base}/collections/{cid}/items/{item_id}", "type": GEOJSON},
            {"rel": "parent", "href": f"{base}/collections/{cid}", "type": JSON},
            {"rel": "collection", "href": f"{base}/collections/{cid}", "type": JSON},
        ]
    else:
        links += [
            {"rel": "self", "href": f"{base}/search?ids={item_id}", "type": GEOJSON},
            {"rel": "parent", "href": f"{base}/", "type": JSON},
        ]
    for parent in derived_from:
        links.append({"rel": "derived_from", "href": f"{base}/search?ids={parent}",
                      "type": GEOJSON})
    properties = stac_properties(record)
    stac_asset_map = stac_assets(assets, base, signer)
    feature: dict[str, Any] = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": extensions_used(properties, stac_asset_map),
        "id": item_id,
        "geometry": record["geometry"],
        "bbox": record["bbox"],
        "properties": properties,
        "links": links,
        "assets": stac_asset_map,
    }
    if cid:
        feature["collection"] = cid
    return feature
