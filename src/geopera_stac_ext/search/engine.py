"""The one item search engine behind items.search, items.search_org and the STAC API."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from geopera_stac_ext.core.errors import InvalidRequest
from geopera_stac_ext.core.fields import _geometry, finite_number
from geopera_stac_ext.core.jsonsafe import unsafe_json
from geopera_stac_ext.domain.records import ITEM_COLUMNS, asset_record, item_record
from geopera_stac_ext.search.cql2sql import (
    COLUMNS,
    SqlBuilder,
    Translator,
    bbox_geometry_sql,
    parse_instant,
    query_to_cql2,
    stac_name,
)
from geopera_stac_ext.domain.counts import count_live
from geopera_stac_ext.search.cql2text import parse_cql2_text, parse_cql2_text_async
from geopera_stac_ext.search.paging import keyset_clause
from geopera_stac_ext.domain.stac_feature import stac_feature
from geopera_stac_ext.storage.asset_tokens import HrefSigner

MAX_LIMIT = 1000

# Sortable fields → SQL. JSON-content fields sort as jsonb (numbers numerically).
SORTABLE: dict[str, str] = {
    "datetime": "p.datetime", "start_datetime": "p.datetime", "end_datetime": "p.end_datetime",
    "id": "p.id", "collection": "i.collection_id", "collection_id": "i.collection_id",
    "project_id": "i.project_id", "type": "i.type", "geopera:type": "i.type",
    "lifecycle_state": "i.lifecycle_state", "geopera:lifecycle_state": "i.lifecycle_state",
    "created_at": "i.created_at", "created": "i.created_at",
    "updated_at": "i.updated_at", "updated": "i.updated_at",
    "expires_at": "i.expires_at", "geopera:expires_at": "i.expires_at",
    "cloud_cover": "(p.content->'properties'->'eo:cloud_cover')",
    "eo:cloud_cover": "(p.content->'properties'->'eo:cloud_cover')",
    "gsd": "(p.content->'properties'->'gsd')",
    "name": "(p.content->'properties'->'title')", "title": "(p.content->'properties'->'title')",
}
DEFAULT_SORT = [{"field": "datetime", "direction": "desc"}]


# ------------------------------------------------------------------ parsing


def parse_bbox(value: Any, what: str = "bbox") -> list[float]:
    """[west, south, east, north]; west > east crosses the antimeridian and is allowed."""
    if isinstance(value, str):
        try:
            value = [float(x) for x in value.split(",")]
        except ValueError:
            raise InvalidRequest(f"{what}: expected four comma-separated numbers") from None
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(finite_number(x) for x in value)):
        n = len(value) if isinstance(value, (list, tuple)) else "no"
        raise InvalidRequest(f"{what}: expected exactly four numbers [west, south, east, north], "
                             f"got {n} values")
    w, s, e, n = (float(x) for x in value)
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise InvalidRequest(f"{what}: latitudes must be within [-90, 90]")
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise InvalidRequest(f"{what}: longitudes must be within [-180, 180]")
    if s > n:
        raise InvalidRequest(f"{what}: south ({s}) must not be greater than north ({n})")
    return [w, s, e, n]


def parse_datetime(value: Any) -> tuple[datetime | None, datetime | None]:
    """An instant, a closed range `a/b`, or an open range with `..` (or an empty end)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("datetime: expected an RFC 3339 instant or an interval `start/end`")
    parts = value.strip().split("/")
    if len(parts) == 1:
        t = parse_instant(parts[0], "datetime")
        return t, t
    if len(parts) != 2:
        raise InvalidRequest(f"datetime: {value!r} has more than one `/`")
    ends = [None if p in ("..", "") else parse_instant(p, "datetime") for p in parts]
    if ends[0] is None and ends[1] is None:
        raise InvalidRequest("datetime: at least one end of the interval must be given")
    if ends[0] and ends[1] and ends[0] > ends[1]:
        raise InvalidRequest(f"datetime: the start of {value!r} is after its end")
    return ends[0], ends[1]


