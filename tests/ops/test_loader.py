"""`geopera-stac load`: bulk ingest through the real CLI into a real pgstac database."""

import json
import subprocess
import sys
from pathlib import Path

import orjson

from conftest import create_collection, ok, op
from geopera_stac_ext.settings import dsn_from_env

GEN = Path(__file__).resolve().parents[3] / "shared" / "bench" / "gen_items.py"


def _gen(tmp_path, n, collections):
    items = tmp_path / "items.ndjson"
    subprocess.run([sys.executable, str(GEN), "--items", str(n), "--collections",
                    str(collections), "--out-items", str(items),
                    "--out-collections", str(tmp_path / "cols.ndjson")], check=True)
    return items


def _load(db_env, tmp_path, *args):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": dsn_from_env(db_env),
           "GEOPERA_HOME": str(tmp_path), "GEOPERA_STORAGE_DIR": str(tmp_path)}
    # NOTE: the installed console script, as users run it (python -m would load cli twice).
    return subprocess.run([str(Path(sys.executable).parent / "geopera-stac"), "load",
                           *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=300)


def _count(db, sql, *args):
    async def q(conn):
        return await conn.fetchval(sql, *args)
    return db(q)


def test_load_gen_items_creates_collections_and_platform_rows(client, world, db, db_env,
                                                             tmp_path):
    owner = world["owner"]
    src = _gen(tmp_path, 30, 3)
    lines = [orjson.loads(x) for x in src.read_text().splitlines()]
    run = _load(db_env, tmp_path, src, "--project", world.project_a1, "--batch-size", 7)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["loaded"] == 30 and summary["rejected"] == 0
    assert summary["collections_created"] == 3
    assert "loaded 30 items" in run.stderr
    cols = ok(op(client, "collections.list", owner, project_id=world.project_a1))
    assert sorted((c["name"], c["item_count"]) for c in cols) == [
        ("survey-000", 10), ("survey-001", 10), ("survey-002", 10)]
    page = ok(op(client, "items.list", owner, project_id=world.project_a1, limit=100))
    assert page["total"] == 30
    first = lines[0]
    got = ok(op(client, "items.get", owner, item_id=first["id"]))["item"]
    assert got["name"] == "Scene 0"
    assert got["cloud_cover"] == first["properties"]["eo:cloud_cover"]
    assert got["gsd"] == first["properties"]["gsd"]
    assert got["properties"]["platform"] == first["properties"]["platform"]
    assert got["bbox"] == first["bbox"] and got["lifecycle_state"] == "active"
    assert got["collection_id"] == next(c["id"] for c in cols if c["name"] == first["collection"])
    assets = ok(op(client, "items.list_assets", owner, item_id=first["id"]))
    assert [a["key"] for a in assets] == ["data", "metadata", "thumbnail"]
    assert assets[0]["file_size_bytes"] == first["assets"]["data"]["file:size"]
    # storage credited like items.create; every platform row has its pgstac content
    expected = sum(x["assets"]["data"]["file:size"] for x in lines)
    assert _count(db, "SELECT sum(delta_bytes) FROM geopera.storage_ledger") == expected
    assert _count(db, "SELECT count(*) FROM geopera.items i JOIN pgstac.items p ON p.id ="
                      " i.id::text AND p.collection = i.pgstac_collection") == 30
    assert _count(db, "SELECT count(*) FROM geopera.items WHERE expires_at IS NULL") == 0
    assert _count(db, "SELECT count(*) FROM geopera.audit_log WHERE operation = 'items.load'") == 5
    # the loaded items work with the rest of the surface
    ok(op(client, "items.update", owner, item_id=first["id"], collection_id=None))
    feature = ok(op(client, "items.get_stac", owner, item_id=first["id"]))
    assert feature["properties"]["title"] == "Scene 0"


def test_bad_lines_are_reported_with_line_numbers(client, world, db_env, tmp_path, db):
    src = _gen(tmp_path, 4, 1)
    good = src.read_text().splitlines()
    no_data = orjson.loads(good[1])
    del no_data["assets"]["data"]
    bad_geom = orjson.loads(good[2])
    bad_geom["geometry"] = {"type": "Polygon", "coordinates": [[[500, 0], [1, 1]]]}
    bad_props = dict(orjson.loads(good[1]), properties=["x"])
    bad_col = dict(orjson.loads(good[2]), collection="")
    bad = tmp_path / "mixed.ndjson"
    bad.write_text("\n".join([good[0], "{not json", orjson.dumps(no_data).decode(),
                              orjson.dumps(bad_geom).decode(), good[3], good[0],
                              orjson.dumps(bad_props).decode(),
                              orjson.dumps(bad_col).decode()]) + "\n")
    run = _load(db_env, tmp_path, bad, "--project", world.project_a1)
    assert run.returncode == 1
    summary = json.loads(run.stdout)
    assert summary["loaded"] == 2 and summary["rejected"] == 6
    assert "mixed.ndjson:2: not valid JSON" in run.stderr
    assert "mixed.ndjson:3:" in run.stderr and "data" in run.stderr
    assert "mixed.ndjson:4: geometry" in run.stderr
    assert "mixed.ndjson:6: item id" in run.stderr and "twice" in run.stderr
    assert "mixed.ndjson:7: properties must be an object" in run.stderr
    assert "mixed.ndjson:8: collection must be" in run.stderr
    assert _count(db, "SELECT count(*) FROM geopera.items") == 2
    # loading again: every id already exists, nothing is duplicated
    again = _load(db_env, tmp_path, src, "--project", world.project_a1)
    assert again.returncode == 1 and json.loads(again.stdout)["loaded"] == 2
    assert "already exists" in again.stderr
    assert _count(db, "SELECT count(*) FROM geopera.items") == 4


def test_collection_option_and_unknown_targets(client, world, db_env, tmp_path):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1, "Delivery")
    src = _gen(tmp_path, 5, 2)
    run = _load(db_env, tmp_path, src, "--project", world.project_a1, "--collection", "Delivery")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["collections_created"] == 0
    got = ok(op(client, "collections.get", owner, project_id=world.project_a1,
                collection_id=col["id"]))
    assert got["item_count"] == 5
    missing = _load(db_env, tmp_path, src, "--project", world.project_a1, "--collection", "nope")
    assert missing.returncode == 2 and "nope" in missing.stderr
    other = _load(db_env, tmp_path, src, "--project", "00000000-0000-4000-8000-000000000000")
    assert other.returncode == 2 and "not found" in other.stderr


