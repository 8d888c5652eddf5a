"""What a caller may see: the projects (and their pgstac partitions) a search is confined to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geopera_stac_ext.auth import guard


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
    # NOTE: the membership rule itself lives in auth/guard.py (one source of truth).
    return await visibility_for(conn, await guard.visible_project_ids(conn, user_id,
                                                                       org_only=org_only))
