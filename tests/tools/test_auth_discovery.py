"""Clients can discover how to authenticate: /api's bearer scheme, STAC `auth:schemes`."""

from __future__ import annotations

from conftest import create_collection, ok

SCHEME = {"type": "http", "scheme": "bearer"}


def test_openapi_declares_bearer_scheme_on_every_protected_route(client):
    doc = ok(client.get("/api"))
    schemes = doc["components"]["securitySchemes"]
    assert schemes["geopera_key"]["type"] == "http"
    assert schemes["geopera_key"]["scheme"] == "bearer"
    open_routes = {("/api", "get"), ("/api.html", "get"), ("/v1/op", "get")}
    protected = 0
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if (path, method) in open_routes or path.startswith("/_mgmt/"):
                assert "security" not in operation, (path, method)
                continue
            assert operation.get("security") == [{"geopera_key": []}], (path, method)
            protected += 1
    assert {"/search", "/collections", "/v1/op/items.get", "/v1/assets/{asset_id}/{filename}"
            } <= set(doc["paths"])
    assert protected >= 30


def test_swagger_ui_is_served_for_the_document(client):
    r = client.get("/api.html")
    assert r.status_code == 200 and "/api" in r.text and "swagger" in r.text.lower()


def test_landing_page_and_collections_carry_auth_schemes(client, world):
    h = world["viewer"].headers
    landing = ok(client.get("/", headers=h))
    assert landing["auth:schemes"]["geopera_key"].items() >= SCHEME.items()
    col = create_collection(client, world["editor"], world.project_a1)
    listed = ok(client.get("/collections", headers=h))["collections"][0]
    single = ok(client.get(f"/collections/{col['id']}", headers=h))
    for doc in (listed, single):
        assert doc["auth:schemes"]["geopera_key"].items() >= SCHEME.items()
