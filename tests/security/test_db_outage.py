"""A database that stops under in-flight requests makes them 503 problems, not 500s."""

from __future__ import annotations

import threading
import time

import httpx
import psycopg

from conftest import create_collection, create_item, problem, serving
from geopera_stac_ext.app import create_app
from geopera_stac_ext.core.settings import dsn_from_env


def test_requests_in_flight_when_the_database_stops_get_503(settings, db_env, world, client):
    owner = world["owner"]
    col = create_collection(client, owner, world.project_a1)
    item = create_item(client, owner, world.project_a1, collection_id=col["id"])
    responses: list[httpx.Response] = []
    with serving(create_app(settings, pg_env=db_env)) as url, \
            psycopg.connect(dsn_from_env(db_env)) as holder:
        # NOTE: the locks keep these requests inside the database when it goes away.
        holder.execute("LOCK TABLE geopera.viz_profiles, geopera.assets IN ACCESS EXCLUSIVE MODE")
        calls = [
            lambda: httpx.post(f"{url}/v1/op/items.get", json={"item_id": item["id"]},
                               headers=owner.headers, timeout=60),
            lambda: httpx.get(f"{url}/collections/{col['id']}/items/{item['id']}",
                              headers=owner.headers, timeout=60),
            lambda: httpx.post(f"{url}/search", json={}, headers=owner.headers, timeout=60),
        ]
        threads = [threading.Thread(target=lambda f=f: responses.append(f())) for f in calls]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and holder.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] < 3:
            time.sleep(0.05)
        # NOTE: what `pg_ctl stop -m fast` does to every session: terminate it (57P01).
        holder.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        holder.rollback()
        for t in threads:
            t.join(30)
        assert len(responses) == 3
        for r in responses:
            body = problem(r, 503)
            assert "database" in body["detail"] and r.headers["retry-after"]
        # the service recovers once the database is back (here: it never left)
        deadline = time.monotonic() + 10
        while True:
            r = httpx.post(f"{url}/v1/op/items.get", json={"item_id": item["id"]},
                           headers=owner.headers, timeout=30)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            problem(r, 503)
            time.sleep(0.2)
        assert r.status_code == 200, r.text
