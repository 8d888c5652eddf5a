"""auth.whoami: the caller's own identity, key and memberships (any valid key)."""

from __future__ import annotations

from typing import Any

from geopera_stac_ext.core.fields import Record
from geopera_stac_ext.ops.context import OpContext
from geopera_stac_ext.ops.registry import Params, op


class WhoamiParams(Params):
    pass


class WhoamiKey(Record):
    id: str
    prefix: str
    scopes: list[str]
    created_at: str
    last_used_at: str | None


class WhoamiMembership(Record):
    org_id: str | None = None
    org_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    role: str


class WhoamiResult(Record):
    user_id: str
    email: str
    key: WhoamiKey
    memberships: list[WhoamiMembership]


# NOTE: scope "none": any valid, unrevoked key may ask who it is; the answer names only the
# caller's own rows, so there is nothing another tenant could learn from it.
@op("auth.whoami", params=WhoamiParams, result=WhoamiResult, side_effect="read", scope="none",
    purpose="Who the calling API key belongs to: user, key prefix and scopes, memberships.")
async def auth_whoami(ctx: OpContext, p: WhoamiParams) -> dict[str, Any]:
    key = await ctx.conn.fetchrow(
        "SELECT id, prefix, scopes, created_at, last_used_at FROM geopera.api_keys WHERE id = $1",
        ctx.principal.key_id)
    grants = await ctx.conn.fetch(
        """
        SELECT m.org_id, o.name AS org_name, m.project_id, p.name AS project_name, m.role
        FROM geopera.memberships m
        LEFT JOIN geopera.organizations o ON o.id = m.org_id
        LEFT JOIN geopera.projects p ON p.id = m.project_id
        WHERE m.user_id = $1 ORDER BY m.created_at, m.id
        """, ctx.principal.user_id)
    memberships = [
        {"org_id": str(g["org_id"]), "org_name": g["org_name"], "role": g["role"]} if g["org_id"]
        else {"project_id": str(g["project_id"]), "project_name": g["project_name"],
              "role": g["role"]}
        for g in grants]
    return {
        "user_id": ctx.principal.user_id, "email": ctx.principal.email,
        "key": {"id": str(key["id"]), "prefix": key["prefix"], "scopes": list(key["scopes"]),
                "created_at": key["created_at"].isoformat(),
                "last_used_at": key["last_used_at"].isoformat() if key["last_used_at"] else None},
        "memberships": memberships,
    }
