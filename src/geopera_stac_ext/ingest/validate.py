"""A loader line against items.create's rules: STAC Feature → checked parameters, hrefs."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.fields import _bbox, _datetime, _geometry, time_span_error
from geopera_stac_ext.domain.records import MAPPED_PROPERTIES, STAC_TO_RECORD
from geopera_stac_ext.storage.buckets import check_grants
from geopera_stac_ext.storage.hrefs import CONTROL, check_href
from geopera_stac_ext.storage.media import valid_media_type

if TYPE_CHECKING:
    from geopera_stac_ext.domain.items import ItemsCreateParams

# NOTE: domain.items (pydantic models, storage rules) and core.problem are imported only when a
# line needs the pydantic model (check_params), not at every start of the loader.

PRIMARY_KEY = "data"  # domain.items.PRIMARY_KEY (tests check they agree)
PARAM_FIELDS = {"project_id", "name", "description", "type", "geometry", "bbox", "datetime",
                "cloud_cover", "gsd", "properties", "assets"}
ASSET_FIELDS = frozenset(("key", "href", "media_type", "file_size_bytes", "roles", "title"))
ASSET_KEY = re.compile(r"[A-Za-z0-9_.:\-]+")  # AssetIn.key's pattern, used with fullmatch
MAPPED_STAC = frozenset(MAPPED_PROPERTIES.values())
REMOTE_PREFIXES = ("s3://", "gs://", "http://", "https://")
# (key, href, media_type, file_size_bytes, roles, title)
Asset = tuple[str, str, str | None, int | None, list[str], str | None]


@dataclass(slots=True)
class Checked:
    """The fields of a line that passed items.create's rules (ItemsCreateParams)."""

    name: str
    description: str | None
    type: str
    geometry: dict[str, Any] | None
    bbox: list[float] | None
    datetime: datetime | None
    cloud_cover: float | None
    gsd: float | None
    properties: dict[str, Any]
    assets: list[Asset]

    @classmethod
    def of(cls, p: ItemsCreateParams) -> "Checked":
        return cls(p.name, p.description, p.type, p.geometry, p.bbox, p.datetime,
                   p.cloud_cover, p.gsd, p.properties,
                   [(a.key, a.href, a.media_type, a.file_size_bytes, a.roles, a.title)
                    for a in p.assets])


def _num(v: Any) -> bool:
    return type(v) is int or type(v) is float  # noqa: E721 (bool is not a number here)


# NOTE: asset keys and media types repeat from line to line; the ones that passed their
# pattern are remembered (bounded: a file of ever-new values cannot grow the memory).
_GOOD_KEYS: set[str] = set()
_GOOD_MEDIA: set[str] = set()


def _remembered(good: set[str], value: str, ok: bool) -> bool:
    if ok and len(good) < 256:
        good.add(value)
    return ok


def _fast_asset(a: Any) -> Asset | None:
    """One asset by AssetIn's rules, or None (unusual or invalid: the model decides)."""
    if type(a) is not dict or not ASSET_FIELDS.issuperset(a):
        return None
    key, href = a.get("key"), a.get("href")
    media, size = a.get("media_type"), a.get("file_size_bytes")
    roles, title = a.get("roles", []), a.get("title")
    if (type(key) is not str or (key not in _GOOD_KEYS and not _remembered(
                _GOOD_KEYS, key, 1 <= len(key) <= 200 and ASSET_KEY.fullmatch(key) is not None))
            or type(href) is not str or not 1 <= len(href) <= 2048
            or (media is not None and (type(media) is not str or (
                media not in _GOOD_MEDIA
                and not _remembered(_GOOD_MEDIA, media, valid_media_type(media)))))
            or (size is not None and (type(size) is not int or size < 0))
            or type(roles) is not list or len(roles) > 20
            or any(type(r) is not str for r in roles)
            or (title is not None and (type(title) is not str or len(title) > 500))):
        return None
    return (key, href, media, size, list(roles), title)


def _fast_assets(raw: Any) -> list[Asset] | None:
    if type(raw) is not list or not 1 <= len(raw) <= 100:
        return None
    assets = []
    for a in raw:
        checked = _fast_asset(a)
        if checked is None:
            return None
        assets.append(checked)
    keys = {a[0] for a in assets}
    if len(keys) != len(assets) or PRIMARY_KEY not in keys:
        return None
    return assets


