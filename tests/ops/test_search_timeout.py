"""A search that outlives GEOPERA_SEARCH_TIMEOUT_MS is cancelled and answered 503, not 500."""

from fastapi.testclient import TestClient

from conftest import create_collection, create_item, ok, op, problem
from geopera_stac_ext.app import create_app


def test_search_over_its_time_budget_is_503_and_the_pool_recovers(settings, db_env, clock,
                                                                 world):
    owner = world["owner"]
    # NOTE: 1 ms cannot cover planning pgstac's partitions (measured 17-36 ms, docs/search.md),
    # so the statement is reliably cancelled by PostgreSQL itself.
    slow = create_app(settings.model_copy(update={"search_timeout_ms": 1}), pg_env=db_env,
                      clock=clock)
    with TestClient(slow) as c:
        # NOTE: one pgstac partition per collection: more partitions to plan, more margin.
        for i in range(3):
            col = create_collection(c, owner, world.project_a1, name=f"Survey {i}")
            create_item(c, owner, world.project_a1, name=f"Scene {i}", collection_id=col["id"])
        body = problem(op(c, "items.search", owner, project_id=world.project_a1,
                          filter="cloud_cover < 50", **{"filter-lang": "cql2-text"}), 503)
        assert "narrow it down" in body["detail"]
        assert "statement" not in body["detail"].lower()  # no SQL or driver text leaks
        stac = c.get("/search", params={"filter": "eo:cloud_cover < 50"},
                     headers=owner.headers)
        assert stac.status_code == 503
    # The same database, a normal budget: the search answers (connections were not left
    # with the 1 ms timeout or broken settings).
    normal = create_app(settings, pg_env=db_env, clock=clock)
    with TestClient(normal) as c:
        fc = ok(op(c, "items.search", owner, project_id=world.project_a1,
                   filter="cloud_cover < 50", **{"filter-lang": "cql2-text"}))
        assert fc["numberMatched"] == 3
