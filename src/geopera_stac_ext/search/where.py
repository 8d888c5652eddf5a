"""A search's WHERE clauses and ORDER BY, split by the relation each clause reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from geopera_stac_ext.db.sql import Fragment, Query
from geopera_stac_ext.search.cql2ops import bbox_geometry_sql
from geopera_stac_ext.search.cql2sql import Translator
from geopera_stac_ext.search.fields import DEFAULT_SORT, PLATFORM, SORTABLE, STAC
from geopera_stac_ext.search.request import SearchRequest
from geopera_stac_ext.search.visibility import Visibility

# NOTE: every pgstac row in a visible partition was written by our item ops with a UUID id
# (geopera.items.id), so the cast is safe and lets the guard probe the primary key.
GUARD = "i.id = p.id::uuid AND i.pgstac_collection = p.collection"
# NOTE: NOT NULL sort keys get no NULLS clause so pgstac's (datetime, end_datetime) index can
# deliver the order (DESC NULLS LAST would not match a backward index scan).
NOT_NULL_SORT = {"p.datetime", "p.end_datetime", "p.id", "i.id::text", "i.project_id", "i.type",
                 "i.lifecycle_state", "i.created_at", "i.updated_at"}


@dataclass
class Where:
    """A search's WHERE clauses: on pgstac's rows alone (`p`), and on the platform row `i`
    (which may also read `p`: the guard probes geopera.items once per candidate row)."""

    stac: list[str]
    platform: list[str]
    # Whether the platform clauses are only the guard plus collections/types, so maintained
    # counters answer the count.
    counted: bool
    # Whether a pgstac clause narrows the rows by an index of its own (ids, footprint)
    selective: bool
    # Whether any clause reads pgstac's row (else geopera.items alone counts)
    reads_stac: bool = False
    # With platform_copies: the datetime window as (instants, spanned rows) clauses on the
    # platform row, each to AND with `platform` (window_arms)
    window_arms: tuple[list[str], list[str]] | None = None


class SortKey(NamedTuple):
    """One key of a search's order: its SQL, ASC|DESC, and the relation it reads."""

    sql: str
    direction: str
    relation: str


def _filter_clauses(node: Any, sql: Query, platform_copies: bool) -> list[Fragment]:
    """The filter's SQL, split at a top-level `and` so each conjunct lands on its own side."""
    Translator(Query()).where(node)  # NOTE: validates (and limits) the whole filter first
    args = (node["args"] if isinstance(node, dict) and str(node.get("op", "")).lower() == "and"
            else [node])
    return [Translator(sql, platform_copies=platform_copies).where(arg) for arg in args]


def _platform_clauses(req: SearchRequest, vis: Visibility, sql: Query) -> list[str]:
    # NOTE: one project (every op search, most STAC callers) as `=`: the platform indexes
    # led by project_id then deliver their order (sortby created walks items_project_order_idx).
    platform = [
        f"i.project_id = {sql.bind(vis.project_ids[0], name='projects')}::uuid"
        if len(vis.project_ids) == 1 else
        f"i.project_id = ANY({sql.bind(list(vis.project_ids), name='projects')}::uuid[])",
        "i.deleted_at IS NULL",
    ]
    if req.collections is not None:
        platform.append(f"i.collection_id = ANY("
                        f"{sql.bind(uuids(req.collections), name='collections')}::uuid[])")
    if req.types is not None:
        platform.append(f"i.type = ANY({sql.bind(req.types, name='types')}::text[])")
    return platform


def _footprint_clauses(req: SearchRequest, sql: Query) -> list[str]:
    stac = []
    if req.ids is not None:
        # NOTE: pgstac's per-partition primary key finds ids without scanning the project.
        stac.append(f"p.id = ANY({sql.bind(req.ids, name='ids')}::text[])")
    if req.bbox is not None:
        stac.append(f"ST_Intersects(p.geometry, {bbox_geometry_sql(sql, req.bbox)})")
    if req.intersects is not None:
        geo = sql.bind(orjson.dumps(req.intersects).decode(), name="intersects")
        # NOTE: a scalar subquery is an InitPlan: the GeoJSON is parsed once per query, not
        # once per candidate row (a 10,000-vertex polygon: 1 s -> 0.05 s over 30 rows).
        stac.append(f"ST_Intersects(p.geometry, "
                    f"(SELECT ST_SetSRID(ST_GeomFromGeoJSON({geo}), 4326)))")
    return stac


