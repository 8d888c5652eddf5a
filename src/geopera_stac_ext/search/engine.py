"""The one item search engine behind items.search, items.search_org and the STAC API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from geopera_stac_ext.core.errors import ServiceUnavailable
from geopera_stac_ext.db.sql import Query
from geopera_stac_ext.domain.records import ITEM_COLUMNS, item_record
from geopera_stac_ext.domain.counts import count_live
from geopera_stac_ext.search.fields import (
    COLUMNS,
    PLATFORM,
    INDEXED_NULLABLE_SORT,
    SORTABLE,
    STAC,
    stac_name,
)
from geopera_stac_ext.search.paging import keyset_clause, keyset_ok, nullable_after
from geopera_stac_ext.search.params import parse_bbox
from geopera_stac_ext.search.request import MAX_LIMIT, SearchRequest
from geopera_stac_ext.search.visibility import Visibility, user_visibility, visibility_for
from geopera_stac_ext.search.where import (
    GUARD,
    SortKey,
    Where,
    order_by,
    partition_clause,
    partitions,
    sort_keys,
    uuids,
    where,
)


@dataclass
class SearchResult:
    records: list[dict[str, Any]]
    total: int
    # The sort key of the last record (keyset paging), when the order allows keyset paging.
    last_key: list[Any] | None = None


# NOTE: measured on 200k items / 20 partitions (docs/search.md): planning pgstac's partitions
# cost 17-36 ms per query while executing took 5-10 ms, so plans are cached (generic plans;
# partitions are still pruned at run time through `collection = ANY($n)`). Parallel workers
# cost ~25 ms to start for queries that touch a few hundred rows, and with the guard's join
# estimated badly the planner picked hash joins over all 200k platform rows (110 ms) where
# probing the primary key per match takes 1 ms.
# JIT is off: a search's statements run for milliseconds, and `enable_sort = off` (below) adds
# its disable cost to any sort the plan keeps (the few rows of _split_ids' merge), which put the
# estimate past jit_above_cost: compiling the plan's expressions took 10 s on 200k items.
# A search that still runs after GEOPERA_SEARCH_TIMEOUT_MS (default 30 s; an exact count over
# millions of matches) is cancelled and answered 503 "narrow it down" instead of holding a
# connection.
SESSION_SETTINGS = ("SET plan_cache_mode = force_generic_plan; "
                    "SET max_parallel_workers_per_gather = 0; "
                    "SET enable_hashjoin = off; SET enable_mergejoin = off; SET jit = off; ")
DEFAULT_TIMEOUT_MS = 30_000
SESSION_RESET = ("RESET statement_timeout; RESET plan_cache_mode; "
                 "RESET max_parallel_workers_per_gather; RESET enable_hashjoin; "
                 "RESET enable_mergejoin; RESET enable_sort; RESET enable_indexscan; RESET jit")
# Leading sort keys an index of every pgstac partition delivers in order.
INDEXED_ORDER = {"p.datetime", "p.end_datetime", "p.id"}


class _Budget:
    """The search's connection: PostgreSQL's statement_timeout never runs while asyncpg
    prepares a statement.

    NOTE: root cause of "cannot switch to state 12" (~1 in 20 runs of test_search_timeout):
    asyncpg prepares a statement it has not cached with Parse/Describe/Flush, no Sync, and
    PostgreSQL keeps an extended-protocol statement's timer running until Execute or Sync. A
    timer expiring between Describe and Flush makes the server send its ErrorResponse right
    after the RowDescription that completed the prepare: asyncpg receives it while idle, its
    protocol drops into the error-consume state (2), and the statement's Bind/Execute (state
    12) is refused; the pool's reset then fails too and the request answered "database
    unavailable" instead of "narrow it down". So a statement not in asyncpg's cache is
    prepared (into the cache) with the timer off, and the timer is set again, for what is left
    of the budget, before it runs. A cached statement (the usual case: plans are cached per
    connection) costs nothing extra. The timer stays PostgreSQL's (exact, it cancels planning
    too), not asyncpg's per-call timeout, whose cancel request arrives late.
    """

    def __init__(self, conn: Any, timeout_ms: int) -> None:
        self._conn = conn
        self._deadline = time.monotonic() + timeout_ms / 1000

    def _left_ms(self) -> int:
        left = int((self._deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise ServiceUnavailable(TOO_LONG)
        return left

    def timer(self) -> str:
        # NOTE: an int from settings and the clock, never user input; SET takes no parameters.
        return f"SET statement_timeout = {self._left_ms()}"

    async def arm(self) -> None:
        await self._conn.execute(self.timer())

    async def _prepared(self, query: str) -> Any:
        """None when `query` is in asyncpg's statement cache (or now is); else a prepared
        statement to run instead (a text over asyncpg's cacheable size)."""
        raw = getattr(self._conn, "_con", None) or self._conn  # the pool proxy's connection
        key = (query, raw._protocol.get_record_class(), False)
        if raw._stmt_cache.get(key, promote=False) is not None:
            return None
        await self._conn.execute("SET statement_timeout = 0")
        await raw._get_statement(query, None)
        stmt = None
        if raw._stmt_cache.get(key, promote=False) is None:
            stmt = await self._conn.prepare(query)
        await self.arm()
        return stmt

    async def execute(self, query: str, *args: Any) -> Any:
        if not args:  # NOTE: simple protocol: nothing is prepared
            return await self._conn.execute(query)
        stmt = await self._prepared(query)
        return await (stmt.fetch(*args) if stmt else self._conn.execute(query, *args))

    async def fetch(self, query: str, *args: Any) -> Any:
        stmt = await self._prepared(query)
        return await (stmt.fetch(*args) if stmt else self._conn.fetch(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        stmt = await self._prepared(query)
        return await (stmt.fetchval(*args) if stmt else self._conn.fetchval(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        stmt = await self._prepared(query)
        return await (stmt.fetchrow(*args) if stmt else self._conn.fetchrow(query, *args))


TOO_LONG = "the query took too long and was cancelled; narrow it down"


async def run_search(conn: Any, req: SearchRequest, vis: Visibility,
                     timeout_ms: int = DEFAULT_TIMEOUT_MS) -> SearchResult:
    """One page of visible items plus the exact number of visible matches."""
    if vis.empty:
        return SearchResult([], 0)
    budget = _Budget(conn, timeout_ms)
    await conn.execute(SESSION_SETTINGS + budget.timer())
    try:
        return await _run(budget, req, vis)
    finally:
        await conn.execute(SESSION_RESET)


@dataclass
class _Plan:
    """One search statement being assembled: its parameters, clauses and order."""

    sql: Query
    where: Where
    keys: list[SortKey]
    stac: list[str]
    after: str | None
    split_after: tuple[str, str] | None = None
    # Whether the hidden set replaces the per-row guard probe (_unguarded).
    unguarded: bool = False

    def guard(self, req: SearchRequest, vis: Visibility) -> str:
        """The condition that keeps a pgstac row of the visible partitions only when the
        caller may see it: the hidden set's exclusion, or the guard probe."""
        return _visible(req, vis, self.sql, self.where, self.unguarded)


# NOTE: the hidden set (migration 0150): every pgstac row of a visible partition has its
# platform row, of that partition's project and collection, written in the same transaction
# (every write path; tests/search/test_unguarded_search.py checks them), and soft-deleted items
# keep their pgstac row. So when a search's platform clauses are only the project, liveness
# and collections (no type, no platform field in the filter), the rows it must not show are
# the soft-deleted platform rows of its partitions: excluded by one hashed subplan (built once
# per statement, in its snapshot) instead of a primary-key probe of geopera.items per
# candidate row. Measured at 1M items, one client (benchmarks/search/engine_shapes.py): a page
# at offset 10,000 241 -> 39 ms, the bbox mix query 29 -> 20 ms; 8 clients in
# benchmarks/search/README.md. Above HIDDEN_LIMIT soft-deleted
# items in the partitions (a project that deleted most of its items), hashing them per search
# costs more than the probes, and the guard probes again.
HIDDEN_LIMIT = 2_000
HIDDEN_SQL = ("SELECT count(*) FROM (SELECT 1 FROM geopera.items WHERE deleted_at IS NOT NULL"
              " AND pgstac_collection = ANY($1::text[]) LIMIT $2) h")


async def _unguarded(conn: Any, req: SearchRequest, vis: Visibility, w: Where) -> bool:
    """Whether the hidden set can stand for the guard in this search (see HIDDEN_LIMIT)."""
    if not w.counted or req.types is not None:
        return False
    parts = partitions(req, vis)
    return bool(parts) and await conn.fetchval(HIDDEN_SQL, parts, HIDDEN_LIMIT + 1) <= HIDDEN_LIMIT


def _visible(req: SearchRequest, vis: Visibility, sql: Query, w: Where, unguarded: bool) -> str:
    if not unguarded:
        return (f"EXISTS (SELECT 1 FROM geopera.items i WHERE {GUARD} AND "
                f"{' AND '.join(w.platform)})")
    parts = ", ".join(sql.bind(c) for c in partitions(req, vis))
    return (f"p.id NOT IN (SELECT h.id::text FROM geopera.items h WHERE h.deleted_at IS NOT NULL"
            f" AND h.pgstac_collection = ANY(ARRAY[{parts}]::text[]))")


# NOTE: the id tie-break read from the platform row (p.id is i.id::text, same text, same order),
# for orders on platform fields alone (_platform_first_page).
PLATFORM_TIE = SortKey("i.id::text", "", PLATFORM)


def _platform_first(keys: list[SortKey], w: Where) -> bool:
    """Whether the page can be chosen from geopera.items alone: an order on platform fields
    and no clause on pgstac's row (the visible partitions aside)."""
    return not w.reads_stac and all(k.relation == PLATFORM for k in keys[:-1])


def _plan(req: SearchRequest, vis: Visibility) -> _Plan:
    sql = Query()
    w = where(req, vis, sql)
    keys = sort_keys(req)
    if _platform_first(keys, w):
        keys[-1] = PLATFORM_TIE._replace(direction=keys[-1].direction)
    after, split_after = None, None
    if req.after is not None and keys[0].sql in INDEXED_NULLABLE_SORT:
        # NOTE: (after on the rows with a value, after on the rows without): _split_ids
        # resumes each of its two index ranges with its own; one statement ORs them.
        split_after = nullable_after(keys, req.after, sql)
        after = (f"(({keys[0].sql} IS NOT NULL AND {split_after[0]}) OR "
                 f"({keys[0].sql} IS NULL AND {split_after[1]}))")
    elif req.after is not None:
        after = keyset_clause(keys, req.after, sql)
    return _Plan(sql, w, keys, [partition_clause(req, vis, sql), *w.stac], after, split_after)


async def _run(conn: Any, req: SearchRequest, vis: Visibility) -> SearchResult:
    plan = _plan(req, vis)
    if all(k.relation == STAC for k in plan.keys):
        plan.unguarded = await _unguarded(conn, req, vis, plan.where)
        rows = await _stac_ordered_page(conn, req, vis, plan)
        if plan.where.selective and rows:
            total = req.offset + rows[0]["total"] if req.after is not None else rows[0]["total"]
            return _result(rows, total, plan.keys)
    elif _platform_first(plan.keys, plan.where):
        rows = await _platform_first_page(conn, req, plan)
    else:
        rows = await _platform_ordered_page(conn, req, plan)
    return _result(rows, await _total(conn, req, vis, plan, rows), plan.keys)


def _result(rows: list[Any], total: int, keys: list[SortKey]) -> SearchResult:
    last = [rows[-1][f"k{n}"] for n in range(len(keys))] if rows else None
    return SearchResult([item_record(r) for r in rows], total, last)


def _page_bounds(req: SearchRequest, sql: Query) -> str:
    return (f"LIMIT {sql.bind(req.limit, name='limit')} "
            f"OFFSET {sql.bind(0 if req.after is not None else req.offset, name='offset')}")


async def _stac_ordered_page(conn: Any, req: SearchRequest, vis: Visibility,
                             plan: _Plan) -> list[Any]:
    """NOTE: the order is pgstac's own: walk its partitions in that order (the datetime index
    for the default `datetime desc`, merged across partitions), keep the rows the caller may
    see (the hidden set's exclusion, else the guard probed per row: plan.guard) and stop
    after offset + limit rows; the platform columns of those rows only are read
    afterwards. Cost grows with offset + limit, not with the project."""
    sql, w, keys = plan.sql, plan.where, plan.keys
    # NOTE: walk an indexed nullable key (sortby eo:cloud_cover) only when no other pgstac
    # clause competes for the rows (a 1-day datetime range would leave a walk in cloud-cover
    # order through most of the project, where sorting the range's few rows is cheap).
    split = (not w.selective and keyset_ok(keys) and keys[0].sql in INDEXED_NULLABLE_SORT
             and all(keys[0].sql in clause for clause in w.stac))
    if not w.selective and _unbounded_walk(req, keys):
        await conn.execute("SET enable_indexscan = off")
    elif not w.selective and (keys[0].sql in INDEXED_ORDER or split):
        # NOTE: the generic plan cannot see the limit nor how many rows the guard keeps, and
        # on one partition it preferred sorting the whole collection (10k rows: 270 ms)
        # to walking the index for 10 (0.5 ms); without a footprint or ids to narrow by,
        # the index walk is always the plan wanted.
        await conn.execute("SET enable_sort = off")
    guarded = [*plan.stac, plan.guard(req, vis)]
    # NOTE: a search narrowed by ids or a footprint is selective in practice: its page
    # and exact count come from ONE pass over the matches (a window count).
    window = ", count(*) OVER () AS total" if w.selective else ""
    key_cols = ", ".join(f"{k.sql} AS k{n}" for n, k in enumerate(keys))
    if split:
        inner = _split_ids(req, plan, guarded, key_cols)
    else:
        page_where = " AND ".join([*guarded, *([plan.after] if plan.after else [])])
        inner = (f"SELECT p.id AS pid, p.collection AS pcol, {key_cols}{window} "
                 f"FROM pgstac.items p WHERE {page_where} "
                 f"ORDER BY {order_by(keys)} {_page_bounds(req, sql)}")
    # NOTE: the inner query carries only ids and sort keys (a sort of every match, for an
    # order no index delivers, then moves a few bytes per row, not the STAC documents);
    # the page's rows are read by primary key afterwards.
    text, args = sql.render(
        f"SELECT {ITEM_COLUMNS}, k.*{', k.total' if window else ''} FROM ({inner}) k "
        f"JOIN pgstac.items p ON p.collection = k.pcol AND p.id = k.pid "
        f"JOIN geopera.items i ON i.id = k.pid::uuid ORDER BY {order_by(keys, 'k')}")
    return await conn.fetch(text, *args)


def _unbounded_walk(req: SearchRequest, keys: list[SortKey]) -> bool:
    """Whether the order is `end_datetime DESC` under a datetime window with an end: the page
    then sorts the window's matches (index scans off; bitmap scans find them).

    NOTE: walking (end_datetime, id) backward is bounded by the window's start
    (`end_datetime >= lo`, an index condition) but not by its end (a spanned item may end
    after it), and the generic plan walked it even with sorting allowed: 6 days in the first
    year of a 1M-item catalog read every newer row first (0.93 s, sorted: milliseconds)."""
    return (keys[0].sql == "p.end_datetime" and keys[0].direction == "DESC"
            and req.datetime is not None and req.datetime[1] is not None)


def _split_ids(req: SearchRequest, plan: _Plan, guarded: list[str], key_cols: str) -> str:
    """Ids and keys of a page ordered by an indexed nullable key (NULLS LAST) and the id.

    NOTE: the key's index (value, id; NULLs last) delivers `ASC NULLS LAST` walking forward
    but `DESC NULLS FIRST` walking backward, so the rows with a value and the rows without
    are read as two ordered index ranges (each stopping at offset + limit, each resumed from
    a keyset token on its own) and only their heads are merged into the requested order."""
    sql, keys = plan.sql, plan.keys
    key, tie = keys
    if plan.split_after is not None:
        valued, missing = plan.split_after
        reach = sql.bind(req.limit, name="reach")
    else:
        valued, missing = "TRUE", "TRUE"
        reach = sql.bind(req.offset + req.limit, name="reach")
    index_order = (f"{key.sql} {key.direction} NULLS "
                   f"{'FIRST' if key.direction == 'DESC' else 'LAST'}, {tie.sql} {tie.direction}")
    branches = [
        f"(SELECT p.id AS pid, p.collection AS pcol, {key_cols} FROM pgstac.items p "
        f"WHERE {' AND '.join([*guarded, f'{key.sql} IS {null}', cond])} "
        f"ORDER BY {index_order} LIMIT {reach})"
        for null, cond in (("NOT NULL", valued), ("NULL", missing)) if cond != "FALSE"]
    return (f"SELECT * FROM ({' UNION ALL '.join(branches)}) u "
            f"ORDER BY {order_by(keys, 'u')} {_page_bounds(req, sql)}")


async def _platform_first_page(conn: Any, req: SearchRequest, plan: _Plan) -> list[Any]:
    """NOTE: an order on platform fields with no clause on pgstac's row (sortby created,
    updated, collection, type, …): the page's ids come from geopera.items alone (its
    partial indexes, or a top-N sort of its narrow rows: 1M items 13.8 s -> see
    benchmarks/search/README.md), and only those rows are joined to pgstac. Every live
    platform row of the caller's projects has its pgstac row (the hidden-set invariant)."""
    sql, keys = plan.sql, plan.keys
    key_cols = ", ".join(f"{k.sql} AS k{n}" for n, k in enumerate(keys))
    conds = " AND ".join([*plan.where.platform, *([plan.after] if plan.after else [])])
    text, args = sql.render(
        f"SELECT {ITEM_COLUMNS}, k.* FROM (SELECT i.id AS iid, i.pgstac_collection AS pcol, "
        f"{key_cols} FROM geopera.items i WHERE {conds} "
        f"ORDER BY {order_by(keys)} {_page_bounds(req, sql)}) k "
        f"JOIN geopera.items i ON i.id = k.iid "
        f"JOIN pgstac.items p ON p.collection = k.pcol AND p.id = k.iid::text "
        f"ORDER BY {order_by(keys, 'k')}")
    return await conn.fetch(text, *args)


async def _platform_ordered_page(conn: Any, req: SearchRequest, plan: _Plan) -> list[Any]:
    """NOTE: an order on platform columns: the join, sorted (as many rows as match)."""
    sql, keys = plan.sql, plan.keys
    key_cols = ", ".join(f"{k.sql} AS k{n}" for n, k in enumerate(keys))
    conds = " AND ".join([*plan.stac, *plan.where.platform,
                          *([plan.after] if plan.after else [])])
    text, args = sql.render(
        f"SELECT {ITEM_COLUMNS}, {key_cols} FROM pgstac.items p JOIN geopera.items i "
        f"ON {GUARD} AND p.id = i.id::text WHERE {conds} "
        f"ORDER BY {order_by(keys)} {_page_bounds(req, sql)}")
    return await conn.fetch(text, *args)


async def _total(conn: Any, req: SearchRequest, vis: Visibility, plan: _Plan,
                 rows: list[Any]) -> int:
    """The exact number of visible matches, as cheaply as the request's shape allows."""
    w = plan.where
    if len(rows) < req.limit and (rows or req.offset == 0):
        # NOTE: a short page is the last one: its position says how many match.
        return req.offset + len(rows)
    if not w.reads_stac and w.counted:
        return await count_live(conn, list(vis.project_ids),
                                collections=uuids(req.collections)
                                if req.collections is not None else None,
                                types=req.types)
    sql = Query()
    clauses = where(req, vis, sql, platform_copies=True)
    if not clauses.reads_stac:
        # NOTE: platform-only filters (the platform row's copies of declared properties
        # included): an index of geopera.items counts without touching pgstac.
        counts = [" AND ".join([*clauses.platform, *arm])
                  for arm in (clauses.window_arms or ([],))]
        text, args = sql.render("SELECT " + " + ".join(
            f"(SELECT count(*) FROM geopera.items i WHERE {c})" for c in counts))
        return await conn.fetchval(text, *args)
    sql = Query()
    clauses = where(req, vis, sql)
    conds = [partition_clause(req, vis, sql), *clauses.stac,
             _visible(req, vis, sql, clauses, plan.unguarded)]
    text, args = sql.render(f"SELECT count(*) FROM pgstac.items p WHERE {' AND '.join(conds)}")
    return await conn.fetchval(text, *args)


# NOTE: the engine's public surface; request parsing, visibility and clauses live in their
# own modules (request.py, visibility.py, where.py) and are re-exported for the front doors.
__all__ = ["SearchRequest", "SearchResult", "Visibility", "visibility_for", "user_visibility",
           "run_search", "parse_bbox",
           "stac_name", "sort_keys", "COLUMNS", "SORTABLE", "MAX_LIMIT"]
