"""Unit tests for the geopera client against an in-process mock transport."""

# httpx.MockTransport stands in for the server only in these unit tests; the integration
# tests elsewhere exercise the client against a real running server.

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

import geopera
from geopera import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    Conflict,
    Geopera,
    GeoperaError,
    Gone,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEOPERA_API_KEY", raising=False)
    monkeypatch.delenv("GEOPERA_BASE_URL", raising=False)


def make_client(handler: Handler, **kwargs: object) -> tuple[Geopera, list[float]]:
    kwargs.setdefault("api_key", "sk_test_123")
    client = Geopera(transport=httpx.MockTransport(handler), **kwargs)  # type: ignore[arg-type]
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def problem_response(status: int, code: str, detail: str, **extra: object) -> httpx.Response:
    body = {
        "type": f"https://api.geopera.com/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": "req_abc123",
        **extra,
    }
    return httpx.Response(
        status, content=json.dumps(body), headers={"Content-Type": "application/problem+json"}
    )


def test_version_exported() -> None:
    assert geopera.__version__ == "0.1.0"
    assert set(geopera.__all__) >= {"Geopera", "GeoperaError", "RateLimited", "__version__"}


def test_op_sends_body_and_headers_with_explicit_null() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client, _ = make_client(handler)
    result = client.op("items.update", item_id="c71d", cloud_cover=None, tags=["a", "b"])

    assert result == {"ok": True}
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.geopera.com/v1/op/items.update"
    assert request.headers["Authorization"] == "Bearer sk_test_123"
    assert request.headers["User-Agent"] == "geopera-python/0.1.0"
    assert request.headers["Content-Type"] == "application/json"
    # Raw text check: None must be serialized as null (not dropped) and key order kept.
    assert list(json.loads(request.content)) == ["item_id", "cloud_cover", "tags"]
    assert json.loads(request.content) == {
        "item_id": "c71d",
        "cloud_cover": None,
        "tags": ["a", "b"],
    }
    assert b'"cloud_cover":null' in request.content.replace(b" ", b"")


def test_op_with_no_params_sends_empty_object() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200, json=[])

    client, _ = make_client(handler)
    assert client.op("collections.list") == []
    assert json.loads(bodies[0]) == {}


def test_operation_id_is_path_escaped() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json={})

    client, _ = make_client(handler)
    client.op("../admin")
    assert paths == ["/v1/op/..%2Fadmin"]


def test_list_result_returned_as_list() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json=[{"id": "a"}, {"id": "b"}]))
    assert client.op("items.list") == [{"id": "a"}, {"id": "b"}]


def test_geojson_dict_result() -> None:
    feature = {"type": "Feature", "id": "c71d", "geometry": None, "properties": {}}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=json.dumps(feature), headers={"Content-Type": "application/geo+json"}
        )

    client, _ = make_client(handler)
    assert client.op("items.get", item_id="c71d") == feature


def test_base_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOPERA_BASE_URL", "http://localhost:8080/")
    monkeypatch.setenv("GEOPERA_API_KEY", "sk_env")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = Geopera(transport=httpx.MockTransport(handler))
    client.op("ping")
    assert client.base_url == "http://localhost:8080"
    assert str(seen[0].url) == "http://localhost:8080/v1/op/ping"
    assert seen[0].headers["Authorization"] == "Bearer sk_env"


def test_explicit_base_url_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOPERA_BASE_URL", "http://env.invalid")
    client = Geopera("k", "https://explicit.example")
    assert client.base_url == "https://explicit.example"
    client.close()


def test_default_base_url() -> None:
    with Geopera("k") as client:
        assert client.base_url == "https://api.geopera.com"


def test_missing_api_key_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="GEOPERA_API_KEY") as info:
        Geopera()
    assert isinstance(info.value, GeoperaError)


def test_empty_api_key_is_treated_as_missing() -> None:
    with pytest.raises(ConfigurationError):
        Geopera(api_key="")


def test_api_key_not_in_repr() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={}), api_key="sk_secret")
    assert "sk_secret" not in repr(client)


def test_context_manager_closes_http_client() -> None:
    with Geopera("k", transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        assert client.op("ping") is None  # empty 2xx body
    assert client._http.is_closed


@pytest.mark.parametrize(
    ("status", "code", "exc_type"),
    [
        (400, "invalid_request", InvalidRequest),
        (401, "unauthenticated", AuthenticationError),
        (402, "payment_required", PaymentRequired),
        (403, "forbidden", PermissionDenied),
        (404, "not_found", NotFound),
        (409, "conflict", Conflict),
        (410, "gone", Gone),
        (413, "payload_too_large", PayloadTooLarge),
        (418, "teapot", APIError),
        (422, "unprocessable", APIError),
        (500, "internal", ServerError),
        (503, "unavailable", ServerError),
    ],
)
def test_status_maps_to_exception(status: int, code: str, exc_type: type[APIError]) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return problem_response(status, code, "Item c71d not found", extra_field=7)

    client, sleeps = make_client(handler)
    with pytest.raises(exc_type) as info:
        client.op("items.get", item_id="c71d")

    exc = info.value
    assert type(exc) is exc_type
    assert isinstance(exc, APIError) and isinstance(exc, GeoperaError)
    assert exc.status == status
    assert exc.code == code
    assert exc.detail == "Item c71d not found"
    assert exc.title == code.replace("_", " ").capitalize()
    assert exc.request_id == "req_abc123"
    assert exc.problem["extra_field"] == 7
    assert exc.headers["content-type"] == "application/problem+json"
    assert str(exc) == f"{status} {code}: Item c71d not found (request_id=req_abc123)"
    # Errors other than 429 (including 5xx) are never retried.
    assert calls == [1]
    assert sleeps == []


def test_request_id_falls_back_to_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404, json={"code": "not_found", "detail": "nope"}, headers={"X-Request-ID": "hdr_1"}
        )

    client, _ = make_client(handler)
    with pytest.raises(NotFound) as info:
        client.op("items.get")
    assert info.value.request_id == "hdr_1"
    assert str(info.value) == "404 not_found: nope (request_id=hdr_1)"


