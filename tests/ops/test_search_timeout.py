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


def test_searches_cut_at_every_point_of_their_budget_all_answer_narrow_it_down(
        settings, db_env, clock, world):
    """Budgets of 1-4 ms end searches at different steps (prepare, plan, run) on reused pool
    connections: each answer is this 503 (or the result), never "database unavailable" from a
    connection a cancellation left broken (search/engine.py _Budget: no statement_timeout
    while asyncpg prepares)."""
    owner = world["owner"]
    answers: dict[str, int] = {}
    for budget in (1, 2, 4):
        app = create_app(settings.model_copy(update={"search_timeout_ms": budget}),
                         pg_env=db_env, clock=clock)
        with TestClient(app) as c:
            if budget == 1:
                for i in range(3):
                    col = create_collection(c, owner, world.project_a1, name=f"Survey {i}")
                    create_item(c, owner, world.project_a1, name=f"Scene {i}",
                                collection_id=col["id"])
            for n in range(1, 16):
                # NOTE: a new statement text each time, so asyncpg prepares it (Parse/Describe).
                text = " OR ".join(f"cloud_cover < {k}" for k in range(n))
                r = op(c, "items.search", owner, project_id=world.project_a1, filter=text,
                       **{"filter-lang": "cql2-text"})
                key = f"{r.status_code} {r.json().get('detail', '')}"
                answers[key] = answers.get(key, 0) + 1
    # a fast answer within the budget is fine too; anything else is the defect
    assert set(answers) <= {"200 ", "503 the query took too long and was cancelled; "
                                    "narrow it down"}, answers
