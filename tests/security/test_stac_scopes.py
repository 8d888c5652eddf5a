"""Every STAC route needs items:read (README), the landing page and /queryables included."""

from __future__ import annotations

import pytest

from conftest import make_actor, ok, problem

PATHS = ["/", "/conformance", "/queryables", "/collections", "/search"]


@pytest.fixture
def no_items_read(world, db):
    return db(lambda conn: make_actor(conn, "cols@a.example", [("project", world.project_a1,
                                                                 "owner")],
                                      scopes="collections:read,collections:write"))


@pytest.mark.parametrize("path", PATHS)
def test_stac_route_without_items_read_is_403(client, no_items_read, path):
    body = problem(client.get(path, headers=no_items_read.headers), 403)
    assert "items:read" in body["detail"]


@pytest.mark.parametrize("path", PATHS)
def test_stac_route_with_items_read_is_200(client, world, path):
    ok(client.get(path, headers=world["viewer"].headers))
