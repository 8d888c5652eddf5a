"""schemathesis against /api of a live server on a real database: no 5xx, no response that
violates the documented schema (bounded: a few examples per operation)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from conftest import TEMPLATE, TEST_SIGNING_SECRET, make_actor, serving
from geopera_stac_ext.admin import tenancy
from geopera_stac_ext.app import create_app
from geopera_stac_ext.cli import run_db
from geopera_stac_ext.core.settings import Settings

EXAMPLES = 8  # per operation; about 50 operations


@pytest.fixture(scope="module")
def fuzz_server(pg_cluster, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One server for the whole module, on its own database, with an owner's key."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        for _ in range(50):
            try:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
                break
            except psycopg.errors.ObjectInUse:  # NOTE: as conftest.db_env: a closing session
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (TEMPLATE,))
                time.sleep(0.1)
    env = pg_cluster.env(name)

    async def seed(conn: Any) -> dict[str, Any]:
        org = (await tenancy.create_org(conn, "Fuzz", "free"))["id"]
        project = (await tenancy.create_project(conn, "Fuzz", org))["id"]
        owner = await make_actor(conn, "fuzz@example.com", [("org", org, "owner")])
        return {"project": project, "headers": owner.headers}

    seeded = run_db(env, seed)
    home = tmp_path_factory.mktemp("fuzz")
    (home / "storage").mkdir()
    app_settings = Settings(home=home, storage_dir=home / "storage",
                            signing_secret=TEST_SIGNING_SECRET)
    with serving(create_app(app_settings, pg_env=env)) as url:
        yield {"url": url, **seeded}
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_api_never_5xx_and_matches_its_schema(fuzz_server):
    # NOTE: driven through schemathesis' Python API (operation strategies + hypothesis)
    # rather than its pytest plugin, whose lazy fixture loading breaks on pytest 9.
    schema = schemathesis.openapi.from_url(f"{fuzz_server['url']}/api")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            # NOTE: the caller is a real owner, so generated bodies reach the ops'
            # validation and handlers, not only the 401 of the key check.
            response = case.call(base_url=fuzz_server["url"], headers=fuzz_server["headers"],
                                 timeout=60)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error,
                                                         response_schema_conformance])
            except Exception as e:  # noqa: BLE001  (schemathesis raises FailureGroup)
                failures.append(f"{case.operation.label}: {str(e)[:600]}")

        run()
    assert operations >= 30  # op routes + STAC routes
    assert statuses[200] > 0 and statuses[400] > 0, statuses  # the cases reached the service
    assert not failures, "\n\n".join(failures[:10])