def test_failed_batch_writes_nothing(client, world, db_env, tmp_path, db):
    src = _gen(tmp_path, 10, 1)
    lines = [orjson.loads(x) for x in src.read_text().splitlines()]
    # NOTE: a pgstac row that already holds line 8's id in the inbox makes the second batch's
    # COPY fail inside the database, after its collection and first rows were written.
    async def plant(conn):
        inbox = await conn.fetchval("SELECT inbox_collection FROM geopera.projects"
                                    " WHERE id = $1", world.project_a1)
        doc = dict(lines[7], collection=inbox)
        await conn.execute("SELECT pgstac.create_item($1::text::jsonb)", orjson.dumps(doc).decode())
    db(plant)
    for line in lines[5:]:
        line.pop("collection")
    lines[5]["collection"] = "late-collection"
    src.write_text("\n".join(orjson.dumps(x).decode() for x in lines) + "\n")
    run = _load(db_env, tmp_path, src, "--project", world.project_a1, "--batch-size", 5)
    assert run.returncode == 2
    assert "lines 6–10 could not be written" in run.stderr
    assert "5 items from earlier batches" in run.stderr
    assert _count(db, "SELECT count(*) FROM geopera.items") == 5
    assert _count(db, "SELECT count(*) FROM geopera.assets") == 15
    assert _count(db, "SELECT count(*) FROM geopera.collections WHERE name ="
                      " 'late-collection'") == 0
    assert _count(db, "SELECT count(*) FROM pgstac.items") == 6  # 5 loaded + the planted row
