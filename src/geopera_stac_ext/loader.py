"""`geopera-stac load FILE.ndjson --project P [--collection C]`: bulk-ingest STAC items."""

from __future__ import annotations

import argparse
import gc
import os
import re
import struct
import sys
import threading
import time
import uuid
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import orjson
import psycopg
from pydantic import ValidationError
from pypgstac.hydration import dehydrate

from geopera_stac_ext import cli
from geopera_stac_ext.errors import GeoperaError, InvalidRequest, NotFound
from geopera_stac_ext.lifecycle.policy import first_transition
from geopera_stac_ext.models.common import _bbox, _datetime, _geometry, bbox_of, polygon_of
from geopera_stac_ext.pgstac.partitions import LOCK_SQL, PARTITION_LOCK
from geopera_stac_ext.records import MAPPED_PROPERTIES, STAC_TO_RECORD, stac_content
from geopera_stac_ext.settings import Settings, dsn_from_env
from geopera_stac_ext.storage.buckets import GRANTS_SQL, check_grants
from geopera_stac_ext.storage.hrefs import CONTROL, check_href
from geopera_stac_ext.storage.media import valid_media_type
from geopera_stac_ext.tenancy import stac_collection

if TYPE_CHECKING:
    from geopera_stac_ext.ops.items import ItemsCreateParams

# NOTE: ops.items (FastAPI via the op registry), problems and pypgstac.load (smart_open, boto3)
# cost ~0.3 s of imports at every start; they are imported only when a line needs them.

DEFAULT_BATCH = 5000
PRIMARY_KEY = "data"  # ops.items.PRIMARY_KEY (tests check they agree)
DEFAULT_WRITERS = 2
FIRST_BATCH = 1000  # the first batch's size, at most (see _load_file)
NULL = "\\N"  # COPY text format's NULL
PARAM_FIELDS = {"project_id", "name", "description", "type", "geometry", "bbox", "datetime",
                "cloud_cover", "gsd", "properties", "assets"}
ASSET_FIELDS = {"key", "href", "media_type", "file_size_bytes", "roles", "title"}
ASSET_KEY = re.compile(r"[A-Za-z0-9_.:\-]+")  # AssetIn.key's pattern, used with fullmatch
MAPPED_STAC = frozenset(MAPPED_PROPERTIES.values())
REMOTE_PREFIXES = ("s3://", "gs://", "http://", "https://")


