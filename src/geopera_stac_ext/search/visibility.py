"""What a caller may see: the projects (and their pgstac partitions) a search is confined to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
