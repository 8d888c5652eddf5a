"""Organizations, projects, users, memberships and keys: the admin side of tenancy."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson

from geopera_stac_ext.auth.guard import ROLE_RANK
from geopera_stac_ext.auth.keys import display_prefix, generate_key, hash_key, parse_scopes
from geopera_stac_ext.core.errors import InvalidRequest, NotFound
from geopera_stac_ext.domain.records import stac_collection
from geopera_stac_ext.lifecycle.job import on_plan_change
from geopera_stac_ext.pgstac.collections import create_collection

PLANS = ("free", "paid")
SUBSCRIPTION_STATUSES = ("active", "past_due")
ROLES = tuple(ROLE_RANK)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest(f"{what} must be a UUID, got {value!r}") from None


def _name(value: str, what: str = "name") -> str:
    value = (value or "").strip()
    if not 1 <= len(value) <= 200:
        raise InvalidRequest(f"{what} must be 1–200 characters")
    return value


async def create_org(conn: Any, name: str, plan: str = "free") -> dict[str, Any]:
    if plan not in PLANS:
        raise InvalidRequest(f"plan must be one of {', '.join(PLANS)}")
    oid = uuid.uuid4()
    await conn.execute("INSERT INTO geopera.organizations (id, name, plan) VALUES ($1, $2, $3)",
                       oid, _name(name), plan)
    return {"id": str(oid), "name": name.strip(), "plan": plan, "subscription_status": "active"}


async def create_project(conn: Any, name: str, org_id: str | None = None) -> dict[str, Any]:
    pid = uuid.uuid4()
    if org_id is not None:
        oid = _uuid(org_id, "org")
        if await conn.fetchval("SELECT 1 FROM geopera.organizations WHERE id = $1", oid) is None:
            raise NotFound(f"organization {org_id} not found")
    inbox = f"inbox-{pid}"
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO geopera.projects (id, org_id, name, inbox_collection) "
            "VALUES ($1, $2, $3, $4)",
            pid, uuid.UUID(org_id) if org_id else None, _name(name), inbox,
        )
        doc = stac_collection(inbox, f"Uncollected items of project {name.strip()}", None)
        await create_collection(conn, orjson.dumps(doc).decode())
    return {"id": str(pid), "name": name.strip(), "org_id": org_id}


async def create_user(conn: Any, email: str) -> dict[str, Any]:
    email = (email or "").strip()
    if not EMAIL_RE.match(email):
        raise InvalidRequest(f"not an email address: {email!r}")
    if await conn.fetchval("SELECT 1 FROM geopera.users WHERE lower(email) = lower($1)", email):
        raise InvalidRequest(f"a user with email {email} already exists")
    uid = uuid.uuid4()
    await conn.execute("INSERT INTO geopera.users (id, email) VALUES ($1, $2)", uid, email)
    return {"id": str(uid), "email": email}


async def grant(conn: Any, user_id: str, role: str, *, org_id: str | None = None,
                project_id: str | None = None) -> dict[str, Any]:
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
    if (org_id is None) == (project_id is None):
        raise InvalidRequest("grant needs exactly one of --org or --project")
    uid = _uuid(user_id, "user")
    if await conn.fetchval("SELECT 1 FROM geopera.users WHERE id = $1", uid) is None:
        raise NotFound(f"user {user_id} not found")
    kind, target = ("org", org_id) if org_id is not None else ("project", project_id)
    table, column, noun = _GRANT_TARGETS[kind]
    tid = _uuid(target, kind)  # type: ignore[arg-type]
    # NOTE: table and column names come from _GRANT_TARGETS (constants), never from input.
    if await conn.fetchval(f"SELECT 1 FROM geopera.{table} WHERE id = $1", tid) is None:
        raise NotFound(f"{noun} {target} not found")
    await conn.execute(
        f"INSERT INTO geopera.memberships (user_id, {column}, role) VALUES ($1, $2, $3) "
        f"ON CONFLICT (user_id, {column}) WHERE {column} IS NOT NULL DO UPDATE SET role = $3",
        uid, tid, role)
    return {"user_id": user_id, column: target, "role": role}


# A membership's two kinds of target: (table, memberships column, noun in errors).
_GRANT_TARGETS = {"org": ("organizations", "org_id", "organization"),
                  "project": ("projects", "project_id", "project")}


async def create_key(conn: Any, user_id: str, scopes: str | None = None) -> dict[str, Any]:
    uid = _uuid(user_id, "user")
    try:
        scope_list = parse_scopes(scopes)
    except ValueError as e:
        raise InvalidRequest(str(e)) from None
    if await conn.fetchval("SELECT 1 FROM geopera.users WHERE id = $1", uid) is None:
        raise NotFound(f"user {user_id} not found")
    raw = generate_key()
    kid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO geopera.api_keys (id, user_id, key_hash, prefix, scopes) "
        "VALUES ($1, $2, $3, $4, $5)",
        kid, uid, hash_key(raw), display_prefix(raw), scope_list)
    return {"api_key": raw, "id": str(kid), "user_id": user_id, "scopes": scope_list,
            "note": "store this key now: it is shown once and kept only as a hash"}


async def revoke_key(conn: Any, key_id: str) -> dict[str, Any]:
    kid = _uuid(key_id, "key")
    row = await conn.fetchrow(
        "UPDATE geopera.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 "
        "RETURNING revoked_at", kid)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    return {"id": key_id, "revoked_at": row["revoked_at"].isoformat()}


async def set_plan(conn: Any, org_id: str, plan: str) -> dict[str, Any]:
    if plan not in PLANS:
        raise InvalidRequest(f"plan must be one of {', '.join(PLANS)}")
    oid = _uuid(org_id, "org")
    async with conn.transaction():
        old = await conn.fetchval(
            "SELECT plan FROM geopera.organizations WHERE id = $1 FOR UPDATE", oid)
        if old is None:
            raise NotFound(f"organization {org_id} not found")
        await conn.execute("UPDATE geopera.organizations SET plan = $2 WHERE id = $1", oid, plan)
        # NOTE: a direct call: how a plan change moves items (restore on upgrade) is the
        # lifecycle's rule, applied in this same transaction.
        reactivated = await on_plan_change(conn, oid, old, plan)
    return {"id": org_id, "plan": plan, "previous_plan": old, "reactivated_items": reactivated}


async def set_subscription(conn: Any, org_id: str, status: str) -> dict[str, Any]:
    if status not in SUBSCRIPTION_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(SUBSCRIPTION_STATUSES)}")
    oid = _uuid(org_id, "org")
    done = await conn.fetchval(
        "UPDATE geopera.organizations SET subscription_status = $2 WHERE id = $1 RETURNING id",
        oid, status)
    if done is None:
        raise NotFound(f"organization {org_id} not found")
    return {"id": org_id, "subscription_status": status}
