"""`geopera-stac load FILE.ndjson --project P [--collection C]`: bulk-ingest STAC items."""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import orjson
import psycopg
from pydantic import ValidationError
from pypgstac.db import PgstacDB
from pypgstac.load import Loader

from geopera_stac_ext import cli
from geopera_stac_ext.errors import GeoperaError, InvalidRequest, NotFound
from geopera_stac_ext.lifecycle.policy import first_transition
from geopera_stac_ext.models.common import bbox_of, polygon_of
from geopera_stac_ext.ops.items import ItemsCreateParams
from geopera_stac_ext.problems import describe_validation
from geopera_stac_ext.records import STAC_TO_RECORD, stac_content
from geopera_stac_ext.settings import Settings, dsn_from_env
from geopera_stac_ext.storage.hrefs import check_href
from geopera_stac_ext.tenancy import stac_collection

DEFAULT_BATCH = 5000
NULL = "\\N"  # COPY text format's NULL
CONTENT_FIELDS = {"name", "description", "datetime", "cloud_cover", "gsd", "properties"}
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


def _new_uuid() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _fmt(n: float) -> str:
    return repr(float(n))


def _ring(coords: list[Any]) -> str:
    return "(" + ",".join(f"{_fmt(c[0])} {_fmt(c[1])}" for c in coords) + ")"


def ewkt(g: dict[str, Any]) -> str | None:
    """EWKT of a 2-D GeoJSON geometry (PostGIS parses it in C), or None to fall back.

    NOTE: measured: plpygis' EWKB encoding was ~40% of pypgstac's per-item cost.
    """
    t, c = g["type"], g.get("coordinates")
    try:
        if t == "Point" and len(c) == 2:
            return f"SRID=4326;POINT({_fmt(c[0])} {_fmt(c[1])})"
        if t == "Polygon" and all(len(p) == 2 for r in c for p in r):
            return "SRID=4326;POLYGON(" + ",".join(_ring(r) for r in c) + ")"
        if t == "MultiPolygon" and all(len(p) == 2 for poly in c for r in poly for p in r):
            return ("SRID=4326;MULTIPOLYGON("
                    + ",".join("(" + ",".join(_ring(r) for r in poly) + ")" for poly in c) + ")")
        if t == "LineString" and all(len(p) == 2 for p in c):
            return "SRID=4326;LINESTRING" + _ring(c)
    except (TypeError, IndexError):
        return None
    return None


@dataclass
class Prepared:
    """One validated input line, ready to write."""

    lineno: int
    item_id: str
    params: ItemsCreateParams
    collection_ref: str | None  # the raw `collection` field, resolved at write time