def parse_sortby(value: Any) -> list[dict[str, str]]:
    """[{field, direction}] (or STAC GET style "+a,-b"); unknown fields are rejected."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise InvalidRequest("sortby: expected a list of {field, direction}")
    out = []
    for entry in value:
        if isinstance(entry, str):
            entry = entry.strip()
            direction = "desc" if entry.startswith("-") else "asc"
            entry = {"field": entry.lstrip("+-").strip(), "direction": direction}
        if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
            raise InvalidRequest("sortby: each entry needs a `field` string")
        name = entry["field"]
        name = name[len("properties."):] if name.startswith("properties.") else name
        direction = str(entry.get("direction", "asc")).lower()
        if name not in SORTABLE:
            raise InvalidRequest(f"sortby: unknown sort field `{name[:100]}`; sortable fields: "
                                 f"{', '.join(sorted(SORTABLE))}")
        if direction not in ("asc", "desc"):
            raise InvalidRequest(f"sortby: direction of `{name}` must be asc or desc")
        out.append({"field": name, "direction": direction})
    return out


def parse_filter(value: Any, lang: str | None) -> Any:
    if value is None:
        return None
    lang = (lang or ("cql2-text" if isinstance(value, str) else "cql2-json")).lower()
    if lang == "cql2-text":
        if not isinstance(value, str):
            raise InvalidRequest("filter: with filter-lang cql2-text the filter must be a string")
        return parse_cql2_text(value)
    if lang != "cql2-json":
        raise InvalidRequest(f"filter-lang: {lang!r} is not supported; use cql2-json or cql2-text")
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidRequest("filter: malformed CQL2 JSON (not valid JSON)") from None
    if not isinstance(value, dict):
        raise InvalidRequest("filter: malformed CQL2 JSON (expected an object with op and args)")
    return value


@dataclass
class SearchRequest:
    """A validated search: every front door builds one of these."""

    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: tuple[datetime | None, datetime | None] | None = None
    ids: list[str] | None = None
    collections: list[str] | None = None
    types: list[str] | None = None
    filter: Any = None  # CQL2 JSON (query extension clauses ANDed in)
    sortby: list[dict[str, str]] = field(default_factory=list)
    limit: int = 10
    offset: int = 0  # the page's position (with `after`, only for the total's shortcut)
    after: list[Any] | None = None  # keyset: resume after this sort key (search/paging.py)

    @classmethod
    def parse(cls, *, bbox: Any = None, intersects: Any = None, datetime: Any = None,
              ids: Any = None, collections: Any = None, type: Any = None, query: Any = None,
              filter: Any = None, filter_lang: str | None = None, sortby: Any = None,
              limit: Any = 10, offset: Any = 0, max_limit: int = MAX_LIMIT,
              clamp_limit: bool = False) -> "SearchRequest":
        req = cls()
        if bbox is not None:
            req.bbox = parse_bbox(bbox)
        if intersects is not None:
            if bbox is not None:
                raise InvalidRequest("bbox and intersects cannot be combined; pass one")
            try:
                req.intersects = _geometry(intersects)
            except ValueError as e:
                raise InvalidRequest(f"intersects: {e}") from None
        if datetime is not None:
            req.datetime = parse_datetime(datetime)
        req.ids = _str_list(ids, "ids")
        req.collections = _str_list(collections, "collections")
        req.types = _str_list([type] if isinstance(type, str) else type, "type")
        clauses = []
        if filter is not None:
            clauses.append(_storable(parse_filter(filter, filter_lang), "filter"))
        if query is not None:
            if isinstance(query, str):
                try:
                    query = orjson.loads(query)
                except orjson.JSONDecodeError:
                    raise InvalidRequest("query: not valid JSON") from None
            clauses.extend(query_to_cql2(_storable(query, "query")))
        if clauses:
            req.filter = clauses[0] if len(clauses) == 1 else {"op": "and", "args": clauses}
        req.sortby = parse_sortby(sortby)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidRequest(f"limit: must be an integer from 1 to {max_limit}")
        if limit > max_limit:
            if not clamp_limit:
                raise InvalidRequest(f"limit: must be an integer from 1 to {max_limit}")
            limit = max_limit
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidRequest("offset: must be a non-negative integer")
        req.limit, req.offset = limit, offset
        return req

    @classmethod
    async def parse_async(cls, **kw: Any) -> "SearchRequest":
        """parse(), with CQL2 text parsed off the event loop (the front doors use this)."""
        filt, lang = kw.get("filter"), kw.get("filter_lang")
        if isinstance(filt, str) and str(lang or "cql2-text").lower() == "cql2-text":
            kw["filter"], kw["filter_lang"] = await parse_cql2_text_async(filt), "cql2-json"
        return cls.parse(**kw)


def _storable(value: Any, what: str) -> Any:
    """NOTE: literals SQL cannot bind (400-digit integers, NaN, lone surrogates) are a 400."""
    if (problem := unsafe_json(value, what)) is not None:
        raise InvalidRequest(problem)
    return value


def _str_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{what}: expected a list of strings")
    if len(value) > 1000:
        raise InvalidRequest(f"{what}: at most 1000 values")
    return list(value)


# ------------------------------------------------------------------ visibility


@dataclass(frozen=True)
class Visibility:
    """What a caller may see: live items of these projects (in these pgstac partitions)."""

    project_ids: tuple[str, ...]
    pgstac_collections: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.project_ids


async def visibility_for(conn: Any, project_ids: list[str]) -> Visibility:
    """The guard for a set of projects the caller was already authorized for."""
    if not project_ids:
        return Visibility((), ())
    # NOTE: the pgstac partitions of those projects: every collection (a deleted collection's
    # items may still sit in its partition until moved) plus each project's inbox. Passing them
    # as a parameter lets PostgreSQL prune every other tenant's partitions.
    rows = await conn.fetch(
        """
        SELECT inbox_collection AS c FROM geopera.projects WHERE id = ANY($1::uuid[])
        UNION ALL
        SELECT id::text FROM geopera.collections WHERE project_id = ANY($1::uuid[])
        """,
        project_ids,
    )
    return Visibility(tuple(sorted(project_ids)), tuple(r["c"] for r in rows))


async def user_visibility(conn: Any, user_id: str, *, org_only: bool = False) -> Visibility:
    """Every project the user can read (or only those of its organizations, for search_org)."""
    # NOTE: search_org covers the visible projects that belong to an organization: all of an
    # organization's projects for its members, only the granted ones for project members.
    org = " AND p.org_id IS NOT NULL" if org_only else ""
    rows = await conn.fetch(
        f"""
        SELECT p.id FROM geopera.projects p
        WHERE EXISTS (SELECT 1 FROM geopera.memberships m WHERE m.user_id = $1
                      AND (m.project_id = p.id OR (p.org_id IS NOT NULL
                                                   AND m.org_id = p.org_id))){org}
        """,
        user_id,
    )
    return await visibility_for(conn, [str(r["id"]) for r in rows])


# ------------------------------------------------------------------ execution


@dataclass
class SearchResult:
    records: list[dict[str, Any]]
    total: int
    # The sort key of the last record (keyset paging), when the order allows keyset paging.
    last_key: list[Any] | None = None


@dataclass
class Where:
    """A search's WHERE clauses: on pgstac's rows alone (`p.`), and on the platform row `i`
    (which may also read `p.`: the guard probes geopera.items once per candidate row)."""

    stac: list[str]
    platform: list[str]
    # Whether the platform clauses are only the guard plus collections/types, so maintained
    # counters answer the count.
    counted: bool
    # Whether a pgstac clause narrows the rows by an index of its own (ids, footprint)
    selective: bool
    # Whether any clause reads pgstac's row (else geopera.items alone counts)
    reads_stac: bool = False


PLATFORM_REF = re.compile(r"\bi\.")
STAC_REF = re.compile(r"\bp\.")


def _filter_clauses(node: Any, sql: SqlBuilder) -> list[str]:
    """The filter's SQL, split at a top-level `and` so each conjunct lands on its own side."""
    Translator(SqlBuilder()).where(node)  # NOTE: validates (and limits) the whole filter first
    if isinstance(node, dict) and str(node.get("op", "")).lower() == "and":
        return [Translator(sql).where(arg) for arg in node["args"]]
    return [Translator(sql).where(node)]


