"""The one item search engine behind items.search, items.search_org and the STAC API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from geopera_stac_ext.errors import InvalidRequest
from geopera_stac_ext.models.common import _geometry
from geopera_stac_ext.records import ITEM_COLUMNS, asset_record, item_record
from geopera_stac_ext.search.cql2sql import (
    COLUMNS,
    SqlBuilder,
    Translator,
    bbox_geometry_sql,
    parse_instant,
    query_to_cql2,
    stac_name,
)
from geopera_stac_ext.search.cql2text import parse_cql2_text, parse_cql2_text_async
from geopera_stac_ext.stac_feature import stac_feature

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
    if (not isinstance(value, (list, tuple)) or len(value) != 4 or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
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
    offset: int = 0

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
            clauses.append(parse_filter(filter, filter_lang))
        if query is not None:
            if isinstance(query, str):
                try:
                    query = orjson.loads(query)
                except orjson.JSONDecodeError:
                    raise InvalidRequest("query: not valid JSON") from None
            clauses.extend(query_to_cql2(query))
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


def _where(req: SearchRequest, vis: Visibility, sql: SqlBuilder) -> tuple[list[str], bool]:
    """WHERE clauses and whether any of them reads pgstac (else geopera.items alone counts)."""
    clauses = [
        f"i.project_id = ANY({sql.bind(list(vis.project_ids))}::uuid[])",
        "i.deleted_at IS NULL",
    ]
    stac = False
    if req.collections is not None:
        clauses.append(f"i.collection_id = ANY({sql.bind(_uuids(req.collections))}::uuid[])")
    if req.types is not None:
        clauses.append(f"i.type = ANY({sql.bind(req.types)}::text[])")
    if req.ids is not None:
        # NOTE: pgstac's per-partition primary key finds ids without scanning the project.
        clauses.append(f"p.id = ANY({sql.bind(req.ids)}::text[])")
        stac = True
    if req.bbox is not None:
        clauses.append(f"ST_Intersects(p.geometry, {bbox_geometry_sql(sql, req.bbox)})")
        stac = True
    if req.intersects is not None:
        geo = sql.bind(orjson.dumps(req.intersects).decode())
        clauses.append(f"ST_Intersects(p.geometry, ST_SetSRID(ST_GeomFromGeoJSON({geo}), 4326))")
        stac = True
    if req.datetime is not None:
        lo, hi = req.datetime
        if hi is not None:
            clauses.append(f"p.datetime <= {sql.bind(hi)}")
        if lo is not None:
            clauses.append(f"p.end_datetime >= {sql.bind(lo)}")
        stac = True
    if req.filter is not None:
        clauses.append(Translator(sql).where(req.filter))
        # NOTE: `p.` only appears in the SQL of fields stored in pgstac (content, id, times).
        stac = stac or "p." in clauses[-1]
    return clauses, stac


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


def _order(req: SearchRequest) -> str:
    keys = []
    for s in req.sortby or DEFAULT_SORT:
        col = SORTABLE[s["field"]]
        nulls = "" if col in NOT_NULL_SORT else " NULLS LAST"
        keys.append(f"{col} {s['direction'].upper()}{nulls}")
    # NOTE: the id breaks ties so offset paging is stable.
    last = (req.sortby or DEFAULT_SORT)[-1]["direction"].upper()
    keys.append(f"p.id {last}")
    return ", ".join(keys)


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
                 "RESET enable_hashjoin; RESET enable_mergejoin; RESET statement_timeout")


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


async def _run(conn: Any, req: SearchRequest, vis: Visibility) -> SearchResult:
    sql = SqlBuilder()
    clauses, reads_stac = _where(req, vis, sql)
    parts = sql.bind(_partitions(req, vis))
    clauses.append(f"p.collection = ANY({parts}::text[])")
    where = " AND ".join(clauses)
    # NOTE: every pgstac row in a visible partition was written by our item ops with a UUID id
    # (geopera.items.id), so the cast is safe, and it lets the join probe the primary key.
    # The same equality once more as text lets the join also run from geopera.items into
    # pgstac's per-partition id index. Without it, whenever the generic plan started from
    # geopera.items it scanned pgstac's partitions once per row: measured over 50k items
    # (benchmarks/search/shapes.py), `/search?limit=10` and, in another run, a collection's
    # items ran past the 30 s budget, depending on the statistics of the moment. With it the
    # worst plan is one pass over the visible rows and a sort (≈ 1 s at 50k).
    join = ("pgstac.items p JOIN geopera.items i "
            "ON i.id = p.id::uuid AND p.id = i.id::text AND i.pgstac_collection = p.collection")
    order = _order(req)
    lim, off = sql.bind(req.limit), sql.bind(req.offset)
    if reads_stac:
        # NOTE: a filter on STAC content is selective in practice (bbox/time/properties): count
        # and page in ONE pass over the matches (the window count costs no second scan, and
        # pgstac's partitions are planned once, which is most of the cost of a small query).
        rows = await conn.fetch(
            f"SELECT count(*) OVER () AS total, {ITEM_COLUMNS} FROM {join} WHERE {where} "
            f"ORDER BY {order} LIMIT {lim} OFFSET {off}",
            *sql.params,
        )
        if rows:
            total = rows[0]["total"]
        else:
            total = await conn.fetchval(
                f"SELECT count(*) FROM {join} WHERE {where}", *sql.params[:-2])
    else:
        # NOTE: platform-only filters: the guard's own index counts without touching pgstac.
        count_sql = SqlBuilder()
        count_clauses, _ = _where(req, vis, count_sql)
        total = await conn.fetchval(
            f"SELECT count(*) FROM geopera.items i WHERE {' AND '.join(count_clauses)}",
            *count_sql.params)
        rows = await conn.fetch(
            f"SELECT {ITEM_COLUMNS} FROM {join} WHERE {where} "
            f"ORDER BY {order} LIMIT {lim} OFFSET {off}",
            *sql.params,
        ) if total > req.offset else []
    return SearchResult([item_record(r) for r in rows], total)


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


async def stac_features(conn: Any, records: list[dict[str, Any]], base_url: str
                        ) -> list[dict[str, Any]]:
    assets = await assets_by_item(conn, [r["id"] for r in records])
    return [stac_feature(r, assets[r["id"]], base_url) for r in records]


__all__ = ["SearchRequest", "Visibility", "visibility_for", "user_visibility", "run_search",
           "assets_by_item", "record_feature", "stac_features", "parse_bbox", "stac_name",
           "COLUMNS", "SORTABLE"]
