"""Rows refer to existing rows: migrations 0100 and 0101 keep the foreign keys' rules, set-based."""

import uuid

import psycopg
import pytest

from conftest import create_collection, create_item
from geopera_stac_ext.core.settings import dsn_from_env

ASSET_SQL = ("INSERT INTO geopera.assets (id, item_id, key, href) VALUES"
             " (gen_random_uuid(), %s, %s, 's3://bucket/x.tif')")


def _connect(db_env):
    return psycopg.connect(dsn_from_env(db_env))


@pytest.fixture
def item_id(client, world):
    return create_item(client, world["owner"], world.project_a1)["id"]


def test_an_asset_of_a_missing_item_is_a_foreign_key_violation(world, db_env, item_id):
    with _connect(db_env) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
            conn.execute(ASSET_SQL, (str(uuid.uuid4()), "x"))
        assert err.value.diag.constraint_name == "assets_item_id_fkey"
        conn.rollback()
        # one missing item in a multi-row COPY fails the whole statement
        with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.cursor() as cur:
            with cur.copy("COPY geopera.assets (id, item_id, key, href) FROM STDIN") as copy:
                copy.write(f"{uuid.uuid4()}\t{item_id}\ty\ts3://b/y\n"
                           f"{uuid.uuid4()}\t{uuid.uuid4()}\tz\ts3://b/z\n")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM geopera.assets WHERE key IN ('x', 'y', 'z')"
                            ).fetchone()[0] == 0
        conn.execute(ASSET_SQL, (item_id, "extra"))  # an existing item: accepted
        conn.commit()


def test_moving_an_asset_or_removing_its_item_is_refused(world, db_env, item_id):
    with _connect(db_env) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE geopera.assets SET item_id = %s WHERE item_id = %s",
                         (str(uuid.uuid4()), item_id))
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
            conn.execute("DELETE FROM geopera.items WHERE id = %s", (item_id,))
        assert err.value.diag.constraint_name == "assets_item_id_fkey"
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE geopera.items SET id = gen_random_uuid() WHERE id = %s",
                         (item_id,))
        conn.rollback()
        # other updates of either row are not checked (and not refused)
        conn.execute("UPDATE geopera.assets SET title = 't' WHERE item_id = %s", (item_id,))
        conn.execute("UPDATE geopera.items SET type = 'dem' WHERE id = %s", (item_id,))
        conn.commit()


def test_a_new_asset_locks_its_item_against_a_concurrent_delete(world, db_env, item_id):
    """As the foreign key did: the item row is locked FOR KEY SHARE until the asset's
    transaction ends, so a delete of that item waits instead of orphaning the asset."""
    with _connect(db_env) as writer, _connect(db_env) as deleter:
        writer.execute(ASSET_SQL, (item_id, "pending"))  # transaction left open
        deleter.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM geopera.items WHERE id = %s", (item_id,))
        deleter.rollback()
        writer.commit()
        assert writer.execute("SELECT count(*) FROM geopera.assets WHERE item_id = %s",
                              (item_id,)).fetchone()[0] >= 2


ITEM_SQL = ("INSERT INTO geopera.items (id, project_id, collection_id, pgstac_collection)"
            " VALUES (gen_random_uuid(), %s, %s, 'x')")