def _where(req: SearchRequest, vis: Visibility, sql: SqlBuilder) -> Where:
    platform = [
        f"i.project_id = ANY({sql.bind(list(vis.project_ids))}::uuid[])",
        "i.deleted_at IS NULL",
    ]
    stac: list[str] = []
    if req.collections is not None:
        platform.append(f"i.collection_id = ANY({sql.bind(_uuids(req.collections))}::uuid[])")
    if req.types is not None:
        platform.append(f"i.type = ANY({sql.bind(req.types)}::text[])")
    counted = True
    if req.ids is not None:
        # NOTE: pgstac's per-partition primary key finds ids without scanning the project.
        stac.append(f"p.id = ANY({sql.bind(req.ids)}::text[])")
    if req.bbox is not None:
        stac.append(f"ST_Intersects(p.geometry, {bbox_geometry_sql(sql, req.bbox)})")
    if req.intersects is not None:
        geo = sql.bind(orjson.dumps(req.intersects).decode())
        # NOTE: a scalar subquery is an InitPlan: the GeoJSON is parsed once per query, not
        # once per candidate row (a 10,000-vertex polygon: 1 s -> 0.05 s over 30 rows).
        stac.append(f"ST_Intersects(p.geometry, "
                    f"(SELECT ST_SetSRID(ST_GeomFromGeoJSON({geo}), 4326)))")
    selective = bool(stac)
    if req.datetime is not None:
        lo, hi = req.datetime
        if hi is not None:
            stac.append(f"p.datetime <= {sql.bind(hi)}")
        if lo is not None:
            stac.append(f"p.end_datetime >= {sql.bind(lo)}")
    if req.filter is not None:
        for clause in _filter_clauses(req.filter, sql):
            # NOTE: `i.` only appears in the SQL of platform fields (type, state, dates, ...).
            if PLATFORM_REF.search(clause):
                platform.append(clause)
                counted = False
            else:
                stac.append(clause)
    reads_stac = bool(stac) or any(STAC_REF.search(c) for c in platform)
    return Where(stac, platform, counted, selective, reads_stac)


