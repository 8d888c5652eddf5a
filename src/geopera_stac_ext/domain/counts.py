"""Exact item counts from the counters migration 0060 keeps in step with every write."""

from __future__ import annotations

from typing import Any

NIL = "00000000-0000-0000-0000-000000000000"  # the counters' key for uncollected items


async def count_live(conn: Any, project_ids: list[str], *, collections: list[str] | None = None,
                     uncollected: bool = False, types: list[str] | None = None) -> int:
    """Live items of these projects, optionally of these collections (or uncollected) and
    types: a sum over a few counter rows, whatever the size of the project."""
    clauses, args = ["project_id = ANY($1::uuid[])"], [project_ids]
    if uncollected:
        clauses.append(f"collection_id = '{NIL}'")
    elif collections is not None:
        args.append(collections)
        clauses.append(f"collection_id = ANY(${len(args)}::uuid[])")
    if types is not None:
        args.append(types)
        clauses.append(f"type = ANY(${len(args)}::text[])")
    return await conn.fetchval(
        f"SELECT coalesce(sum(n), 0)::bigint FROM geopera.item_counts WHERE "
        f"{' AND '.join(clauses)}", *args)
