"""Role ranks have one meaning: Python's ROLE_RANK agrees with SQL's geopera.role_rank; no dead view."""

from geopera_stac_ext.auth.guard import LEVEL_MIN_ROLE, ROLE_RANK


def test_sql_role_rank_agrees_with_the_python_ranks(db):
    async def ranks(conn):
        rows = await conn.fetch("SELECT r, geopera.role_rank(r) AS n FROM unnest($1::text[]) r",
                                [*ROLE_RANK, "nobody"])
        return {r["r"]: r["n"] for r in rows}

    assert db(ranks) == {**ROLE_RANK, "nobody": 0}


def test_memberships_accept_exactly_the_ranked_roles(db):
    async def check(conn):
        return await conn.fetchval(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " WHERE c.conrelid = 'geopera.memberships'::regclass AND c.contype = 'c'"
            " AND pg_get_constraintdef(c.oid) LIKE '%role%'")

    constraint = db(check)
    assert constraint is not None
    assert all(f"'{role}'" in constraint for role in ROLE_RANK)
    assert set(LEVEL_MIN_ROLE.values()) <= set(ROLE_RANK)


def test_the_unused_project_roles_view_is_gone(db):
    assert db(lambda c: c.fetchval("SELECT to_regclass('geopera.project_roles')")) is None