@dataclass
class Summary:
    loaded: int = 0
    rejected: int = 0
    collections_created: int = 0
    lines: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        rate = self.loaded / self.seconds if self.seconds else 0.0
        return {"loaded": self.loaded, "rejected": self.rejected, "lines": self.lines,
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


class BulkLoader:
    """Validates lines like items.create and writes them in one transaction per batch."""

    def __init__(self, conn: psycopg.Connection, settings: Settings, project_id: str,
                 collection: str | None, now: Callable[[], datetime] | None = None) -> None:
        self.conn = conn
        self.settings = settings
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.pgstac = Loader(PgstacDB(connection=conn))
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
        self.seen: set[str] = set()
        self.created = 0
        conn.commit()

    # ------------------------------------------------------------------ validation

    def prepare(self, lineno: int, text: str) -> Prepared:
        """Validate one line; raises InvalidRequest with an actionable message."""
        try:
            feature = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise InvalidRequest(f"not valid JSON ({e})") from None
        params = feature_to_params(feature, self.project_id)
        try:
            p = ItemsCreateParams.model_validate(params)
        except ValidationError as e:
            raise InvalidRequest(describe_validation(list(e.errors()))[0]) from None
        for a in p.assets:
            # NOTE: fast path for object-store URLs (what check_href accepts without I/O).
            if not (a.href.startswith(REMOTE_PREFIXES) and a.href.split("://", 1)[1][:1]
                    not in ("", "/")):
                check_href(self.settings.resolved_storage_dir, a.href)
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
        self.seen.add(item_id)
        return Prepared(lineno, item_id, p, ref)

    # ------------------------------------------------------------------ writing

    def _collection_for(self, ref: str | None, cur: psycopg.Cursor, now: datetime) -> str | None:
        if self.fixed_collection is not None:
            return self.fixed_collection
        if ref is None:
            return None
        if ref not in self.by_ref:
            cid = str(uuid.uuid4())
            cur.execute(
                "INSERT INTO geopera.collections (id, project_id, name, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s)", (cid, self.project_id, ref, now, now))
            cur.execute("SELECT pgstac.create_collection(%s::jsonb)",
                        (orjson.dumps(stac_collection(cid, ref, None)).decode(),))
            self.by_ref[ref] = cid
            self.by_ref[cid] = cid
            self.created += 1
        return self.by_ref[ref]

    def write(self, batch: list[Prepared], request_id: str) -> list[tuple[int, str]]:
        """Write one batch atomically; returns (line, reason) of lines rejected at write time."""
        rejected: list[tuple[int, str]] = []
        now = self.now()
        expires_at = first_transition(self.settings, self.plan, now)
        stamp, expiry = now.isoformat(), expires_at.isoformat()
        saved = (dict(self.by_ref), self.created)
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                ids = [b.item_id for b in batch]
                taken = {str(r[0]) for r in cur.execute(
                    "SELECT id FROM geopera.items WHERE id = ANY(%s::uuid[])", (ids,))}
                if taken:
                    rejected = [(b.lineno, f"item id {b.item_id} already exists")
                                for b in batch if b.item_id in taken]
                    batch = [b for b in batch if b.item_id not in taken]
                pg_lines, item_lines, asset_lines, ledger_lines = [], [], [], []
                collections: set[str] = set()
                ranges: dict[str, list[str]] = {}
                org = str(self.org_id) if self.org_id else NULL
                project = self.project_id
                for b in batch:
                    p = b.params
                    cid = self._collection_for(b.collection_ref, cur, now)
                    pgcol = cid or self.inbox
                    if cid:
                        collections.add(cid)
                    fields = p.model_dump(include=CONTENT_FIELDS)
                    fields["geometry"] = p.geometry or polygon_of(p.bbox)  # type: ignore[arg-type]
                    fields["bbox"] = p.bbox or bbox_of(fields["geometry"])
                    fields["datetime"] = p.datetime or now
                    content = stac_content(b.item_id, pgcol, fields)
                    geometry = ewkt(content["geometry"])
                    if geometry is None:
                        row = self.pgstac.format_item(content)
                    else:
                        row = self.pgstac.format_item({**content, "geometry": None})
                        row["geometry"] = geometry
                    dt, edt = row["datetime"], row["end_datetime"]
                    r = ranges.setdefault(pgcol, [dt, dt, edt, edt])
                    if dt < r[0]:
                        r[0] = dt
                    if dt > r[1]:
                        r[1] = dt
                    if edt < r[2]:
                        r[2] = edt
                    if edt > r[3]:
                        r[3] = edt
                    # NOTE: COPY text built directly (measured ~3x cheaper than psycopg's
                    # write_row); ids, numbers and timestamps need no escaping, text does.
                    pg_lines.append(f"{b.item_id}\t{pgcol}\t{_esc(dt)}\t{_esc(edt)}\t"
                                    f"{row['geometry']}\t{_esc(row['content'])}\t"
                                    f"{_esc(row['private'])}\n")
                    item_lines.append(f"{b.item_id}\t{project}\t{cid or NULL}\t{pgcol}\t"
                                      f"{_esc(p.type)}\t{stamp}\t{stamp}\t{expiry}\n")
                    for a in p.assets:
                        aid = _new_uuid()
                        size = a.file_size_bytes
                        asset_lines.append(
                            f"{aid}\t{b.item_id}\t{a.key}\t{_esc(a.href)}\t"
                            f"{_esc(a.media_type)}\t{NULL if size is None else size}\t"
                            f"{_esc(_array(a.roles))}\t{_esc(a.title)}\t{stamp}\n")
                        if size:
                            ledger_lines.append(f"{org}\t{project}\t{b.item_id}\t{aid}\t{size}"
                                                f"\tasset_created\t{stamp}\n")
                # NOTE: pgstac needs each partition to exist and cover the rows' time range
                # before a direct COPY (what pypgstac's loader does, minus its own commits).
                for pgcol, (d0, d1, e0, e1) in sorted(ranges.items()):
                    cur.execute("SELECT pgstac.check_partition(%s, tstzrange(%s, %s, '[]'),"
                                " tstzrange(%s, %s, '[]'))", (pgcol, d0, d1, e0, e1))
                copies = [
                    ("COPY pgstac.items (id, collection, datetime, end_datetime, geometry,"
                     " content, private) FROM STDIN", pg_lines),
                    ("COPY geopera.items (id, project_id, collection_id, pgstac_collection, type,"
                     " created_at, updated_at, expires_at) FROM STDIN", item_lines),
                    ("COPY geopera.assets (id, item_id, key, href, media_type, file_size_bytes,"
                     " roles, title, created_at) FROM STDIN", asset_lines),
                    ("COPY geopera.storage_ledger (org_id, project_id, item_id, asset_id,"
                     " delta_bytes, reason, at) FROM STDIN", ledger_lines),
                ]
                for statement, lines in copies:
                    if lines:
                        with cur.copy(statement) as copy:
                            copy.write("".join(lines))
                cur.execute(
                    "INSERT INTO geopera.audit_log (operation, target_ids, request_id, at)"
                    " VALUES ('items.load', %s, %s, %s)",
                    ([self.project_id, *sorted(collections)], request_id, now))
        except BaseException:
            # NOTE: the transaction rolled back; forget collections it would have created.
            self.by_ref, self.created = saved
            raise
        return rejected


def _lines(f: TextIO) -> Iterator[tuple[int, str]]:
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
              report: Callable[[str], None] | None = None) -> Summary:
    """Load an ndjson file; bad lines are reported (line number, reason) and skipped."""
    report = report or (lambda msg: print(msg, file=sys.stderr))
    summary = Summary()
    started = time.perf_counter()
    loader = BulkLoader(conn, settings, project_id, collection)
    request_id = f"load-{uuid.uuid4().hex[:12]}"
    progress = Progress(path.stat().st_size)

    def reject(lineno: int, why: str) -> None:
        summary.rejected += 1
        msg = f"{path.name}:{lineno}: {why}"
        summary.errors.append(msg)
        report(msg)

    pending: list[tuple[Future[list[tuple[int, str]]], list[Prepared]]] = []

    def collect() -> None:
        """Wait for the batch in flight; account for it or stop the load."""
        if not pending:
            return
        future, batch = pending.pop()
        try:
            late = future.result()
        except psycopg.Error as e:
            detail = (e.diag.message_primary if getattr(e, "diag", None) else None) or str(e)
            raise InvalidRequest(
                f"lines {batch[0].lineno}–{batch[-1].lineno} could not be written ({detail}); "
                f"nothing of that batch was stored; {summary.loaded} items from earlier batches "
                "were") from None
        for lineno, why in late:
            reject(lineno, why)
        summary.loaded += len(batch) - len(late)

    # NOTE: one writer thread: batch k's COPYs (the database's time, GIL released) overlap
    # with validating batch k+1. Still one batch in flight, one transaction per batch.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="geopera-load") as writer:

        def flush(batch: list[Prepared]) -> None:
            collect()
            if batch:
                pending.append((writer.submit(loader.write, batch, request_id), batch))

        batch: list[Prepared] = []
        with path.open("r", encoding="utf-8") as f:
            for lineno, text in _lines(f):
                summary.lines += 1
                try:
                    batch.append(loader.prepare(lineno, text))
                except GeoperaError as e:
                    reject(lineno, e.detail)
                if len(batch) >= batch_size:
                    flush(batch)
                    batch = []
                    progress.update(f.buffer.tell(), summary.loaded)
            flush(batch)
            collect()
    progress.update(progress.total, summary.loaded)
    progress.close()
    summary.collections_created = loader.created
    summary.seconds = time.perf_counter() - started
    return summary


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise InvalidRequest(f"no such file: {path}")
    if args.batch_size < 1:
        raise InvalidRequest("--batch-size must be at least 1")
    with cli.database(settings) as env:
        cli.ensure_migrated(env)
        with psycopg.connect(dsn_from_env(env), options="-c search_path=pgstac,public") as conn:
            summary = load_file(conn, settings, path, args.project, args.collection,
                                args.batch_size)
    out = summary.as_dict()
    cli.emit(out)
    print(f"loaded {out['loaded']} items ({out['items_per_second']:,.0f}/s), rejected "
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
    p.set_defaults(func=cmd_load)


cli.EXTRA_COMMANDS.append(register)