def datetime_clauses(window: tuple[Any, Any], sql: Query) -> list[str]:
    """A datetime window [lo, hi] (either end open) on pgstac's rows: those whose
    [datetime, end_datetime] meets it.

    NOTE: the third clause is implied by the second (an instant's datetime is its
    end_datetime); it is there for the planner: it bounds the scan of pgstac's (datetime DESC,
    end_datetime) index to [lo, hi] for instants, and takes spanned rows from the partial index
    of migration 0153. Without it a window read every index entry below hi (a 6-day window in
    the third year of a 3-year catalog at 1M items: count 35 -> 20 ms)."""
    lo, hi = window
    out = []
    if hi is not None:
        out.append(f"p.datetime <= {sql.bind(hi, name='dt_hi')}")
    if lo is not None:
        bound = sql.bind(lo, name="dt_lo")
        out.append(f"p.end_datetime >= {bound}")
        out.append(f"((p.end_datetime = p.datetime AND p.datetime >= {bound})"
                   " OR p.end_datetime <> p.datetime)")
    return out


def window_arms(window: tuple[Any, Any], sql: Query) -> tuple[list[str], list[str]]:
    """The same window on the platform rows' copies (migration 0154) as two disjoint sets of
    clauses, instants and spanned rows, each an index-only range scan of its own index
    (items_starts_at_idx over [lo, hi], the partial items_span_idx below hi); a count adds
    their counts.

    NOTE: one scan with `OR` in a filter walked every entry below hi (60,000 for a 6-day
    window early in a 1M-item catalog); a BitmapOr of the two reads the heap."""
    lo, hi = window
    instants, spans = ["i.ends_at = i.starts_at"], ["i.ends_at <> i.starts_at"]
    if hi is not None:
        upper = f"i.starts_at <= {sql.bind(hi, name='dt_hi')}"
        instants.append(upper)
        spans.append(upper)
    if lo is not None:
        bound = sql.bind(lo, name="dt_lo")
        instants.append(f"i.starts_at >= {bound}")
        spans.append(f"i.ends_at >= {bound}")
    return instants, spans


def where(req: SearchRequest, vis: Visibility, sql: Query, *,
          platform_copies: bool = False) -> Where:
    """The request's clauses, each on the side of the relations it reads (platform_copies: a
    count's, which reads the platform row's copies of the datetime window and of declared
    properties)."""
    platform = _platform_clauses(req, vis, sql)
    stac = _footprint_clauses(req, sql)
    selective = bool(stac)
    arms = None
    if req.datetime is not None:
        if platform_copies:
            arms = window_arms(req.datetime, sql)
        else:
            stac.extend(datetime_clauses(req.datetime, sql))
    sql.touch(PLATFORM, *([STAC] if stac else []))
    counted, platform_read_stac = True, False
    if req.filter is not None:
        for clause in _filter_clauses(req.filter, sql, platform_copies):
            # NOTE: a clause naming a platform field (type, state, dates, …) is checked with
            # the guard, on the platform row; the others on pgstac's row alone.
            if clause.reads(PLATFORM):
                platform.append(clause.sql)
                counted = False
                platform_read_stac = platform_read_stac or clause.reads(STAC)
            else:
                stac.append(clause.sql)
    return Where(stac, platform, counted, selective, bool(stac) or platform_read_stac, arms)


def uuids(values: list[str]) -> list[str]:
    """The values that are UUIDs (anything else cannot name a collection or item)."""
    out = []
    for v in values:
        try:
            out.append(str(uuid.UUID(v)))
        except ValueError:
            continue
    return out


def partitions(req: SearchRequest, vis: Visibility) -> list[str]:
    """Visible pgstac partitions, narrowed to the requested collections (a collection's items
    live in the partition named after it), so PostgreSQL prunes the rest."""
    if req.collections is None:
        return list(vis.pgstac_collections)
    wanted = set(uuids(req.collections))
    return [c for c in vis.pgstac_collections if c in wanted]


def partition_clause(req: SearchRequest, vis: Visibility, sql: Query) -> str:
    """The visible partitions, one parameter each.

    NOTE: PostgreSQL prunes partitions at run time for `= ANY(ARRAY[$1, $2])` but not for
    `= ANY($1)` (an array parameter): with the latter, a collection's first page walked every
    partition of the project to its end (720 ms at 200k items instead of 0.2 ms)."""
    parts = partitions(req, vis)
    if not parts:
        return "FALSE"
    sql.touch(STAC)
    return f"p.collection = ANY(ARRAY[{', '.join(sql.bind(c) for c in parts)}]::text[])"


def sort_keys(req: SearchRequest) -> list[SortKey]:
    """The order's keys, the id tie-break last (stable paging)."""
    sorts = req.sortby or DEFAULT_SORT
    keys = [SortKey(SORTABLE[s["field"]].sql, s["direction"].upper(),
                    SORTABLE[s["field"]].relation) for s in sorts]
    keys.append(SortKey("p.id", sorts[-1]["direction"].upper(), STAC))
    return keys


def order_by(keys: list[SortKey], alias: str | None = None) -> str:
    """ORDER BY text of `keys` (as `alias.k<n>` columns of a subquery when alias is given)."""
    return ", ".join(
        f"{f'{alias}.k{n}' if alias else k.sql} {k.direction}"
        f"{'' if k.sql in NOT_NULL_SORT else ' NULLS LAST'}" for n, k in enumerate(keys))