# NOTE: NOT NULL sort keys get no NULLS clause so pgstac's (datetime, end_datetime) index can
# deliver the order (DESC NULLS LAST would not match a backward index scan).
NOT_NULL_SORT = {"p.datetime", "p.end_datetime", "p.id", "i.project_id", "i.type",
                 "i.lifecycle_state", "i.created_at", "i.updated_at"}


def _uuids(values: list[str]) -> list[str]:
    """The values that are UUIDs (anything else cannot name a collection or item)."""
    out = []
    for v in values:
        try:
            out.append(str(uuid.UUID(v)))
        except ValueError:
            continue
    return out


def _partitions(req: SearchRequest, vis: Visibility) -> list[str]:
    """Visible pgstac partitions, narrowed to the requested collections (a collection's items
    live in the partition named after it), so PostgreSQL prunes the rest."""
    if req.collections is None:
        return list(vis.pgstac_collections)
    wanted = set(_uuids(req.collections))
    return [c for c in vis.pgstac_collections if c in wanted]


def _partition_clause(req: SearchRequest, vis: Visibility, sql: SqlBuilder) -> str:
    """The visible partitions, one parameter each.

    NOTE: PostgreSQL prunes partitions at run time for `= ANY(ARRAY[$1, $2])` but not for
    `= ANY($1)` (an array parameter): with the latter, a collection's first page walked every
    partition of the project to its end (720 ms at 200k items instead of 0.2 ms)."""
    parts = _partitions(req, vis)
    if not parts:
        return "FALSE"
    return f"p.collection = ANY(ARRAY[{', '.join(sql.bind(c) for c in parts)}]::text[])"


def sort_keys(req: SearchRequest) -> list[tuple[str, str]]:
    """(SQL expression, ASC|DESC) of the order, the id tie-break last (stable paging)."""
    sorts = req.sortby or DEFAULT_SORT
    keys = [(SORTABLE[s["field"]], s["direction"].upper()) for s in sorts]
    keys.append(("p.id", sorts[-1]["direction"].upper()))
    return keys


def _order(keys: list[tuple[str, str]]) -> str:
    return ", ".join(f"{col} {d}{'' if col in NOT_NULL_SORT else ' NULLS LAST'}"
                     for col, d in keys)