def _esc(v: Any) -> str:
    """A value in COPY text format (NULL is \\N; backslash, tab, newline, CR escaped)."""
    if v is None:
        return NULL
    s = v if isinstance(v, str) else str(v)
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def _array(values: list[str]) -> str:
    return "{" + ",".join('"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for x in values) + "}"


def _new_uuids(n: int) -> list[str]:
    """n time-ordered UUIDs (version 7, RFC 9562): 48-bit Unix milliseconds, then random.

    NOTE: new asset ids land at the right edge of the primary-key index instead of a random
    page of it (random version 4 ids made each index insert touch a different leaf).
    """
    ms = f"{time.time_ns() // 1_000_000:012x}"
    rand = os.urandom(10 * n).hex()
    out = []
    for i in range(0, 20 * n, 20):
        r = rand[i:i + 20]
        out.append(f"{ms[:8]}-{ms[8:12]}-7{r[1:4]}-{'89ab'[int(r[4], 16) & 3]}{r[5:8]}-{r[8:20]}")
    return out


def _month_floor(d: datetime) -> datetime:
    return d.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_ceil(d: datetime) -> datetime:
    """The first instant of the UTC month after d's (d itself if it is one)."""
    f = _month_floor(d)
    if f == d:
        return f
    return f.replace(year=f.year + 1, month=1) if f.month == 12 else f.replace(month=f.month + 1)


_EWKB_SRID = 0x20000000  # EWKB's "SRID follows" flag
_EWKB_HEAD = {t: struct.pack("<BII", 1, code | _EWKB_SRID, 4326)
              for t, code in (("Point", 1), ("LineString", 2), ("Polygon", 3),
                              ("MultiPolygon", 6))}
_WKB_POLYGON = struct.pack("<BI", 1, 3)  # a MultiPolygon's member (no SRID of its own)


def _points(coords: list[Any]) -> bytes:
    """A WKB point list: the count, then x y doubles (2-D positions only)."""
    flat = array("d")
    for c in coords:
        if len(c) != 2:
            raise ValueError("not 2-D")
        flat.extend(c)
    return struct.pack("<I", len(coords)) + flat.tobytes()


def _rings(rings: list[Any]) -> bytes:
    return struct.pack("<I", len(rings)) + b"".join(_points(r) for r in rings)


def ewkb(g: dict[str, Any]) -> str | None:
    """Hex EWKB (SRID 4326) of a 2-D GeoJSON geometry, as pypgstac's plpygis writes it, or
    None to fall back to plpygis.

    NOTE: measured: plpygis' encoding was ~40% of pypgstac's per-item cost; this is ≈ 2 µs
    for a 5-point polygon, and PostGIS reads hex EWKB faster than WKT text.
    """
    t, c = g["type"], g.get("coordinates")
    try:
        if t == "Point":
            if len(c) != 2:
                return None
            body = struct.pack("<2d", *c)
        elif t == "LineString":
            body = _points(c)
        elif t == "Polygon":
            body = _rings(c)
        elif t == "MultiPolygon":
            body = struct.pack("<I", len(c)) + b"".join(_WKB_POLYGON + _rings(p) for p in c)
        else:
            return None
    except (TypeError, ValueError, struct.error):
        return None
    return (_EWKB_HEAD[t] + body).hex()


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
    # (key, href, media_type, file_size_bytes, roles, title)
    assets: list[tuple[str, str, str | None, int | None, list[str], str | None]]

    @classmethod
    def of(cls, p: ItemsCreateParams) -> "Checked":
        return cls(p.name, p.description, p.type, p.geometry, p.bbox, p.datetime,
                   p.cloud_cover, p.gsd, p.properties,
                   [(a.key, a.href, a.media_type, a.file_size_bytes, a.roles, a.title)
                    for a in p.assets])


def _num(v: Any) -> bool:
    return type(v) is int or type(v) is float  # noqa: E721 (bool is not a number here)


def fast_check(d: dict[str, Any]) -> Checked | None:
    """ItemsCreateParams' rules for the usual shapes of loader params, without pydantic.

    NOTE: conservative by construction: it returns a Checked only for params the pydantic
    model accepts, and None for anything unusual or invalid, which then goes through
    ItemsCreateParams itself (the authority, and the source of the error message).
    Same validators (_geometry, _bbox, _datetime) and the same conversions (int → float).
    """
    try:
        if set(d) - PARAM_FIELDS:
            return None
        name = d.get("name")
        if type(name) is not str or not 1 <= len(name) <= 500:
            return None
        desc = d.get("description")
        if desc is not None and (type(desc) is not str or len(desc) > 10_000):
            return None
        typ = d.get("type", "image")
        if type(typ) is not str or not 1 <= len(typ) <= 100:
            return None
        geometry, bbox = d.get("geometry"), d.get("bbox")
        if geometry is None and bbox is None:
            return None
        if geometry is not None:
            geometry = _geometry(geometry)
        if bbox is not None:
            bbox = _bbox(bbox)
        dt = d.get("datetime")
        if dt is not None:
            dt = _datetime(dt)
        cc, gsd = d.get("cloud_cover"), d.get("gsd")
        if cc is not None:
            if not _num(cc) or not 0 <= cc <= 100:
                return None
            cc = float(cc)
        if gsd is not None:
            if not _num(gsd) or not gsd > 0:
                return None
            gsd = float(gsd)
        props = d.get("properties", {})
        if type(props) is not dict or not MAPPED_STAC.isdisjoint(props):
            return None
        raw_assets = d.get("assets")
        if type(raw_assets) is not list or not 1 <= len(raw_assets) <= 100:
            return None
        assets = []
        for a in raw_assets:
            if type(a) is not dict or set(a) - ASSET_FIELDS:
                return None
            key, href = a.get("key"), a.get("href")
            media, size = a.get("media_type"), a.get("file_size_bytes")
            roles, title = a.get("roles", []), a.get("title")
            if (type(key) is not str or not 1 <= len(key) <= 200 or not ASSET_KEY.fullmatch(key)
                    or type(href) is not str or not 1 <= len(href) <= 2048
                    or (media is not None and (type(media) is not str
                                               or not valid_media_type(media)))
                    or (size is not None and (type(size) is not int or size < 0))
                    or type(roles) is not list or len(roles) > 20
                    or any(type(r) is not str for r in roles)
                    or (title is not None and (type(title) is not str or len(title) > 500))):
                return None
            assets.append((key, href, media, size, list(roles), title))
        keys = {a[0] for a in assets}
        if len(keys) != len(assets) or PRIMARY_KEY not in keys:
            return None
        return Checked(name, desc, typ, geometry, bbox, dt, cc, gsd, dict(props), assets)
    except Exception:  # noqa: BLE001 — anything odd: let the pydantic model decide
        return None


def check_params(params: dict[str, Any]) -> Checked:
    """items.create's validation of loader params; raises InvalidRequest like the op would."""
    checked = fast_check(params)
    if checked is not None:
        return checked
    from geopera_stac_ext.ops.items import ItemsCreateParams
    from geopera_stac_ext.problems import describe_validation

    try:
        return Checked.of(ItemsCreateParams.model_validate(params))
    except ValidationError as e:
        raise InvalidRequest(describe_validation(list(e.errors()))[0]) from None


def _utc(v: Any, what: str) -> datetime:
    try:
        return _datetime(v)
    except ValueError:
        raise InvalidRequest(f"properties.{what} must be an RFC 3339 timestamp") from None


@dataclass(slots=True)
class Prepared:
    """One validated input line, formatted for COPY."""

    lineno: int
    item_id: str
    cid: str | None  # the Geopera collection (None: uncollected)
    pgcol: str  # the pgstac collection: cid, or the project's inbox
    content: dict[str, Any]  # the STAC content (geometry included)
    low: datetime
    high: datetime
    pg_tail: str  # "\tdatetime\tend_datetime\tgeometry\tcontent\tprivate\n"
    item_tail: str  # "\ttype\tcreated_at\tupdated_at\texpires_at\n"
    asset_lines: list[str]
    ledger_lines: list[str]


@dataclass
class Batch:
    """Lines of one transaction; its timestamps are taken when the batch starts."""

    now: datetime
    expires_at: datetime
    items: list[Prepared] = field(default_factory=list)
    # pgstac collection → [min datetime, max datetime, min end_datetime, max end_datetime]
    ranges: dict[str, list[datetime]] = field(default_factory=dict)
    # (id, name) of the collections this batch creates (named by its lines for the first time)
    new_collections: list[tuple[str, str]] = field(default_factory=list)
    # Set by BulkLoader.seal: partitions to create or widen first (pgstac collection → the
    # datetime and end_datetime ranges to cover), and the COPY payloads.
    widen: dict[str, tuple[datetime, datetime, datetime, datetime]] = field(default_factory=dict)
    payloads: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stamp, self.expiry = self.now.isoformat(), self.expires_at.isoformat()

    def add(self, p: Prepared) -> None:
        self.items.append(p)
        r = self.ranges.get(p.pgcol)
        if r is None:
            self.ranges[p.pgcol] = [p.low, p.low, p.high, p.high]
        else:
            if p.low < r[0]:
                r[0] = p.low
            elif p.low > r[1]:
                r[1] = p.low
            if p.high < r[2]:
                r[2] = p.high
            elif p.high > r[3]:
                r[3] = p.high

    @property
    def exclusive(self) -> bool:
        """Whether it changes pgstac's partitions, and so must run with no other batch."""
        return bool(self.new_collections or self.widen)

    @property
    def lines(self) -> str:
        return f"{self.items[0].lineno}–{self.items[-1].lineno}"


# (line, reason) of a batch's lines that were not written: rejected, or skipped as already
# loaded (reason None, with --skip-existing)
NotWritten = list[tuple[int, str | None]]


def _item_id(p: Prepared) -> str:
    return p.item_id


COPY_STATEMENTS = (
    "COPY geopera.items (id, project_id, collection_id, pgstac_collection, type,"
    " created_at, updated_at, expires_at) FROM STDIN",
    "COPY geopera.assets (id, item_id, key, href, media_type, file_size_bytes,"
    " roles, title, created_at) FROM STDIN",
    "COPY geopera.storage_ledger (org_id, project_id, item_id, asset_id,"
    " delta_bytes, reason, at) FROM STDIN",
    # NOTE: last: pgstac's statement trigger on items locks the partitions' partition_stats
    # rows until commit; written last, a batch holds them for a moment instead of while its
    # other COPYs run, so two writers do not queue on each other.
    "COPY pgstac.items (id, collection, datetime, end_datetime, geometry, content, private)"
    " FROM STDIN",
)


class Skipped(Exception):
    """A batch not written because an earlier batch of the load failed."""


@dataclass
class Summary:
    loaded: int = 0
    rejected: int = 0
    skipped: int = 0  # already loaded (--skip-existing)
    collections_created: int = 0
    lines: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        rate = self.loaded / self.seconds if self.seconds else 0.0
        return {"loaded": self.loaded, "rejected": self.rejected, "skipped": self.skipped,
                "lines": self.lines,
                "collections_created": self.collections_created,
                "seconds": round(self.seconds, 3), "items_per_second": round(rate, 1)}


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
    params["assets"] = [
        {k: v for k, v in {
            "key": key, "href": a.get("href"), "media_type": a.get("type"),
            "file_size_bytes": a.get("file:size"), "roles": a.get("roles") or [],
            "title": a.get("title")}.items() if v is not None}
        if isinstance(a, dict) else {"key": key}
        for key, a in assets.items()]
    return params


def pgstac_row(content: dict[str, Any], base_item: dict[str, Any],
               base_item_id: int | None) -> tuple[str, str, str, str | None]:
    """(datetime, end_datetime, content, private) exactly as pypgstac's Loader.format_item
    makes them for `content` in a collection with that base item (geometry aside)."""
    props = content["properties"]
    sdt, edt = props.get("start_datetime"), props.get("end_datetime")
    if sdt is not None and edt is not None:
        dt = sdt
    else:
        dt = edt = props.get("datetime")
    if dt is None:
        raise InvalidRequest("datetime is required")
    doc = dehydrate(base_item, {**content, "geometry": None})
    doc.pop("id", None)
    doc.pop("collection", None)
    doc.pop("geometry", None)
    doc.pop("pgstac:base_item", None)
    if base_item_id is not None:
        doc["pgstac:base_item"] = base_item_id
    private = doc.pop("private", None)
    return (dt, edt, orjson.dumps(doc).decode(),
            None if private is None else orjson.dumps(private).decode())


class BulkLoader:
    """Validates lines like items.create and writes them in one transaction per batch.

    NOTE: threads: validation, collection planning and formatting run on the caller's thread
    (prepare, seal); writer threads only run write(), which reads a sealed batch and the
    `failed` flag. Each writer has its own connection (`connect`), or, with no `connect`,
    the single writer shares `conn`.
    """

    def __init__(self, conn: psycopg.Connection, settings: Settings, project_id: str,
                 collection: str | None, now: Callable[[], datetime] | None = None,
                 connect: Callable[[], psycopg.Connection] | None = None,
                 skip_existing: bool = False) -> None:
        self.conn = conn
        self.skip_existing = skip_existing
        self.connect = connect
        self.settings = settings
        self.now = now or (lambda: datetime.now(timezone.utc))
        try:
            project_id = str(uuid.UUID(project_id))
        except ValueError:
            raise InvalidRequest(f"--project must be a project UUID, got {project_id!r}") from None
        row = conn.execute(
            "SELECT p.id, p.org_id, p.inbox_collection, coalesce(o.plan, 'free')"
            " FROM geopera.projects p LEFT JOIN geopera.organizations o ON o.id = p.org_id"
            " WHERE p.id = %s", (project_id,)).fetchone()
        if row is None:
            raise NotFound(f"project {project_id} not found")
        self.project_id, self.org_id, self.inbox, self.plan = str(row[0]), row[1], row[2], row[3]
        self.org = str(self.org_id) if self.org_id else NULL
        self.bucket_grants = [tuple(r) for r in conn.execute(
            GRANTS_SQL.replace("$1", "%(p)s"), {"p": uuid.UUID(self.project_id)})]
        # Live collections of the project, addressable by id or by name (oldest wins).
        self.by_ref: dict[str, str] = {}
        for cid, name in conn.execute(
                "SELECT id, name FROM geopera.collections WHERE project_id = %s"
                " AND deleted_at IS NULL ORDER BY created_at DESC", (self.project_id,)):
            self.by_ref[name] = str(cid)
        for cid in list(self.by_ref.values()):
            self.by_ref[cid] = cid
        self.fixed_collection: str | None = None
        if collection is not None:
            if collection not in self.by_ref:
                raise NotFound(f"--collection {collection!r} is not a live collection (id or "
                               f"name) of project {self.project_id}")
            self.fixed_collection = self.by_ref[collection]
        # NOTE: content is dehydrated against the collection's base item, as pypgstac's
        # Loader.format_item does. Every collection the platform creates has the same one
        # (stac_collection's), the template; `bases` holds the project's collections whose
        # base item differs, and `untruncated` whether a collection is one partition for all
        # time (no partition_trunc), which lets partition ranges be rounded out.
        base = conn.execute("SELECT pgstac.collection_base_item(%s::jsonb)", (orjson.dumps(
            stac_collection("x", "x", None)).decode(),)).fetchone()[0]
        self.template = {k: v for k, v in base.items() if k != "collection"}
        self.bases: dict[str, tuple[dict[str, Any], int | None]] = {}
        self.untruncated: dict[str, bool] = {}
        # Per pgstac collection, the datetime/end_datetime ranges its partition covers once
        # the batches sealed so far are written (check_partition unions them with what the
        # partition covered before the load).
        self.covered: dict[str, tuple[datetime, datetime, datetime, datetime]] = {}
        for pgcol, base_item, base_id, trunc in conn.execute(
                "SELECT c.id, b.base_item, b.base_item_id, c.partition_trunc"
                " FROM pgstac.collections c CROSS JOIN LATERAL pgstac.current_base_item(c.id) b"
                " WHERE c.id = ANY(%s)", ([self.inbox, *set(self.by_ref.values())],)):
            if base_id is not None or {
                    k: v for k, v in base_item.items() if k != "collection"} != self.template:
                self.bases[pgcol] = (base_item, base_id)
            self.untruncated[pgcol] = trunc is None
        self.seen: set[str] = set()
        self.failed = False
        self.local = threading.local()
        self.connections: list[psycopg.Connection] = []
        self.lock = threading.Lock()
        conn.commit()

    def new_batch(self) -> Batch:
        now = self.now()
        return Batch(now, first_transition(self.settings, self.plan, now))

    def _base_ok(self, pgcol: str) -> bool:
        """Whether pgcol's base item is the template."""
        return pgcol not in self.bases

    # ------------------------------------------------------------------ validation

    def _collection(self, ref: str | None, batch: Batch) -> str | None:
        """The collection id a line's `collection` names; planned (with a new id) if new."""
        if self.fixed_collection is not None:
            return self.fixed_collection
        if ref is None:
            return None
        cid = self.by_ref.get(ref)
        if cid is None:
            cid = self.by_ref[ref] = str(uuid.uuid4())
            self.by_ref[cid] = cid
            self.untruncated[cid] = True  # stac_collection has no partition_trunc
            batch.new_collections.append((cid, ref))
        return cid

    def prepare(self, lineno: int, text: str | bytes, batch: Batch) -> Prepared:
        """Validate and format one line; raises InvalidRequest with an actionable message."""
        try:
            feature = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise InvalidRequest(f"not valid JSON ({e})") from None
        p = check_params(feature_to_params(feature, self.project_id))
        for a in p.assets:
            href = a[1]
            # NOTE: fast path for http(s) URLs (what check_href accepts without I/O); object
            # store URLs are checked against the account's bucket grants, loaded once.
            if not (href.startswith(REMOTE_PREFIXES) and href.split("://", 1)[1][:1]
                    not in ("", "/") and "\\" not in href and not CONTROL.search(href)):
                check_href(self.settings.resolved_storage_dir, self.project_id, href)
            check_grants(self.bucket_grants, href, f"assets.{a[0]}.href")
        ref = feature.get("collection")
        if ref is not None and (not isinstance(ref, str) or not 1 <= len(ref.strip()) <= 500):
            raise InvalidRequest("collection must be a collection name or id (1–500 characters)")
        raw_id = feature.get("id")
        try:
            item_id = str(uuid.UUID(str(raw_id)))
        except ValueError:
            # NOTE: platform ids are UUIDs; keep the source id findable as a property.
            item_id = str(uuid.uuid4())
            p.properties["geopera:source_id"] = raw_id
        if item_id in self.seen:
            raise InvalidRequest(f"item id {item_id} appears twice in this file")
        # --- formatting (what items.create stores)
        now = batch.now
        geometry = p.geometry or polygon_of(p.bbox)  # type: ignore[arg-type]
        content = stac_content(item_id, "", {
            "name": p.name, "description": p.description, "cloud_cover": p.cloud_cover,
            "gsd": p.gsd, "properties": p.properties, "geometry": geometry,
            "bbox": p.bbox or bbox_of(geometry), "datetime": p.datetime or now})
        props = content["properties"]
        low = high = p.datetime or now
        if props.get("start_datetime") is not None and props.get("end_datetime") is not None:
            low = _utc(props["start_datetime"], "start_datetime")
            high = _utc(props["end_datetime"], "end_datetime")
            if low > high:
                raise InvalidRequest("properties.start_datetime must not be after end_datetime")
        geom = ewkb(geometry)
        if geom is None:  # 3-D, multi-points/lines, collections: pypgstac's own encoder
            from plpygis import Geometry

            encoded = Geometry.from_geojson(geometry)
            if encoded is None:
                raise InvalidRequest("geometry could not be encoded for pgstac")
            geom = str(encoded.ewkb)
        # Valid: from here on the line is loaded (its collection is planned, its id taken).
        cid = self._collection(ref, batch)
        pgcol = cid or self.inbox
        base, base_id = self.bases.get(pgcol, (self.template, None))
        dt, edt, doc, private = pgstac_row(content, base, base_id)
        stamp = batch.stamp
        asset_lines, ledger_lines = [], []
        for (key, href, media, size, roles, title), aid in zip(p.assets,
                                                               _new_uuids(len(p.assets))):
            asset_lines.append(
                f"{aid}\t{item_id}\t{key}\t{_esc(href)}\t{_esc(media)}\t"
                f"{NULL if size is None else size}\t{_esc(_array(roles))}\t{_esc(title)}"
                f"\t{stamp}\n")
            if size:
                ledger_lines.append(f"{self.org}\t{self.project_id}\t{item_id}\t{aid}\t{size}"
                                    f"\tasset_created\t{stamp}\n")
        self.seen.add(item_id)
        return Prepared(
            lineno, item_id, cid, pgcol, content, low, high,
            f"\t{_esc(dt)}\t{_esc(edt)}\t{geom}\t{_esc(doc)}\t{_esc(private)}\n",
            f"\t{_esc(p.type)}\t{stamp}\t{stamp}\t{batch.expiry}\n",
            asset_lines, ledger_lines)

    def seal(self, batch: Batch) -> None:
        """Decide the batch's partition work and build its COPY payloads (caller's thread)."""
        for pgcol, (d0, d1, e0, e1) in sorted(batch.ranges.items()):
            c = self.covered.get(pgcol)
            if c is not None and c[0] <= d0 and d1 <= c[1] and c[2] <= e0 and e1 <= c[3]:
                continue
            if c is not None:
                d0, d1, e0, e1 = min(d0, c[0]), max(d1, c[1]), min(e0, c[2]), max(e1, c[3])
            if self.untruncated.get(pgcol):
                # NOTE: the constraint only has to contain the rows; rounded out to whole UTC
                # months it rarely needs widening again (10 calls instead of 40 for 50k items
                # over a year), and pruning stays month-tight.
                d0, e0 = _month_floor(d0), _month_floor(e0)
                d1, e1 = _month_ceil(d1), _month_ceil(e1)
            batch.widen[pgcol] = self.covered[pgcol] = (d0, d1, e0, e1)
        batch.payloads = self._payloads(batch.items)

    def _payloads(self, items: list[Prepared]) -> list[tuple[str, str]]:
        # NOTE: rows in id order: each index keyed by item id (pgstac's and ours, the asset
        # foreign-key probes) is then filled and probed left to right, not at random pages
        # (≈ 7 µs/item less for the assets alone).
        items = sorted(items, key=_item_id)
        project = self.project_id
        return list(zip(COPY_STATEMENTS, (
            "".join([f"{b.item_id}\t{project}\t{b.cid or NULL}\t{b.pgcol}{b.item_tail}"
                     for b in items]),
            "".join([line for b in items for line in b.asset_lines]),
            "".join([line for b in items for line in b.ledger_lines]),
            "".join([f"{b.item_id}\t{b.pgcol}{b.pg_tail}" for b in items]))))

    # ------------------------------------------------------------------ writing

    def _connection(self) -> psycopg.Connection:
        """This writer thread's connection."""
        if self.connect is None:
            return self.conn
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self.connect()
            with self.lock:
                self.connections.append(conn)
        return conn

    def close(self) -> None:
        with self.lock:
            for conn in self.connections:
                conn.close()
            self.connections.clear()

    def write(self, batch: Batch, request_id: str,
              after: list[Future[NotWritten]]) -> NotWritten:
        """Write one batch atomically, once the batches it must follow are done.

        Returns (line, reason) of the lines not written: rejected, or skipped (reason None).
        """
        # NOTE: waits happen here, before the transaction opens, so a writer never holds a
        # database lock while it waits on another writer (no deadlock the server cannot see).
        for f in after:
            f.exception()
        if self.failed:
            raise Skipped()
        conn = self._connection()
        try:
            # NOTE: optimistic: ids are new in the usual load, so the already-exists query
            # (≈ 6 µs/item) runs only when the batch hit a unique violation, on a retry.
            try:
                return self._write(conn, batch, request_id, check_ids=False)
            except psycopg.errors.UniqueViolation:
                return self._write(conn, batch, request_id, check_ids=True)
        except BaseException:
            self.failed = True  # start no later batch
            raise

    def _write(self, conn: psycopg.Connection, batch: Batch, request_id: str,
               check_ids: bool) -> NotWritten:
        rejected: NotWritten = []
        payloads = batch.payloads
        with conn.transaction(), conn.cursor() as cur:
            if check_ids:
                ids = [b.item_id for b in batch.items]
                taken = {str(r[0]): str(r[1]) for r in cur.execute(
                    "SELECT id, project_id FROM geopera.items WHERE id = ANY(%s::uuid[])",
                    (ids,))}
                if taken:
                    # NOTE: --skip-existing: an id this project already has is a line an
                    # earlier run of the load stored (None: skipped); anywhere else, an error.
                    rejected = sorted(
                        (b.lineno, None if self.skip_existing and taken[b.item_id] ==
                         self.project_id else f"item id {b.item_id} already exists")
                        for b in batch.items if b.item_id in taken)
                    payloads = self._payloads(
                        [b for b in batch.items if b.item_id not in taken])
            if batch.exclusive:
                # NOTE: partitions are created one transaction at a time (partitions.py)
                cur.execute(LOCK_SQL.format("%s"), (PARTITION_LOCK,))
            for cid, name in batch.new_collections:
                cur.execute(
                    "INSERT INTO geopera.collections (id, project_id, name, created_at,"
                    " updated_at) VALUES (%s, %s, %s, %s, %s)",
                    (cid, self.project_id, name, batch.now, batch.now))
                cur.execute("SELECT pgstac.create_collection(%s::jsonb)",
                            (orjson.dumps(stac_collection(cid, name, None)).decode(),))
            # NOTE: pgstac needs each partition to exist and cover the rows' time range before
            # a direct COPY (what pypgstac's loader does, minus its own commits). seal() asked
            # only for what earlier batches of this load have not covered.
            for pgcol, (d0, d1, e0, e1) in sorted(batch.widen.items()):
                cur.execute("SELECT pgstac.check_partition(%s, tstzrange(%s, %s, '[]'),"
                            " tstzrange(%s, %s, '[]'))", (pgcol, d0, d1, e0, e1))
            for statement, data in payloads:
                if data:
                    with cur.copy(statement) as copy:
                        copy.write(data)
            cur.execute(
                "INSERT INTO geopera.audit_log (operation, target_ids, request_id, at)"
                " VALUES ('items.load', %s, %s, %s)",
                ([self.project_id, *sorted({b.cid for b in batch.items if b.cid})],
                 request_id, batch.now))
        return rejected


def _lines(f: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for n, line in enumerate(f, 1):
        if line.strip():
            yield n, line


class Progress:
    """A one-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr) -> None:
        self.total = max(total_bytes, 1)
        self.stream = stream
        self.on = stream.isatty()
        self.start = time.perf_counter()

    def update(self, done_bytes: int, loaded: int) -> None:
        if not self.on:
            return
        frac = min(done_bytes / self.total, 1.0)
        rate = loaded / max(time.perf_counter() - self.start, 1e-9)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%} {loaded} items {rate:,.0f}/s")
        self.stream.flush()

    def close(self) -> None:
        if self.on:
            self.stream.write("\n")


def load_file(conn: psycopg.Connection, settings: Settings, path: Path, project_id: str,
              collection: str | None = None, batch_size: int = DEFAULT_BATCH,
              report: Callable[[str], None] | None = None,
              connect: Callable[[], psycopg.Connection] | None = None,
              writers: int = 1, skip_existing: bool = False) -> Summary:
    """Load an ndjson file; bad lines are reported (line number, reason) and skipped.

    With `connect` (a factory of connections like `conn`), up to `writers` batches are written
    at once, each on its own connection; without it, one writer uses `conn`.
    """
    # NOTE: the cyclic garbage collector re-scans the validated batches held for the writers
    # again and again as they grow: 40 of 107 µs/item of the loader's CPU. The load makes no
    # reference cycles worth collecting (its objects are freed by reference counting), so the
    # collector is paused for the load and restored after it.
    loader = BulkLoader(conn, settings, project_id, collection, connect=connect,
                        skip_existing=skip_existing)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_file(loader, path, batch_size, report,
                          max(1, writers) if connect is not None else 1)
    finally:
        if collecting:
            gc.enable()
        loader.close()


def _load_file(loader: BulkLoader, path: Path, batch_size: int,
               report: Callable[[str], None] | None, writers: int) -> Summary:
    report = report or (lambda msg: print(msg, file=sys.stderr))
    summary = Summary()
    started = time.perf_counter()
    request_id = f"load-{uuid.uuid4().hex[:12]}"
    progress = Progress(path.stat().st_size)

    def reject(lineno: int, why: str) -> None:
        summary.rejected += 1
        msg = f"{path.name}:{lineno}: {why}"
        summary.errors.append(msg)
        report(msg)

    pending: deque[tuple[Future[NotWritten], Batch]] = deque()

    def account(batch: Batch, late: NotWritten) -> None:
        for lineno, why in late:
            if why is None:
                summary.skipped += 1
            else:
                reject(lineno, why)
        summary.loaded += len(batch.items) - len(late)
        summary.collections_created += len(batch.new_collections)

    def collect() -> None:
        """Wait for the oldest batch in flight; account for it or stop the load."""
        future, batch = pending.popleft()
        try:
            late = future.result()
        except psycopg.Error as e:
            # NOTE: batches already being written beside it finish (committed or not);
            # none starts after a failure.
            earlier, alongside = summary.loaded, []
            for later, other in pending:
                if later.exception() is None:
                    account(other, later.result())
                    alongside.append(other.lines)
            pending.clear()
            detail = (e.diag.message_primary if getattr(e, "diag", None) else None) or str(e)
            head = f"lines {batch.lines} could not be written ({detail}); nothing of that batch"
            again = ("; load the file again with --skip-existing to add the lines not stored")
            if not alongside:
                raise InvalidRequest(f"{head} or later ones was stored; {earlier} items from "
                                     f"earlier batches were{again}") from None
            raise InvalidRequest(
                f"{head} was stored; lines {', '.join(alongside)} (written at the same time) "
                f"and {earlier} items from earlier batches were: {summary.loaded} items in "
                f"all{again}") from None
        account(batch, late)

    # NOTE: validating and formatting happen here while writer threads COPY (the database's
    # time, GIL released); one transaction per batch. A batch that creates collections or
    # widens a partition (check_partition takes the partition's ACCESS EXCLUSIVE lock until
    # commit) runs alone: it starts when every earlier batch is done, and later ones start
    # after it. Other batches run `writers` at a time, so they may commit out of order.
    # Up to `writers + 1` validated batches wait (memory bound).
    ahead = writers + 1
    last_exclusive: Future[NotWritten] | None = None
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="geopera-load") as pool:

        def flush(batch: Batch) -> None:
            nonlocal last_exclusive
            while pending and (len(pending) >= ahead or pending[0][0].done()):
                collect()
            if not batch.items:
                return
            loader.seal(batch)
            if batch.exclusive:
                after = [f for f, _ in pending]
            else:
                after = [last_exclusive] if last_exclusive is not None else []
            future = pool.submit(loader.write, batch, request_id, after)
            if batch.exclusive:
                last_exclusive = future
            pending.append((future, batch))

        batch = loader.new_batch()
        # NOTE: nothing is written until the first batch is validated, and it usually runs
        # alone (it creates the collections and partitions): a smaller first batch gets the
        # writers going sooner.
        size = min(batch_size, FIRST_BATCH)
        # NOTE: bytes: orjson reads them directly, and rejects bad UTF-8 as a bad line.
        try:
            with path.open("rb") as f:
                for lineno, text in _lines(f):
                    summary.lines += 1
                    try:
                        batch.add(loader.prepare(lineno, text, batch))
                    except GeoperaError as e:
                        reject(lineno, e.detail)
                    if len(batch.items) >= size:
                        flush(batch)
                        batch = loader.new_batch()
                        size = batch_size
                        progress.update(f.tell(), summary.loaded)
                flush(batch)
                while pending:
                    collect()
        except BaseException:
            # NOTE: interrupted (Ctrl-C) or failed: batches already being written finish,
            # queued ones are not started.
            loader.failed = True
            raise
    progress.update(progress.total, summary.loaded)
    progress.close()
    summary.seconds = time.perf_counter() - started
    return summary


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise InvalidRequest(f"no such file: {path}")
    if args.batch_size < 1:
        raise InvalidRequest("--batch-size must be at least 1")
    if args.writers < 1:
        raise InvalidRequest("--writers must be at least 1")
    with cli.database(settings) as env:
        cli.ensure_migrated(env)
        dsn = dsn_from_env(env)

        def connect() -> psycopg.Connection:
            return psycopg.connect(dsn, options="-c search_path=pgstac,public")

        with connect() as conn:
            summary = load_file(conn, settings, path, args.project, args.collection,
                                args.batch_size, connect=connect, writers=args.writers,
                                skip_existing=args.skip_existing)
    out = summary.as_dict()
    cli.emit(out)
    skipped = f", skipped {out['skipped']} already loaded" if args.skip_existing else ""
    print(f"loaded {out['loaded']} items ({out['items_per_second']:,.0f}/s){skipped}, rejected "
          f"{out['rejected']} lines, created {out['collections_created']} collections",
          file=sys.stderr)
    return 1 if summary.rejected else 0


def register(sub: Any, _admin: Any) -> None:
    p = sub.add_parser("load", help="bulk-load STAC items (ndjson) into a project")
    p.add_argument("file", help="ndjson: one STAC Item per line")
    p.add_argument("--project", required=True, help="target project id")
    p.add_argument("--collection", help="put every item in this collection (id or name); by "
                                        "default each item's `collection` field names one, "
                                        "created if missing")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                   help=f"items per transaction (default {DEFAULT_BATCH})")
    p.add_argument("--writers", type=int, default=DEFAULT_WRITERS,
                   help=f"batches written at once, each on its own connection (default "
                        f"{DEFAULT_WRITERS}; 1 writes them strictly in file order)")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip lines whose item id this project already has (to finish a load "
                        "that stopped part-way) instead of rejecting them")
    p.set_defaults(func=cmd_load)


cli.EXTRA_COMMANDS.append(register)
