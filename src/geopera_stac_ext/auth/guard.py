"""Who is calling, and may they do this: the one place access decisions are made."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from geopera_stac_ext.auth.keys import PREFIX, hash_key
from geopera_stac_ext.core.errors import Forbidden, NotFound, Unauthenticated

# NOTE: SQL ranks roles too (geopera.role_rank, 0001_tenancy.sql, for queries that fold the
# decision in); tests/ops/test_roles.py pins that both agree.
ROLE_RANK = {"viewer": 1, "editor": 2, "admin": 3, "owner": 4}
# Minimum role per access level (see the README's authorization matrix).
LEVEL_MIN_ROLE = {"read": "viewer", "write": "editor", "admin": "admin"}


@dataclass(frozen=True)
class Principal:
    user_id: str
    key_id: str
    scopes: frozenset[str]
    email: str = ""


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing Authorization header; send `Authorization: Bearer gpra_…`")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Authorization must be `Bearer <api key>`")
    if not token.startswith(PREFIX):
        raise Unauthenticated("invalid API key")
    return token


async def authenticate(conn: Any, authorization: str | None) -> Principal:
    """Resolve a bearer key to its principal; 401 for missing, unknown or revoked keys."""
    token = bearer_token(authorization)
    row = await conn.fetchrow(
        """
        SELECT k.id, k.user_id, k.scopes, k.revoked_at, u.email
        FROM geopera.api_keys k JOIN geopera.users u ON u.id = k.user_id
        WHERE k.key_hash = $1
        """,
        hash_key(token),
    )
    return await _key_principal(conn, row)


async def _key_principal(conn: Any, row: Any) -> Principal:
    if row is None:
        raise Unauthenticated("invalid API key")
    if row["revoked_at"] is not None:
        raise Unauthenticated("this API key has been revoked")
    await touch_key(conn, row["id"])
    return Principal(user_id=str(row["user_id"]), key_id=str(row["id"]),
                     scopes=frozenset(row["scopes"]), email=row["email"])


async def principal_of_key(conn: Any, key_id: str) -> Principal:
    """The principal of a key named by id (an asset URL's access token, storage/asset_tokens);
    401 when the key is unknown or revoked, exactly as `authenticate`."""
    row = await conn.fetchrow(
        """
        SELECT k.id, k.user_id, k.scopes, k.revoked_at, u.email
        FROM geopera.api_keys k JOIN geopera.users u ON u.id = k.user_id
        WHERE k.id = $1::uuid
        """,
        key_id,
    )
    return await _key_principal(conn, row)


# NOTE: a key's last use is stamped at most once a minute per key and process: `admin list-keys`
# shows it to the minute without a write per request.
TOUCH_EVERY_SECONDS = 60.0
_touched: dict[Any, float] = {}


async def touch_key(conn: Any, key_id: Any) -> None:
    """Record that a key was just used (throttled; never waits for a lock, never fails a request)."""
    now = time.monotonic()
    if now - _touched.get(key_id, float("-inf")) < TOUCH_EVERY_SECONDS:
        return
    _touched[key_id] = now
    try:
        # NOTE: SKIP LOCKED: a concurrent request holding the row (same key, its own
        # transaction) already stamps it; waiting for it would serialise a key's requests.
        await conn.execute(
            "UPDATE geopera.api_keys SET last_used_at = now() WHERE id = ("
            " SELECT id FROM geopera.api_keys WHERE id = $1 FOR UPDATE SKIP LOCKED)", key_id)
    except asyncpg.ReadOnlySQLTransactionError:
        pass  # a read-only replica connection: the next request on the primary stamps it


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"this API key lacks the `{scope}` scope")


# The caller's strongest grant on project row `{project}` (project or organization grant),
# as geopera.role_rank; `{user}` is the user id parameter. Shared by project_role and reads
# that fold the lookup into their own query (items.get).
MEMBER_RANK_SQL = """(SELECT max(geopera.role_rank(m.role)) FROM geopera.memberships m
                  WHERE m.user_id = {user}
                    AND (m.project_id = {project}.id
                         OR ({project}.org_id IS NOT NULL AND m.org_id = {project}.org_id)))"""


def role_of_rank(rank: int | None) -> str | None:
    return next((r for r, n in ROLE_RANK.items() if n == rank), None)


async def project_role(conn: Any, user_id: str, project_id: str) -> tuple[bool, str | None]:
    """(project exists, the caller's strongest role on it via project or organization grants)."""
    row = await conn.fetchrow(
        f"SELECT p.id, {MEMBER_RANK_SQL.format(user='$1', project='p')} AS rank"
        " FROM geopera.projects p WHERE p.id = $2",
        user_id, project_id,
    )
    if row is None:
        return False, None
    return True, role_of_rank(row["rank"])


def decide(project_id: str, exists: bool, role: str | None, level: str) -> str:
    """The decision once the scope is checked: project exists (404) → membership (403) →
    role for the level (403). Returns the caller's role."""
    if not exists:
        raise NotFound(f"project {project_id} not found")
    if role is None:
        raise Forbidden("you are not a member of this project or its organization")
    need = LEVEL_MIN_ROLE[level]
    if ROLE_RANK[role] < ROLE_RANK[need]:
        raise Forbidden(f"this needs the {need} role or higher on the project; you are {role}")
    return role


async def authorize(conn: Any, principal: Principal, scope: str, project_id: str,
                    level: str = "read") -> str:
    """Decide (principal, scope, project, level): returns the caller's role or raises.

    Order: scope (403) → project exists (404) → membership (403) → role for the level (403).
    """
    require_scope(principal, scope)
    exists, role = await project_role(conn, principal.user_id, project_id)
    return decide(project_id, exists, role, level)


async def visible_project_ids(conn: Any, user_id: str) -> list[str]:
    """Every project the user can read (project grants plus their organizations' projects)."""
    rows = await conn.fetch(
        """
        SELECT p.id FROM geopera.projects p
        WHERE EXISTS (SELECT 1 FROM geopera.memberships m WHERE m.user_id = $1
                      AND (m.project_id = p.id OR (p.org_id IS NOT NULL AND m.org_id = p.org_id)))
        """,
        user_id,
    )
    return [str(r["id"]) for r in rows]