# NOTE: measured on 200k items / 20 partitions (docs/search.md): planning pgstac's partitions
# cost 17-36 ms per query while executing took 5-10 ms, so plans are cached (generic plans;
# partitions are still pruned at run time through `collection = ANY($n)`). Parallel workers
# cost ~25 ms to start for queries that touch a few hundred rows, and with the guard's join
# estimated badly the planner picked hash joins over all 200k platform rows (110 ms) where
# probing the primary key per match takes 1 ms.
# A search that still runs after GEOPERA_SEARCH_TIMEOUT_MS (default 30 s; an exact count over
# millions of matches) is cancelled and
# answered 503 "narrow it down" (db/pool.py translate) instead of holding a connection.
SESSION_SETTINGS = ("SET plan_cache_mode = force_generic_plan; "
                    "SET max_parallel_workers_per_gather = 0; "
                    "SET enable_hashjoin = off; SET enable_mergejoin = off; ")
DEFAULT_TIMEOUT_MS = 30_000
SESSION_RESET = ("RESET plan_cache_mode; RESET max_parallel_workers_per_gather; "
                 "RESET enable_hashjoin; RESET enable_mergejoin; RESET statement_timeout; "
                 "RESET enable_sort")
# Leading sort keys an index of every pgstac partition delivers in order.
INDEXED_ORDER = {"p.datetime", "p.id"}


async def run_search(conn: Any, req: SearchRequest, vis: Visibility,
                     timeout_ms: int = DEFAULT_TIMEOUT_MS) -> SearchResult:
    """One page of visible items plus the exact number of visible matches."""
    if vis.empty:
        return SearchResult([], 0)
    # NOTE: an int from settings, never user input; SET takes no bind parameters.
    await conn.execute(SESSION_SETTINGS + f"SET statement_timeout = {int(timeout_ms)}")
    try:
        return await _run(conn, req, vis)
    finally:
        await conn.execute(SESSION_RESET)


# NOTE: every pgstac row in a visible partition was written by our item ops with a UUID id
# (geopera.items.id), so the cast is safe and lets the guard probe the primary key.
GUARD = "i.id = p.id::uuid AND i.pgstac_collection = p.collection"


async def _run(conn: Any, req: SearchRequest, vis: Visibility) -> SearchResult:
    sql = SqlBuilder()
    where = _where(req, vis, sql)
    keys = sort_keys(req)
    after = keyset_clause(keys, req.after, sql) if req.after is not None else None
    stac = [_partition_clause(req, vis, sql), *where.stac]
    platform = " AND ".join(where.platform)
    order = _order(keys)
    lim = sql.bind(req.limit)
    off = sql.bind(0 if req.after is not None else req.offset)
    key_cols = ", ".join(f"{col} AS k{n}" for n, (col, _) in enumerate(keys))
    if all(col.startswith("p.") for col, _ in keys):
        # NOTE: the order is pgstac's own: walk its partitions in that order (the datetime
        # index for the default `datetime desc`, merged across partitions), probe the guard
        # per row and stop after offset + limit rows; the platform columns of those rows only
        # are read afterwards. Cost grows with offset + limit, not with the project.
        if not where.selective and keys[0][0] in INDEXED_ORDER:
            # NOTE: the generic plan cannot see the limit nor how many rows the guard keeps, and
            # on one partition it preferred sorting the whole collection (10k rows: 270 ms)
            # to walking the index for 10 (0.5 ms); without a footprint or ids to narrow by,
            # the index walk is always the plan wanted.
            await conn.execute("SET enable_sort = off")
        page_where = " AND ".join([*stac, f"EXISTS (SELECT 1 FROM geopera.items i "
                                          f"WHERE {GUARD} AND {platform})",
                                   *([after] if after else [])])
        # NOTE: a search narrowed by ids or a footprint is selective in practice: its page
        # and exact count come from ONE pass over the matches (a window count).
        window = ", count(*) OVER () AS total" if where.selective else ""
        # NOTE: the inner query carries only ids and sort keys (a sort of every match, for an
        # order no index delivers, then moves a few bytes per row, not the STAC documents);
        # the page's rows are read by primary key afterwards.
        outer_order = ", ".join(f"k.k{n} {d}{'' if col in NOT_NULL_SORT else ' NULLS LAST'}"
                                for n, (col, d) in enumerate(keys))
        rows = await conn.fetch(
            f"SELECT {ITEM_COLUMNS}, k.*{', k.total' if window else ''} FROM "
            f"(SELECT p.id AS pid, p.collection AS pcol, {key_cols}{window} FROM pgstac.items p "
            f"WHERE {page_where} ORDER BY {order} LIMIT {lim} OFFSET {off}) k "
            f"JOIN pgstac.items p ON p.collection = k.pcol AND p.id = k.pid "
            f"JOIN geopera.items i ON i.id = k.pid::uuid ORDER BY {outer_order}", *sql.params)
        if where.selective and rows:
            total = req.offset + rows[0]["total"] if req.after is not None else rows[0]["total"]
            last = [rows[-1][f"k{n}"] for n in range(len(keys))]
            return SearchResult([item_record(r) for r in rows], total, last)
    else:
        # NOTE: an order on platform columns: the join, sorted (as many rows as match).
        rows = await conn.fetch(
            f"SELECT {ITEM_COLUMNS}, {key_cols} FROM pgstac.items p JOIN geopera.items i "
            f"ON {GUARD} AND p.id = i.id::text WHERE "
            f"{' AND '.join([*stac, platform, *([after] if after else [])])} "
            f"ORDER BY {order} LIMIT {lim} OFFSET {off}", *sql.params)
    total = await _total(conn, req, vis, where, rows)
    last = [rows[-1][f"k{n}"] for n in range(len(keys))] if rows else None
    return SearchResult([item_record(r) for r in rows], total, last)


