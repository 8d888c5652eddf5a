"""The pgstac tables, columns and functions the service touches exist in the migrated database
(the check to re-run when SUPPORTED_PGSTAC gains a version)."""

from __future__ import annotations

from geopera_stac_ext.pgstac.schema import FUNCTIONS, TABLES, missing


def test_the_migrated_pgstac_has_every_table_column_and_function_we_touch(db):
    assert db(missing) == []


def test_a_pgstac_without_a_function_or_column_we_use_is_reported(db):
    async def break_it(conn):
        await conn.execute("ALTER TABLE pgstac.items_staging RENAME COLUMN content TO doc")
        await conn.execute("DROP FUNCTION pgstac.check_partition(text, tstzrange, tstzrange)")
        return await missing(conn)

    assert db(break_it) == ["pgstac.items_staging.content", "pgstac.check_partition()"]
    assert "check_partition" in FUNCTIONS and "content" in TABLES["items_staging"]