def test_non_json_error_body_builds_minimal_problem() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, text="<html>Bad gateway</html>", headers={"Content-Type": "text/html"}
        )

    client, _ = make_client(handler)
    with pytest.raises(ServerError) as info:
        client.op("items.get")

    exc = info.value
    assert exc.status == 502
    assert exc.code is None
    assert exc.title == "Bad Gateway"
    assert exc.detail == "<html>Bad gateway</html>"
    assert exc.problem == {
        "type": "about:blank",
        "title": "Bad Gateway",
        "status": 502,
        "detail": "<html>Bad gateway</html>",
    }
    assert str(exc) == "502 Bad Gateway: <html>Bad gateway</html>"


def test_json_non_object_error_body_builds_minimal_problem() -> None:
    client, _ = make_client(lambda r: httpx.Response(400, json=["bad"]))
    with pytest.raises(InvalidRequest) as info:
        client.op("x")
    assert info.value.problem["status"] == 400
    assert info.value.detail == '["bad"]'


def test_invalid_json_success_body_raises_geopera_error() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, text="not json"))
    with pytest.raises(GeoperaError, match="not valid JSON") as info:
        client.op("x")
    assert info.value.status == 200


def test_network_failure_raises_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, _ = make_client(handler)
    with pytest.raises(TransportError, match="connection refused") as info:
        client.op("ping")
    assert isinstance(info.value, GeoperaError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_timeout_raises_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = make_client(handler)
    with pytest.raises(TransportError):
        client.op("ping")


def sequence(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


def rate_limited(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    resp = problem_response(429, "rate_limited", "Slow down")
    return httpx.Response(429, content=resp.content, headers={**resp.headers, **headers})


def test_429_then_200_honours_retry_after() -> None:
    handler, seen = sequence(
        rate_limited("2"), rate_limited("0.25"), httpx.Response(200, json={"id": "x"})
    )
    client, sleeps = make_client(handler)

    assert client.op("items.create", name="x") == {"id": "x"}
    assert sleeps == [2.0, 0.25]
    assert len(seen) == 3
    # Retries resend the identical request body.
    assert {r.content for r in seen} == {seen[0].content}


def test_429_retry_after_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    handler, _ = sequence(
        rate_limited(format_datetime(when, usegmt=True)), httpx.Response(200, json={})
    )
    client, sleeps = make_client(handler)
    client.op("x")
    (slept,) = sleeps
    assert 25 <= slept <= 30


def test_429_retry_after_date_in_past_waits_zero() -> None:
    handler, _ = sequence(
        rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"), httpx.Response(200, json={})
    )
    client, sleeps = make_client(handler)
    client.op("x")
    assert sleeps == [0.0]


def test_429_without_retry_after_uses_exponential_backoff() -> None:
    handler, seen = sequence(*(rate_limited() for _ in range(4)))
    client, sleeps = make_client(handler)
    with pytest.raises(RateLimited) as info:
        client.op("x")
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(seen) == 4
    assert info.value.retry_after is None


def test_429_garbage_retry_after_falls_back_to_backoff() -> None:
    handler, _ = sequence(rate_limited("soon"), httpx.Response(200, json={}))
    client, sleeps = make_client(handler)
    client.op("x")
    assert sleeps == [0.5]


def test_retries_bounded_then_rate_limited_raised() -> None:
    handler, seen = sequence(*(rate_limited("1") for _ in range(3)))
    client, sleeps = make_client(handler, max_retries=2)

    with pytest.raises(RateLimited) as info:
        client.op("x")

    assert len(seen) == 3  # 1 attempt + 2 retries
    assert sleeps == [1.0, 1.0]
    exc = info.value
    assert exc.retry_after == 1.0
    assert exc.status == 429
    assert exc.code == "rate_limited"
    assert str(exc) == "429 rate_limited: Slow down (request_id=req_abc123)"


def test_max_retries_zero_does_not_retry() -> None:
    handler, seen = sequence(rate_limited("1"))
    client, sleeps = make_client(handler, max_retries=0)
    with pytest.raises(RateLimited):
        client.op("x")
    assert len(seen) == 1
    assert sleeps == []


def test_retry_after_is_capped() -> None:
    handler, _ = sequence(rate_limited("3600"), rate_limited("90"), httpx.Response(200, json={}))
    client, sleeps = make_client(handler)
    client.op("x")
    assert sleeps == [60.0, 60.0]


def test_retry_after_cap_is_configurable() -> None:
    handler, _ = sequence(rate_limited("3600"), httpx.Response(200, json={}))
    client, sleeps = make_client(handler, max_retry_wait=5.0)
    client.op("x")
    assert sleeps == [5.0]


def test_negative_max_retries_rejected() -> None:
    with pytest.raises(ConfigurationError, match="max_retries"):
        Geopera("k", max_retries=-1)