def _fast_number(v: Any, low: float, positive: bool = False) -> tuple[bool, float | None]:
    """(ok, value as float) for cloud_cover (0–100) or gsd (> 0); None stays None."""
    if v is None:
        return True, None
    if not _num(v) or not (v > 0 if positive else low <= v <= 100):
        return False, None
    return True, float(v)


def _plain_bbox(v: Any) -> list[float] | None:
    """_bbox(v) for four plain numbers in range, or None (then _bbox decides).

    NOTE: the comparisons refuse NaN and ±Infinity, and an int in range fits a double, as
    _bbox's finite_number requires; bool is no number (exact types)."""
    if type(v) is not list or len(v) != 4:
        return None
    w, s, e, n = v
    if ((type(w) is float or type(w) is int) and (type(s) is float or type(s) is int)
            and (type(e) is float or type(e) is int) and (type(n) is float or type(n) is int)
            and -180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        return [float(w), float(s), float(e), float(n)]
    return None


def _fast_texts(d: dict[str, Any]) -> tuple[str, str | None, str] | None:
    name, desc, typ = d.get("name"), d.get("description"), d.get("type", "image")
    if type(name) is not str or not 1 <= len(name) <= 500:
        return None
    if desc is not None and (type(desc) is not str or len(desc) > 10_000):
        return None
    if type(typ) is not str or not 1 <= len(typ) <= 100:
        return None
    return name, desc, typ


def fast_check(d: dict[str, Any]) -> Checked | None:
    """ItemsCreateParams' rules for the usual shapes of loader params, without pydantic.

    NOTE: conservative by construction: it returns a Checked only for params the pydantic
    model accepts, and None for anything unusual or invalid, which then goes through
    ItemsCreateParams itself (the authority, and the source of the error message).
    Same validators (_geometry, _bbox, _datetime) and the same conversions (int → float).
    """
    try:
        texts = None if set(d) - PARAM_FIELDS else _fast_texts(d)
        geometry, bbox = d.get("geometry"), d.get("bbox")
        if texts is None or (geometry is None and bbox is None):
            return None
        geometry = None if geometry is None else _geometry(geometry)
        bbox = None if bbox is None else (_plain_bbox(bbox) or _bbox(bbox))
        dt = d.get("datetime")
        dt = None if dt is None else _datetime(dt)
        cc_ok, cc = _fast_number(d.get("cloud_cover"), 0)
        gsd_ok, gsd = _fast_number(d.get("gsd"), 0, positive=True)
        props = d.get("properties", {})
        if not (cc_ok and gsd_ok) or type(props) is not dict or not MAPPED_STAC.isdisjoint(props):
            return None
        if ("start_datetime" in props or "end_datetime" in props) and time_span_error(props):
            return None  # NOTE: the model says why
        assets = _fast_assets(d.get("assets"))
        if assets is None:
            return None
        return Checked(*texts, geometry, bbox, dt, cc, gsd, dict(props), assets)
    except Exception:  # noqa: BLE001 — anything odd: let the pydantic model decide
        return None


def check_params(params: dict[str, Any]) -> Checked:
    """items.create's validation of loader params; raises InvalidRequest like the op would."""
    checked = fast_check(params)
    if checked is not None:
        return checked
    from geopera_stac_ext.domain.items import ItemsCreateParams
    from geopera_stac_ext.core.problem import describe_validation

    try:
        return Checked.of(ItemsCreateParams.model_validate(params))
    except ValidationError as e:
        raise InvalidRequest(describe_validation(list(e.errors()))[0]) from None


def feature_to_params(feature: Any, project_id: str) -> dict[str, Any]:
    """A STAC Feature (as gen_items.py / pypgstac take it) → items.create parameters."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidRequest("not a STAC Item: expected a JSON object with type \"Feature\"")
    if not isinstance(feature.get("properties") or {}, dict):
        raise InvalidRequest("properties must be an object")
    props = dict(feature.get("properties") or {})
    params: dict[str, Any] = {"project_id": project_id}
    for stac_name, rec_name in STAC_TO_RECORD.items():
        if stac_name in props:
            params[rec_name] = props.pop(stac_name)
    if "geopera:type" in props:
        params["type"] = props.pop("geopera:type")
    params.setdefault("name", feature.get("id"))
    params["properties"] = props
    if feature.get("geometry") is not None:
        params["geometry"] = feature["geometry"]
    if feature.get("bbox") is not None:
        params["bbox"] = feature["bbox"]
    assets = feature.get("assets") or {}
    if not isinstance(assets, dict):
        raise InvalidRequest("assets must be an object keyed by asset key")
    params["assets"] = [_asset_params(key, a) for key, a in assets.items()]
    return params


# STAC asset field → items.create's AssetIn field
_ASSET_PARAMS = (("href", "href"), ("type", "media_type"), ("file:size", "file_size_bytes"))


def _asset_params(key: str, a: Any) -> dict[str, Any]:
    """A STAC asset → items.create's asset parameters (fields it lacks are left out)."""
    out: dict[str, Any] = {"key": key}
    if not isinstance(a, dict):
        return out
    for stac_name, name in _ASSET_PARAMS:
        v = a.get(stac_name)
        if v is not None:
            out[name] = v
    out["roles"] = a.get("roles") or []
    title = a.get("title")
    if title is not None:
        out["title"] = title
    return out


# s3://bucket/key or gs://bucket/key spelled only with characters urlparse gives no meaning
_PLAIN_OBJECT = re.compile(r"(s3|gs)://([A-Za-z0-9._-]+)/([A-Za-z0-9._~!$&'()*+,=@:/-]+)")


def plain_object_parts(href: str) -> tuple[str, str, str] | None:
    """storage.hrefs.object_parts(href) for plainly spelled object URLs it accepts, or None.

    NOTE: measured: urlparse (twice per href) was a third of the loader's CPU per line. This
    answers only hrefs whose parts are plain (no query, fragment, user, port, escape, empty
    or dot segment), where urlparse's split is the one below; anything else (None) takes
    object_parts itself, the authority (tests/unit/test_loader_formats.py compares them).
    """
    m = _PLAIN_OBJECT.fullmatch(href)
    if m is None:
        return None
    key = m.group(3)
    # NOTE: a "." or ".." segment starts the key or follows a "/": only then split.
    if key[0] == "/" or "//" in key or ((key[0] == "." or "/." in key) and any(
            seg in (".", "..") for seg in key.split("/"))):
        return None
    return m.group(1), m.group(2), key


def grant_prefixes(grants: list[tuple[Any, ...]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(scheme, bucket) → the key prefixes granted in it: storage.buckets.covers as a lookup."""
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for scheme, bucket, prefix in grants:
        out[(scheme, bucket)] = (*out.get((scheme, bucket), ()), prefix)
    return out


def check_hrefs(assets: list[Asset], storage_dir: Any, project_id: str,
                grants: list[tuple[Any, ...]],
                prefixes: dict[tuple[str, str], tuple[str, ...]] | None = None) -> None:
    """Every href is one the project may reference: its storage area or a granted bucket
    (`prefixes`: grant_prefixes(grants), made once per load)."""
    if prefixes is None:
        prefixes = grant_prefixes(grants)
    for a in assets:
        href = a[1]
        parts = plain_object_parts(href)
        if parts is not None and parts[2].startswith(prefixes.get(parts[:2], ())):
            continue
        # NOTE: fast path for http(s) URLs (what check_href accepts without I/O); object
        # store URLs are checked against the account's bucket grants, loaded once.
        if not (href.startswith(REMOTE_PREFIXES) and href.split("://", 1)[1][:1]
                not in ("", "/") and "\\" not in href and not CONTROL.search(href)):
            check_href(storage_dir, project_id, href)
        check_grants(grants, href, f"assets.{a[0]}.href")


def collection_ref(feature: dict[str, Any]) -> str | None:
    """The line's `collection` (a collection's name or id), checked."""
    ref = feature.get("collection")
    if ref is not None and (not isinstance(ref, str) or not 1 <= len(ref.strip()) <= 500):
        raise InvalidRequest("collection must be a collection name or id (1–500 characters)")
    return ref


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def item_id_of(feature: dict[str, Any], properties: dict[str, Any]) -> str:
    """The line's id if it is a UUID; otherwise a new one, the source id kept as a property."""
    raw_id = feature.get("id")
    # NOTE: a canonical (lower-case, hyphenated) UUID is its own str(uuid.UUID(...)): no parse.
    if type(raw_id) is str and _CANONICAL_UUID.fullmatch(raw_id):
        return raw_id
    try:
        return str(uuid.UUID(str(raw_id)))
    except ValueError:
        # NOTE: platform ids are UUIDs; keep the source id findable as a property.
        properties["geopera:source_id"] = raw_id
        return str(uuid.uuid4())


def utc(v: Any, what: str) -> datetime:
    try:
        return _datetime(v)
    except ValueError:
        raise InvalidRequest(f"properties.{what} must be an RFC 3339 timestamp") from None