async def _total(conn: Any, req: SearchRequest, vis: Visibility, where: Where,
                 rows: list[Any]) -> int:
    """The exact number of visible matches, as cheaply as the request's shape allows."""
    if len(rows) < req.limit and (rows or req.offset == 0):
        # NOTE: a short page is the last one: its position says how many match.
        return req.offset + len(rows)
    if not where.reads_stac:
        if where.counted:
            return await count_live(conn, list(vis.project_ids),
                                    collections=_uuids(req.collections)
                                    if req.collections is not None else None,
                                    types=req.types)
        # NOTE: platform-only filters: the guard's own index counts without touching pgstac.
        sql = SqlBuilder()
        clauses = _where(req, vis, sql).platform
        return await conn.fetchval(
            f"SELECT count(*) FROM geopera.items i WHERE {' AND '.join(clauses)}", *sql.params)
    sql = SqlBuilder()
    w = _where(req, vis, sql)
    clauses = [_partition_clause(req, vis, sql), *w.stac,
               f"EXISTS (SELECT 1 FROM geopera.items i WHERE {GUARD} AND "
               f"{' AND '.join(w.platform)})"]
    return await conn.fetchval(
        f"SELECT count(*) FROM pgstac.items p WHERE {' AND '.join(clauses)}", *sql.params)


async def assets_by_item(conn: Any, item_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Live assets of a whole page of items in ONE query."""
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in item_ids}
    if not item_ids:
        return out
    rows = await conn.fetch(
        "SELECT id, item_id, key, href, media_type, file_size_bytes, roles, title "
        "FROM geopera.assets WHERE item_id = ANY($1::uuid[]) AND deleted_at IS NULL "
        "ORDER BY item_id, key",
        item_ids,
    )
    for r in rows:
        out[str(r["item_id"])].append(asset_record(r))
    return out


def record_feature(record: dict[str, Any]) -> dict[str, Any]:
    """The raw item record as a GeoJSON Feature (record fields under `properties`)."""
    props = {k: v for k, v in record.items() if k not in ("id", "geometry", "bbox")}
    return {"type": "Feature", "id": record["id"], "geometry": record["geometry"],
            "bbox": record["bbox"], "properties": props}


async def stac_features(conn: Any, records: list[dict[str, Any]], base_url: str,
                        signer: HrefSigner | None = None) -> list[dict[str, Any]]:
    assets = await assets_by_item(conn, [r["id"] for r in records])
    return [stac_feature(r, assets[r["id"]], base_url, signer=signer) for r in records]


__all__ = ["SearchRequest", "Visibility", "visibility_for", "user_visibility", "run_search",
           "assets_by_item", "record_feature", "stac_features", "parse_bbox", "stac_name",
           "COLUMNS", "SORTABLE"]
