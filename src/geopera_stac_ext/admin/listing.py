"""Read-only operator listings: organizations, projects, users with memberships, API keys."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.core.errors import NotFound
from geopera_stac_ext.admin.tenancy import _uuid


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def _require(conn: Any, table: str, value: str, what: str) -> Any:
    """The id as a UUID, after checking the row exists (404 naming it otherwise)."""
    uid = _uuid(value, what)
    # NOTE: `table` is one of our constant table names, never user input.
    if await conn.fetchval(f"SELECT 1 FROM geopera.{table} WHERE id = $1", uid) is None:
        raise NotFound(f"{what} {value} not found")
    return uid


async def list_orgs(conn: Any) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT o.id, o.name, o.plan, o.subscription_status, o.created_at,
               (SELECT count(*) FROM geopera.projects p WHERE p.org_id = o.id) AS projects,
               (SELECT count(*) FROM geopera.memberships m WHERE m.org_id = o.id) AS members
        FROM geopera.organizations o ORDER BY o.created_at, o.id
        """)
    return [{"id": str(r["id"]), "name": r["name"], "plan": r["plan"],
             "subscription_status": r["subscription_status"], "created_at": _iso(r["created_at"]),
             "projects": r["projects"], "members": r["members"]} for r in rows]


async def list_projects(conn: Any, org_id: str | None = None) -> list[dict[str, Any]]:
    oid = await _require(conn, "organizations", org_id, "organization") if org_id else None
    rows = await conn.fetch(
        """
        SELECT p.id, p.name, p.org_id, o.name AS org_name, p.created_at,
               (SELECT count(*) FROM geopera.collections c
                WHERE c.project_id = p.id AND c.deleted_at IS NULL) AS collections,
               (SELECT count(*) FROM geopera.items i
                WHERE i.project_id = p.id AND i.deleted_at IS NULL) AS items
        FROM geopera.projects p LEFT JOIN geopera.organizations o ON o.id = p.org_id
        WHERE $1::uuid IS NULL OR p.org_id = $1
        ORDER BY p.created_at, p.id
        """, oid)
    return [{"id": str(r["id"]), "name": r["name"],
             "org_id": str(r["org_id"]) if r["org_id"] else None, "org_name": r["org_name"],
             "created_at": _iso(r["created_at"]), "collections": r["collections"],
             "items": r["items"]} for r in rows]


async def list_users(conn: Any) -> list[dict[str, Any]]:
    users = await conn.fetch("SELECT id, email, created_at FROM geopera.users"
                             " ORDER BY created_at, id")
    grants = await conn.fetch(
        """
        SELECT m.user_id, m.org_id, o.name AS org_name, m.project_id, p.name AS project_name,
               m.role, m.created_at
        FROM geopera.memberships m
        LEFT JOIN geopera.organizations o ON o.id = m.org_id
        LEFT JOIN geopera.projects p ON p.id = m.project_id
        ORDER BY m.created_at, m.id
        """)
    by_user: dict[Any, list[dict[str, Any]]] = {}
    for g in grants:
        entry = ({"org_id": str(g["org_id"]), "org_name": g["org_name"]} if g["org_id"] else
                 {"project_id": str(g["project_id"]), "project_name": g["project_name"]})
        by_user.setdefault(g["user_id"], []).append({**entry, "role": g["role"]})
    return [{"id": str(u["id"]), "email": u["email"], "created_at": _iso(u["created_at"]),
             "memberships": by_user.get(u["id"], [])} for u in users]


async def list_keys(conn: Any, user_id: str | None = None) -> list[dict[str, Any]]:
    uid = await _require(conn, "users", user_id, "user") if user_id else None
    # NOTE: never the key or its hash: the prefix is what an operator matches a key by.
    rows = await conn.fetch(
        """
        SELECT k.id, k.user_id, u.email, k.prefix, k.scopes, k.created_at, k.last_used_at,
               k.revoked_at
        FROM geopera.api_keys k JOIN geopera.users u ON u.id = k.user_id
        WHERE $1::uuid IS NULL OR k.user_id = $1
        ORDER BY k.created_at, k.id
        """, uid)
    return [{"id": str(r["id"]), "user_id": str(r["user_id"]), "email": r["email"],
             "prefix": r["prefix"], "scopes": list(r["scopes"]),
             "created_at": _iso(r["created_at"]), "last_used_at": _iso(r["last_used_at"]),
             "revoked": r["revoked_at"] is not None, "revoked_at": _iso(r["revoked_at"])}
            for r in rows]
