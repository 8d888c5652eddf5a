"""What a load writes where: the target project, its collections, batches and partition ranges."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psycopg

from geopera_stac_ext.core.errors import InvalidRequest, NotFound
from geopera_stac_ext.ingest.encode import NULL, AssetIds, Payloads, Prepared, payloads
from geopera_stac_ext.ingest.validate import grant_prefixes
from geopera_stac_ext.domain.retention import first_transition
from geopera_stac_ext.pgstac import bulk
from geopera_stac_ext.core.settings import Settings
from geopera_stac_ext.storage.buckets import GRANTS_SQL
from geopera_stac_ext.domain.records import stac_collection

PROJECT_SQL = ("SELECT p.id, p.org_id, p.inbox_collection, coalesce(o.plan, 'free')"
               " FROM geopera.projects p LEFT JOIN geopera.organizations o ON o.id = p.org_id"
               " WHERE p.id = %s")
COLLECTIONS_SQL = ("SELECT id, name FROM geopera.collections WHERE project_id = %s"
                   " AND deleted_at IS NULL ORDER BY created_at DESC")


def month_floor(d: datetime) -> datetime:
    return d.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_ceil(d: datetime) -> datetime:
    """The first instant of the UTC month after d's (d itself if it is one)."""
    f = month_floor(d)
    if f == d:
        return f
    return f.replace(year=f.year + 1, month=1) if f.month == 12 else f.replace(month=f.month + 1)


def quarter_floor(d: datetime) -> datetime:
    """The first instant of d's UTC calendar quarter."""
    f = month_floor(d)
    return f.replace(month=f.month - (f.month - 1) % 3)


def quarter_ceil(d: datetime) -> datetime:
    """The first instant of the UTC quarter after d's (d itself if it is one)."""
    f = quarter_floor(d)
    if f == d:
        return f
    return f.replace(year=f.year + 1, month=1) if f.month == 10 else f.replace(month=f.month + 3)


@dataclass
class Batch:
    """Lines of one transaction; its timestamps are taken when the batch starts."""

    now: datetime
    expires_at: datetime
    items: list[Prepared] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)  # the item ids of its lines
    # pgstac collection → [min datetime, max datetime, min end_datetime, max end_datetime]
    ranges: dict[str, list[datetime]] = field(default_factory=dict)
    # (id, name) of the collections this batch creates (named by its lines for the first time)
    new_collections: list[tuple[str, str]] = field(default_factory=list)
    # Set by LoadPlan.seal: partitions to create or widen first (pgstac collection → the
    # datetime and end_datetime ranges to cover), and the COPY payloads.
    widen: dict[str, bulk.Ranges] = field(default_factory=dict)
    payloads: Payloads | None = None

    def __post_init__(self) -> None:
        self.stamp, self.expiry = self.now.isoformat(), self.expires_at.isoformat()

    def add(self, p: Prepared) -> None:
        self.items.append(p)
        self.ids.add(p.item_id)
        r = self.ranges.get(p.pgcol)
        if r is None:
            self.ranges[p.pgcol] = [p.low, p.low, p.high, p.high]
            return
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


class LoadPlan:
    """The target project and its collections as the load goes: read once at the start, then
    kept by the main thread (collections a line names first, partition ranges covered).

    NOTE: content is dehydrated against the collection's base item, as pypgstac's
    Loader.format_item does. Every collection the platform creates has the same one
    (stac_collection's), the template; `bases` holds the project's collections whose base
    item differs, and `untruncated` whether a collection is one partition for all time (no
    partition_trunc), which lets partition ranges be rounded out.
    """

    def __init__(self, conn: psycopg.Connection, settings: Settings, project_id: str,
                 collection: str | None, now: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.now = now or (lambda: datetime.now(timezone.utc))
        self._project(conn, project_id)
        self.bucket_grants = [tuple(r) for r in conn.execute(
            GRANTS_SQL.replace("$1", "%(p)s"), {"p": uuid.UUID(self.project_id)})]
        self.grant_prefixes = grant_prefixes(self.bucket_grants)
        # Live collections of the project, addressable by id or by name (oldest wins).
        self.by_ref: dict[str, str] = {}
        for cid, name in conn.execute(COLLECTIONS_SQL, (self.project_id,)):
            self.by_ref[name] = str(cid)
        for cid in list(self.by_ref.values()):
            self.by_ref[cid] = cid
        self.fixed_collection: str | None = None
        if collection is not None:
            if collection not in self.by_ref:
                raise NotFound(f"--collection {collection!r} is not a live collection (id or "
                               f"name) of project {self.project_id}")
            self.fixed_collection = self.by_ref[collection]
        self.template = bulk.base_item(conn, stac_collection("x", "x", None))
        # (base item, its id) of a collection not in `bases`; None: bulk.PLAIN_BASE
        self.default_base = None if self.template == bulk.PLAIN_BASE else (self.template, None)
        self.bases: dict[str, tuple[dict[str, Any], int | None]] = {}
        self.untruncated: dict[str, bool] = {}
        for pgcol, base, base_id, untruncated in bulk.collection_bases(
                conn, [self.inbox, *set(self.by_ref.values())]):
            if base_id is not None or {
                    k: v for k, v in base.items() if k != "collection"} != self.template:
                self.bases[pgcol] = (base, base_id)
            self.untruncated[pgcol] = untruncated
        # Per pgstac collection, the datetime/end_datetime ranges its partition covers once
        # the batches sealed so far are written (check_partition unions them with what the
        # partition covered before the load).
        self.covered: dict[str, bulk.Ranges] = {}
        # The `now` of every batch of this load: an id already stored with one of them as its
        # created_at was stored by this load (a line repeated in the file).
        self.stamps: set[datetime] = set()
        self.asset_ids = AssetIds()
        conn.commit()

    def _project(self, conn: psycopg.Connection, project_id: str) -> None:
        try:
            project_id = str(uuid.UUID(project_id))
        except ValueError:
            raise InvalidRequest(f"--project must be a project UUID, got {project_id!r}") from None
        row = conn.execute(PROJECT_SQL, (project_id,)).fetchone()
        if row is None:
            raise NotFound(f"project {project_id} not found")
        self.project_id, self.org_id, self.inbox, self.plan = str(row[0]), row[1], row[2], row[3]
        self.org = str(self.org_id) if self.org_id else NULL

    def new_batch(self) -> Batch:
        now = self.now()
        self.stamps.add(now)
        return Batch(now, first_transition(self.settings, self.plan, now))

    def base(self, pgcol: str) -> tuple[dict[str, Any], int | None] | None:
        """pgcol's base item and its id; None: bulk.PLAIN_BASE."""
        return self.bases.get(pgcol, self.default_base)

    def collection(self, ref: str | None, batch: Batch) -> str | None:
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
                # quarters it rarely needs widening again, and a batch that widens runs alone
                # (no other batch is written beside it). Measured: with months, the second
                # batch of a 50k load over 3 years still widened ~70% of the time (a 1,000-
                # line first batch leaves an edge month of some collection empty), and ran
                # alone for ≈ 1 s; whole quarters are covered by the first batch. Pruning by
                # the constraint stays within a quarter of the data.
                d0, e0 = quarter_floor(d0), quarter_floor(e0)
                d1, e1 = quarter_ceil(d1), quarter_ceil(e1)
            batch.widen[pgcol] = self.covered[pgcol] = (d0, d1, e0, e1)
        batch.payloads = payloads(batch.items, self.project_id, self.asset_ids.take)
