"""`geopera-stac load`: bulk ingest through the real CLI into a real pgstac database."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import psycopg
import pytest
from pypgstac.db import PgstacDB
from pypgstac.load import Loader

from conftest import create_collection, geopera_cli, ok, op
from geopera_stac_ext.core.errors import InvalidRequest, NotFound
from geopera_stac_ext.ingest import run as run_module
from geopera_stac_ext.ingest import validate as validate_module
from geopera_stac_ext.ingest.plan import LoadPlan
from geopera_stac_ext.ingest.prepare import checked_line, item_content, prepare
from geopera_stac_ext.ingest.validate import Checked, fast_check, feature_to_params, item_id_of
from geopera_stac_ext.pgstac import bulk
from geopera_stac_ext.ops import items as items_module
from geopera_stac_ext.ops.items import ItemsCreateParams
from geopera_stac_ext.core.settings import dsn_from_env

GEN = Path(__file__).resolve().parents[2] / "benchmarks" / "tools" / "gen_items.py"


def _gen(tmp_path, n, collections):
    items = tmp_path / "items.ndjson"
    subprocess.run([sys.executable, str(GEN), "--items", str(n), "--collections",
                    str(collections), "--out-items", str(items),
                    "--out-collections", str(tmp_path / "cols.ndjson")], check=True)
    return items


def _load(db_env, tmp_path, *args):
    return geopera_cli(db_env, tmp_path, "load", *args)


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


def test_an_id_repeated_in_a_later_batch_is_rejected_as_a_repeat(world, db_env, tmp_path, db):
    """The loader keeps no set of every id of the file (memory flat in its size): a repeat in
    a later batch is caught by the database and reported as a repeat, even with
    --skip-existing."""
    lines = _gen(tmp_path, 12, 2).read_text().splitlines()
    lines[8] = lines[1]  # line 9 repeats line 2 (batches of 5: lines 1-5, 6-10, 11-12)
    src = tmp_path / "repeat.ndjson"
    src.write_text("\n".join(lines) + "\n")
    run = _load(db_env, tmp_path, src, "--project", world.project_a1, "--batch-size", 5,
                "--skip-existing")
    assert run.returncode == 1, run.stderr
    summary = json.loads(run.stdout)
    assert (summary["loaded"], summary["rejected"], summary["skipped"]) == (11, 1, 0)
    iid = orjson.loads(lines[1])["id"]
    assert f"repeat.ndjson:9: item id {iid} appears twice in this file" in run.stderr
    assert _count(db, "SELECT count(*) FROM geopera.items") == 11
    assert _count(db, "SELECT count(*) FROM pgstac.items") == 11


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


def _plant_in_inbox(db, project_id, feature):
    """A pgstac row (no platform row) with the feature's id in the project's inbox: a load
    that reaches that id fails inside the database."""
    async def plant(conn):
        inbox = await conn.fetchval("SELECT inbox_collection FROM geopera.projects"
                                    " WHERE id = $1", project_id)
        doc = dict(feature, collection=inbox)
        await conn.execute("SELECT pgstac.create_item($1::text::jsonb)", orjson.dumps(doc).decode())
    db(plant)


def test_failed_batch_writes_nothing(client, world, db_env, tmp_path, db):
    src = _gen(tmp_path, 10, 1)
    lines = [orjson.loads(x) for x in src.read_text().splitlines()]
    # NOTE: a pgstac row that already holds line 8's id in the inbox makes the second batch's
    # COPY fail inside the database, after its collection and first rows were written.
    _plant_in_inbox(db, world.project_a1, lines[7])
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


def test_failure_beside_a_concurrent_batch_is_reported_truthfully(client, world, db_env,
                                                                   tmp_path, db):
    """Two writers: a batch that fails may have a neighbour that commits; the message says
    exactly which lines were stored, and the database agrees with it."""
    src = _gen(tmp_path, 25, 1)
    lines = [orjson.loads(x) for x in src.read_text().splitlines()]
    _plant_in_inbox(db, world.project_a1, lines[7])
    for n, line in enumerate(lines):
        # one month, so after the first batch no batch has partition work and runs alone
        line["properties"]["datetime"] = f"2026-10-{n + 1:02d}T04:00:00Z"
        if n >= 4:
            line.pop("collection")  # uncollected: the inbox, where line 8's id is planted
    src.write_text("\n".join(orjson.dumps(x).decode() for x in lines) + "\n")
    run = _load(db_env, tmp_path, src, "--project", world.project_a1, "--batch-size", 5,
                "--writers", 2)
    assert run.returncode == 2, run.stderr
    assert "lines 6–10 could not be written" in run.stderr
    stored = _count(db, "SELECT count(*) FROM geopera.items")
    if "written at the same time" in run.stderr:
        alongside = run.stderr.split("was stored; lines ")[1].split(" (written")[0].split(", ")
        assert alongside and all(r in ("11–15", "16–20", "21–25") for r in alongside)
        assert stored == 5 + 5 * len(alongside)
        assert f"{stored} items in all" in run.stderr
        assert "load the file again with --skip-existing" in run.stderr
    else:
        assert "nothing of that batch or later ones was stored" in run.stderr
        assert stored == 5
    # every stored item is whole: its assets and its pgstac row
    assert _count(db, "SELECT count(*) FROM geopera.assets") == 3 * stored
    assert _count(db, "SELECT count(*) FROM pgstac.items") == stored + 1  # + the planted row


def test_in_process_load_two_writers_restores_gc_and_time_orders_asset_ids(world, db_env,
                                                                          settings, tmp_path,
                                                                          db):
    """load_file with a connection factory: several batches, two writers, every row whole."""
    import gc

    src = _gen(tmp_path, 60, 4)
    lines = [orjson.loads(x) for x in src.read_text().splitlines()]
    dsn = dsn_from_env(db_env)

    def connect():
        return psycopg.connect(dsn, options="-c search_path=pgstac,public")

    assert gc.isenabled()
    interval = sys.getswitchinterval()
    with connect() as conn:
        summary = run_module.load_file(conn, settings, src, world.project_a1,
                                          batch_size=8, connect=connect, writers=2,
                                          report=lambda msg: None)
    assert gc.isenabled()  # paused for the load only
    assert sys.getswitchinterval() == interval  # shortened for the load only
    with connect() as conn, pytest.raises(NotFound):  # ... also when the load cannot start
        run_module.load_file(conn, settings, src, str(uuid.uuid4()), report=lambda m: None)
    assert gc.isenabled()
    assert (summary.loaded, summary.rejected, summary.collections_created) == (60, 0, 4)
    assert _count(db, "SELECT count(*) FROM geopera.items i JOIN pgstac.items p ON p.id ="
                      " i.id::text AND p.collection = i.pgstac_collection"
                      " AND i.collection_id::text = p.collection") == 60
    assert _count(db, "SELECT count(*) FROM geopera.assets") == 180
    # asset ids are RFC 9562 version 7 (time-ordered): new ids append to the primary key
    ids = db(lambda conn: conn.fetch("SELECT id FROM geopera.assets"))
    assert {r["id"].version for r in ids} == {7}
    # partitions cover whole UTC quarters around the rows, and searching by time stays exact
    ranges = db(lambda conn: conn.fetch(
        "SELECT m.constraint_dtrange AS r, s.collection FROM pgstac.partition_stats s,"
        " pgstac.partition_catalog_meta(s.partition) m WHERE s.collection IN"
        " (SELECT id::text FROM geopera.collections)"))
    assert len(ranges) == 4
    for row in ranges:
        for bound in (row["r"].lower, row["r"].upper):
            assert (bound.day, bound.hour, bound.minute, bound.second) == (1, 0, 0, 0), row
            assert bound.month in (1, 4, 7, 10), row
    first = min(x["properties"]["datetime"] for x in lines)
    expected = sum(1 for x in lines if x["properties"]["datetime"] <= first[:10] + "T23:59:59Z")
    got = _count(db, "SELECT count(*) FROM pgstac.items WHERE datetime <= $1::text::timestamptz",
                 first[:10] + "T23:59:59Z")
    assert got == expected >= 1


def test_the_rest_of_the_file_is_split_between_the_last_two_batches(world, db_env, settings,
                                                                   tmp_path, db, monkeypatch):
    """Near the end of the file the rest (under 1.5 batches) goes in two halves, so the two
    writers write the last two batches side by side; every line is loaded once."""
    monkeypatch.setattr(run_module, "SPLIT_MIN", 1)
    src = _gen(tmp_path, 60, 2)
    dsn = dsn_from_env(db_env)

    def connect():
        return psycopg.connect(dsn, options="-c search_path=pgstac,public")

    with connect() as conn:
        summary = run_module.load_file(conn, settings, src, world.project_a1, batch_size=20,
                                       connect=connect, writers=2, report=lambda msg: None)
    assert (summary.loaded, summary.rejected) == (60, 0)
    # one created_at per batch: 20, 20, then the last 20 lines in two batches of about 10
    sizes = [r["n"] for r in db(lambda c: c.fetch(
        "SELECT count(*) AS n FROM geopera.items WHERE project_id = $1"
        " GROUP BY created_at ORDER BY created_at", world.project_a1))]
    assert sizes[:2] == [20, 20] and len(sizes) == 4 and sum(sizes) == 60, sizes
    assert all(7 <= n <= 13 for n in sizes[2:]), sizes


def test_skip_existing_finishes_a_partial_load_and_only_for_this_project(world, db_env,
                                                                         tmp_path, db):
    lines = _gen(tmp_path, 15, 2).read_text().splitlines()
    part, whole = tmp_path / "part.ndjson", tmp_path / "whole.ndjson"
    part.write_text("\n".join(lines[:10]) + "\n")
    whole.write_text("\n".join(lines) + "\n")
    assert _load(db_env, tmp_path, part, "--project", world.project_a1).returncode == 0
    # the flag finishes the load cleanly: the 10 stored lines skipped, the 5 others loaded
    again = _load(db_env, tmp_path, whole, "--project", world.project_a1, "--batch-size", 4,
                  "--skip-existing")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["loaded"], summary["skipped"], summary["rejected"]) == (5, 10, 0)
    assert "skipped 10 already loaded" in again.stderr
    assert _count(db, "SELECT count(*) FROM geopera.items") == 15
    # without it, lines already stored are rejected (exit 1), and nothing is loaded twice
    plain = _load(db_env, tmp_path, whole, "--project", world.project_a1, "--batch-size", 4)
    assert plain.returncode == 1 and plain.stderr.count("already exists") == 15
    assert json.loads(plain.stdout)["loaded"] == 0
    assert _count(db, "SELECT count(*) FROM geopera.items") == 15
    # ids another project holds are never skipped silently
    other = _load(db_env, tmp_path, whole, "--project", world.project_a2, "--skip-existing")
    assert other.returncode == 1 and other.stderr.count("already exists") == 15
    assert json.loads(other.stdout)["skipped"] == 0
    assert _count(db, "SELECT count(*) FROM geopera.items WHERE project_id = $1",
                  world.project_a2) == 0


def test_progress_bar_only_on_a_terminal(world, db_env, tmp_path):
    """stderr a terminal: a progress bar ending at 100%; a pipe (as above): no bar."""
    import os
    import pty

    lines = _gen(tmp_path, 45, 2).read_text().splitlines()
    src, rest = tmp_path / "forty.ndjson", tmp_path / "five.ndjson"
    src.write_text("\n".join(lines[:40]) + "\n")
    rest.write_text("\n".join(lines[40:]) + "\n")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": dsn_from_env(db_env),
           "GEOPERA_HOME": str(tmp_path), "GEOPERA_STORAGE_DIR": str(tmp_path)}
    leader, follower = pty.openpty()
    try:
        run = subprocess.run([str(Path(sys.executable).parent / "geopera-stac"), "load",
                              str(src), "--project", world.project_a1, "--batch-size", "10"],
                             env=env, stdout=subprocess.PIPE, stderr=follower, timeout=300)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    terminal = b"".join(chunks).decode()
    assert run.returncode == 0, terminal
    assert "\r[" in terminal and "100.0% 40 items" in terminal
    assert "loaded 40 items" in terminal  # the summary line after the bar
    piped = _load(db_env, tmp_path, rest, "--project", world.project_a2)
    assert piped.returncode == 0, piped.stderr
    assert "\r[" not in piped.stderr and "%" not in piped.stderr


def _feature(**over):
    """A gen_items-shaped STAC Item with a fresh id; keyword overrides replace top-level keys."""
    iid = str(uuid.uuid4())
    ring = [[144.2, -37.3], [144.22, -37.3], [144.22, -37.28], [144.2, -37.28], [144.2, -37.3]]
    f = {"type": "Feature", "stac_version": "1.0.0", "id": iid,
         "bbox": [144.2, -37.3, 144.22, -37.28],
         "geometry": {"type": "Polygon", "coordinates": [ring]},
         "properties": {"datetime": "2026-10-08T04:35:46Z", "eo:cloud_cover": 9.4, "gsd": 10.0,
                        "platform": "aerial-a", "title": "Scene"},
         "links": [], "assets": {
             "data": {"href": f"s3://bucket/{iid}.tif", "type": "image/tiff", "roles": ["data"],
                      "file:size": 977787301},
             "thumbnail": {"href": f"s3://bucket/{iid}.png", "type": "image/png",
                           "roles": ["thumbnail"]}}}
    f.update(over)
    return f


def _props(**over):
    p = _feature()["properties"]
    p.update(over)
    return {k: v for k, v in p.items() if v is not DROP}


def _assets(**over):
    a = _feature()["assets"]
    for key, change in over.items():
        if change is DROP:
            a.pop(key)
        elif isinstance(change, dict):
            a[key] = {k: v for k, v in {**a.get(key, {"href": "s3://b/x"}), **change}.items()
                      if v is not DROP}
        else:
            a[key] = change
    return a


DROP = object()
AGREEMENT_CASES = {
    # accepted by items.create
    "typical": _feature(),
    "bbox only": _feature(geometry=None),
    "geometry only": _feature(bbox=None),
    "point, 3d": _feature(bbox=None, geometry={"type": "Point", "coordinates": [1.5, 2.5, 30]}),
    "multipolygon": _feature(bbox=None, geometry={"type": "MultiPolygon", "coordinates": [
        [[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[2, 2], [3, 2], [3, 3], [2, 2]]]]}),
    "geometry collection": _feature(geometry={"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": [1, 2]}]}),
    "int cloud cover and gsd": _feature(properties=_props(**{"eo:cloud_cover": 5, "gsd": 2})),
    "cloud cover as a numeric string": _feature(properties=_props(**{"eo:cloud_cover": "9.5"})),
    "offset datetime": _feature(properties=_props(datetime="2026-10-08T14:35:46.25+10:00")),
    "no datetime": _feature(properties=_props(datetime=DROP)),
    "no title: name from id": _feature(properties=_props(title=DROP)),
    "type and description": _feature(properties=_props(**{"geopera:type": "dem",
                                                          "description": "x" * 10_000})),
    "nested properties": _feature(properties=_props(extra={"a": [1, {"b": None}]})),
    "start/end datetime": _feature(properties=_props(start_datetime="2026-01-01T00:00:00Z",
                                                     end_datetime="2026-02-01T00:00:00Z")),
    "zero size, no roles, no type": _feature(assets=_assets(data={"file:size": 0, "roles": DROP,
                                                                  "type": DROP})),
    "integral float size": _feature(assets=_assets(data={"file:size": 5.0})),
    "asset title, key with dots": _feature(assets=_assets(**{"a.b:c-d_e": {"title": "t" * 500}})),
    "20 roles": _feature(assets=_assets(data={"roles": ["r"] * 20})),
    # NOTE: pydantic's lax float takes a boolean; the fast path leaves it to the model
    "cloud cover true": _feature(properties=_props(**{"eo:cloud_cover": True})),
    # rejected by items.create
    "no data asset": _feature(assets=_assets(data=DROP)),
    "asset key with a space": _feature(assets=_assets(**{"da ta": {}})),
    "asset key with a newline": _feature(assets=_assets(**{"x\n": {}})),
    "empty href": _feature(assets=_assets(data={"href": ""})),
    "ftp href": _feature(assets=_assets(data={"href": "ftp://host/x.tif"})),
    "href outside the storage root": _feature(assets=_assets(data={"href": "/etc/passwd"})),
    "s3 href without bucket": _feature(assets=_assets(data={"href": "s3:///x.tif"})),
    "asset not an object": _feature(assets=_assets(data="s3://b/x.tif")),
    "negative size": _feature(assets=_assets(data={"file:size": -1})),
    "fractional size": _feature(assets=_assets(data={"file:size": 1.5})),
    "21 roles": _feature(assets=_assets(data={"roles": ["r"] * 21})),
    "non-string role": _feature(assets=_assets(data={"roles": [1]})),
    "long media type": _feature(assets=_assets(data={"type": "x" * 256})),
    "non-string asset title": _feature(assets=_assets(data={"title": 5})),
    "101 assets": _feature(assets={"data": {"href": "s3://b/d"},
                                   **{f"k{i}": {"href": f"s3://b/{i}"} for i in range(100)}}),
    "cloud cover 101": _feature(properties=_props(**{"eo:cloud_cover": 101})),
    "gsd 0": _feature(properties=_props(gsd=0)),
    "bad datetime": _feature(properties=_props(datetime="yesterday")),
    "start after end": _feature(properties=_props(start_datetime="2026-02-01T00:00:00Z",
                                                  end_datetime="2026-01-01T00:00:00Z")),
    "week-date start": _feature(properties=_props(start_datetime="2026-W01-1",
                                                  end_datetime="2026-02-01T00:00:00Z")),
    "lone start not a time": _feature(properties=_props(start_datetime="soon")),
    "end not a string": _feature(properties=_props(start_datetime="2026-01-01T00:00:00Z",
                                                   end_datetime=20260201)),
    "empty title": _feature(properties=_props(title="")),
    "long title": _feature(properties=_props(title="t" * 501)),
    "long description": _feature(properties=_props(description="d" * 10_001)),
    "empty type": _feature(properties=_props(**{"geopera:type": ""})),
    "unknown geometry type": _feature(geometry={"type": "Circle", "coordinates": [0, 0]}),
    "open ring": _feature(geometry={"type": "Polygon", "coordinates": [
        [[0, 0], [1, 0], [1, 1], [0, 1]]]}),
    "latitude 95": _feature(bbox=None, geometry={"type": "Point", "coordinates": [0, 95]}),
    "boolean coordinate": _feature(bbox=None, geometry={"type": "Point", "coordinates": [True, 1]}),
    "three-number bbox": _feature(geometry=None, bbox=[0, 0, 1]),
    "south above north": _feature(geometry=None, bbox=[0, 5, 1, 4]),
    "no geometry, no bbox": _feature(geometry=None, bbox=None),
}


def test_loader_and_items_create_accept_and_reject_the_same_inputs(client, world, db_env,
                                                                   settings):
    """The loader's fast validation is items.create's: same verdict on every input."""
    owner = world["owner"]
    with psycopg.connect(dsn_from_env(db_env), options="-c search_path=pgstac,public") as conn:
        plan = LoadPlan(conn, settings, world.project_a1, None)
        batch = plan.new_batch()
        verdicts = {}
        for n, (name, feature) in enumerate(AGREEMENT_CASES.items(), 1):
            try:
                prepare(plan, n, orjson.dumps(feature), batch)
                ours = "accepted"
            except InvalidRequest as e:
                ours = f"rejected: {e.detail}"
            params = feature_to_params(feature, world.project_a1)
            resp = op(client, "items.create", owner, **params)
            assert resp.status_code in (200, 400), (name, resp.text)
            theirs = "accepted" if resp.status_code == 200 else "rejected"
            assert ours.split(":")[0] == theirs, (name, ours, resp.text)
            verdicts[name] = theirs
            # the fast path never decides differently from the pydantic model, value for value
            fast = fast_check(params)
            if fast is not None:
                assert fast == Checked.of(ItemsCreateParams.model_validate(params)), name
    assert list(verdicts.values()).count("accepted") == 19
    assert validate_module.PRIMARY_KEY == items_module.PRIMARY_KEY
    assert verdicts["typical"] == "accepted" and verdicts["no data asset"] == "rejected"


def test_pgstac_rows_match_pypgstacs_format_item(world, db_env, settings):
    """prepare() formats pgstac rows itself; they equal pypgstac's Loader.format_item's,
    through the shortcut for the platform's base item and through pypgstac's dehydrate."""
    with psycopg.connect(dsn_from_env(db_env), options="-c search_path=pgstac,public") as conn:
        plan = LoadPlan(conn, settings, world.project_a1, None)
        stock = Loader(PgstacDB(connection=conn))
        batch = plan.new_batch()
        assert plan.base(plan.inbox) is None  # the platform's base item: bulk.PLAIN_BASE
        for name in ("typical", "start/end datetime", "no datetime", "nested properties",
                     "offset datetime"):
            text = orjson.dumps(AGREEMENT_CASES[name])
            prepared = prepare(plan, 1, text, batch)
            feature, checked = checked_line(plan, text)
            content = item_content(checked, item_id_of(feature, checked.properties), batch.now)
            expected = stock.format_item(dict(content, collection=plan.inbox, geometry=None))
            _, dt, edt, _geom, doc, private = prepared.pg_tail.rstrip("\n").split("\t")
            assert (dt, edt, doc) == (expected["datetime"], expected["end_datetime"],
                                      expected["content"]), name
            assert private == "\\N" and expected["private"] is None
            assert bulk.stac_row(content, bulk.PLAIN_BASE, None)[2] == doc  # dehydrate's way


def test_pgstac_rows_go_straight_into_partitions_and_keep_extents_stats_and_counts_exact(
        client, world, db, db_env, settings, tmp_path):
    """The loader COPYs pgstac rows into each collection's partition (no parent triggers) and
    notes what those triggers did: partition stats, extents equal to a recompute from the
    stored rows (every geometry type; a start/end text PostgreSQL reads differently from
    Python takes the recompute path), counters equal to a scan; a month-partitioned
    collection gets its rows routed to its month partition."""
    monthly = create_collection(client, world["owner"], world.project_a1, "Monthly")
    db(lambda c: c.execute("UPDATE pgstac.collections SET partition_trunc = 'month'"
                           " WHERE id = $1", monthly["id"]))
    lines = [orjson.loads(x) for x in _gen(tmp_path, 24, 4).read_text().splitlines()]
    shapes = [
        {"type": "Point", "coordinates": [144.123456789123, -37.987654321987]},
        {"type": "LineString", "coordinates": [[150, -30], [150.5, -30.25], [151, -29]]},
        {"type": "MultiPolygon", "coordinates": [[[[140, -39], [141, -39], [141, -38],
                                                   [140, -39]]], [[[152, -28], [153, -28],
                                                                   [153, -27], [152, -28]]]]},
        {"type": "Polygon", "coordinates": [[[146, -36, 5], [147, -36, 5], [147, -35, 5],
                                             [146, -36, 5]]]},
        {"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [143, -40]},
            {"type": "LineString", "coordinates": [[148, -33], [149, -31]]}]},
    ]
    for n, line in enumerate(lines):
        line.pop("bbox")
        line["geometry"] = shapes[n % len(shapes)]
        if n % 4 == 1:
            line["properties"]["start_datetime"] = "2025-03-01T10:00:00+10:00"
            line["properties"]["end_datetime"] = "2025-03-02T00:00:00.5Z"
        if n == 7:  # seven digits: Python truncates, PostgreSQL rounds
            line["properties"]["start_datetime"] = "2024-12-31T23:59:59.9999999Z"
            line["properties"]["end_datetime"] = "2026-12-31T23:59:59.9999995Z"
        if n % 3 == 0:
            # NOTE: one month: the loader covers a month-partitioned collection only within
            # one partition per batch (as before; platform collections are unpartitioned)
            line["collection"] = "Monthly"
            line["properties"]["datetime"] = f"2025-03-{n + 1:02d}T12:00:00Z"
    src = tmp_path / "shapes.ndjson"
    src.write_text("\n".join(orjson.dumps(x).decode() for x in lines) + "\n")
    run = _load(db_env, tmp_path, src, "--project", world.project_a1, "--batch-size", 5)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["loaded"] == 24

    async def check(conn):
        cols = [r["id"] for r in await conn.fetch(
            "SELECT id FROM geopera.collections WHERE project_id = $1", world.project_a1)]
        assert len(cols) == 5
        stored = {r["collection_id"]: tuple(r)[1:] for r in await conn.fetch(
            "SELECT collection_id, extent_bbox, extent_start, extent_end"
            " FROM geopera.collection_extents WHERE collection_id = ANY($1)", cols)}
        async with conn.transaction():
            for cid in cols:
                await conn.execute("SELECT geopera.extent_recompute($1)", cid)
            again = {r["collection_id"]: tuple(r)[1:] for r in await conn.fetch(
                "SELECT collection_id, extent_bbox, extent_start, extent_end"
                " FROM geopera.collection_extents WHERE collection_id = ANY($1)", cols)}
            assert stored == again and len(stored) == 5
            assert all(v[0] is not None for v in stored.values())
            raise _Rollback
    try:
        db(check)
    except _Rollback:
        pass
    # every partition the rows went to is known to pgstac; the monthly one has month ranges
    ids = [str(r["id"]) for r in db(lambda c: c.fetch("SELECT id FROM geopera.collections"))]
    parts = db(lambda c: c.fetch(
        "SELECT s.partition, s.collection, s.partition_dtrange AS r, (SELECT count(*) FROM pgstac.items i WHERE i.collection = s.collection"
        " AND s.partition_dtrange @> i.datetime) AS n FROM pgstac.partition_stats s"
        " WHERE s.collection = ANY($1::text[])", ids))
    monthly_parts = [p for p in parts if p["collection"] == monthly["id"]]
    assert len(monthly_parts) == 1 and monthly_parts[0]["n"] == 8
    assert (monthly_parts[0]["r"].upper - monthly_parts[0]["r"].lower).days == 31  # March
    assert len(parts) == 5 and sum(p["n"] for p in parts) == 24
    assert _count(db, "SELECT count(*) FROM pgstac.items") == 24
    # counters equal a scan
    assert _count(db, "SELECT sum(n) FROM geopera.item_counts WHERE project_id = $1",
                  world.project_a1) == _count(
        db, "SELECT count(*) FROM geopera.items WHERE project_id = $1 AND deleted_at IS NULL",
        world.project_a1) == 24
    got = ok(op(client, "collections.get", world["owner"], project_id=world.project_a1,
                collection_id=monthly["id"]))
    assert got["item_count"] == 8


class _Rollback(Exception):
    pass