def test_an_item_of_a_missing_project_or_collection_is_a_foreign_key_violation(
        client, world, db_env):
    col = create_collection(client, world["owner"], world.project_a1, "Refs")["id"]
    with _connect(db_env) as conn:
        for project, collection, fkey in (
                (str(uuid.uuid4()), None, "items_project_id_fkey"),
                (world.project_a1, str(uuid.uuid4()), "items_collection_id_fkey")):
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
                conn.execute(ITEM_SQL, (project, collection))
            assert err.value.diag.constraint_name == fkey
            conn.rollback()
        conn.execute(ITEM_SQL, (world.project_a1, col))  # both exist: accepted
        conn.execute(ITEM_SQL, (world.project_a1, None))  # uncollected: accepted
        conn.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
            conn.execute("UPDATE geopera.items SET collection_id = %s WHERE collection_id = %s",
                         (str(uuid.uuid4()), col))
        assert err.value.diag.constraint_name == "items_collection_id_fkey"
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE geopera.items SET project_id = %s WHERE collection_id = %s",
                         (str(uuid.uuid4()), col))
        conn.rollback()
        # a collection or project that items still refer to cannot be removed or re-keyed
        for sql in ("DELETE FROM geopera.collections WHERE id = %s",
                    "UPDATE geopera.collections SET id = gen_random_uuid() WHERE id = %s"):
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
                conn.execute(sql, (col,))
            assert err.value.diag.constraint_name == "items_collection_id_fkey"
            conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE geopera.projects SET id = gen_random_uuid() WHERE id = %s",
                         (world.project_a1,))
        conn.rollback()


def test_a_new_item_locks_its_collection_against_a_concurrent_delete(client, world, db_env):
    col = create_collection(client, world["owner"], world.project_a1, "Locked")["id"]
    with _connect(db_env) as writer, _connect(db_env) as deleter:
        writer.execute(ITEM_SQL, (world.project_a1, col))  # transaction left open
        deleter.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM geopera.collections WHERE id = %s", (col,))
        deleter.rollback()
        writer.rollback()


def test_the_item_reference_check_fires_before_the_counter_trigger(db_env):
    """The lock order of the foreign keys it replaces: project and collection first."""
    with _connect(db_env) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'geopera.items'::regclass"
            " AND NOT tgisinternal AND tgtype & 4 = 4 AND tgtype & 1 = 0"  # INSERT, statement
            " ORDER BY tgname COLLATE \"C\"")]
    assert names[0] == "fk_items_refs_insert_trg" and "item_counts_ins_trg" in names, names


def test_counted_reference_checks_see_a_missing_key_among_repeats(client, world, db_env,
                                                                  item_id):
    """Migration 0130 compares the locked rows with the statement's distinct keys: repeats of
    present keys pass, one missing key among them fails with its own DETAIL."""
    col = create_collection(client, world["owner"], world.project_a1, "Counted")["id"]
    missing = str(uuid.uuid4())
    with _connect(db_env) as conn, conn.cursor() as cur:
        rows = "".join(f"{uuid.uuid4()}\t{item_id}\tk{n}\ts3://b/k\n" for n in range(3))
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
            with cur.copy("COPY geopera.assets (id, item_id, key, href) FROM STDIN") as copy:
                copy.write(rows + f"{uuid.uuid4()}\t{missing}\tz\ts3://b/z\n")
        assert err.value.diag.constraint_name == "assets_item_id_fkey"
        assert missing in err.value.diag.message_detail
        conn.rollback()
        with cur.copy("COPY geopera.assets (id, item_id, key, href) FROM STDIN") as copy:
            copy.write(rows)  # three rows, one item: accepted
        conn.rollback()
        items = "".join(f"{uuid.uuid4()}\t{world.project_a1}\t{c}\tx\n"
                        for c in (col, col, "\\N", col))
        stmt = "COPY geopera.items (id, project_id, collection_id, pgstac_collection) FROM STDIN"
        for bad, fkey in ((f"{uuid.uuid4()}\t{missing}\t{col}\tx\n", "items_project_id_fkey"),
                          (f"{uuid.uuid4()}\t{world.project_a1}\t{missing}\tx\n",
                           "items_collection_id_fkey")):
            with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
                with cur.copy(stmt) as copy:
                    copy.write(items + bad)
            assert err.value.diag.constraint_name == fkey
            assert missing in err.value.diag.message_detail
            conn.rollback()
        with cur.copy(stmt) as copy:
            copy.write(items)  # repeated and NULL collections: accepted
        conn.rollback()
