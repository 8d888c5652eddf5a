"""Exact item counts from the counters migration 0060 keeps in step with every write."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.db.sql import Query

NIL = "00000000-0000-0000-0000-000000000000"  # the counters' key for uncollected items


async def count_live(conn: Any, project_ids: list[str], *, collections: list[str] | None = None,
                     uncollected: bool = False, types: list[str] | None = None) -> int:
    """Live items of these projects, optionally of these collections (or uncollected) and
    types: a sum over a few counter rows, whatever the size of the project."""
    sql = Query()
    clauses = [f"project_id = ANY({sql.bind(project_ids, name='projects')}::uuid[])"]
    if uncollected:
        clauses.append(f"collection_id = '{NIL}'")
    elif collections is not None:
        clauses.append(f"collection_id = ANY({sql.bind(collections, name='collections')}"
                       "::uuid[])")
    if types is not None:
        clauses.append(f"type = ANY({sql.bind(types, name='types')}::text[])")
    text, args = sql.render(
        f"SELECT coalesce(sum(n), 0)::bigint FROM geopera.item_counts WHERE "
        f"{' AND '.join(clauses)}")
    return await conn.fetchval(text, *args)
