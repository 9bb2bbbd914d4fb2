"""The client transport: counting, error mapping, bounded bodies and backoff parsing."""

from __future__ import annotations

import dataclasses
import email.utils

import httpx
import pytest

from beacon._errors import ProtocolViolation, TransportError, TransportTimeout, UsageError
from beacon._hawk import HawkAuth
from beacon.client._transport import (
    DEFAULT_RETRY_AFTER,
    MAX_BACKOFF,
    Response,
    Transport,
    backoff_until,
)

NOW = 1_700_000_000.0


def clock() -> float:
    return NOW


def make(handler: httpx.MockTransport | None = None, **kwargs: object) -> Transport:
    return Transport(
        transport=handler or httpx.MockTransport(lambda r: httpx.Response(200, json={})),
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


def test_counts_every_request_including_failed_ones() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(204)

    with make(httpx.MockTransport(handler)) as http:
        assert http.request_count == 0
        http.request("GET", "http://node.test/a")
        http.request("POST", "http://node.test/b", content=b"[]")
        with pytest.raises(TransportError):
            http.request("GET", "http://node.test/down")
        assert http.request_count == 3
        assert repr(http) == "Transport(requests=3)"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), TransportError),
        (httpx.ReadError("reset"), TransportError),
        (httpx.RemoteProtocolError("garbage"), TransportError),
        (httpx.ConnectTimeout("slow"), TransportTimeout),
        (httpx.ReadTimeout("slow"), TransportTimeout),
        (httpx.PoolTimeout("slow"), TransportTimeout),
    ],
)
def test_httpx_failures_become_beacon_errors(
    exc: httpx.TransportError, expected: type[TransportError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with make(httpx.MockTransport(handler)) as http, pytest.raises(TransportError) as info:
        http.request("GET", "http://node.test/x?y=1")
    assert type(info.value) is expected
    assert info.value.url == "http://node.test/x?y=1"
    assert not isinstance(info.value, httpx.HTTPError)


def test_response_is_a_frozen_value_with_lowercase_headers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers={"X-Weave-Timestamp": "12.50"}, content=b'{"a": 1}')

    with make(httpx.MockTransport(handler)) as http:
        response = http.request("PUT", "http://node.test/r", params={"q": "a b"})
    assert response.status == 201
    assert response.ok
    assert response.method == "PUT"
    assert response.url == "http://node.test/r?q=a+b"
    assert response.header("x-weave-timestamp") == "12.50"
    assert response.header("X-WEAVE-TIMESTAMP") == "12.50"
    assert response.json() == {"a": 1}
    assert response.received_at == NOW
    assert response.backoff_until is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        response.status = 500  # type: ignore[misc]
    with pytest.raises(TypeError):
        response.headers["x"] = "y"  # type: ignore[index]


def test_bad_json_is_a_protocol_violation() -> None:
    response = Response("GET", "http://n/x", 200, {}, b"{not json")
    with pytest.raises(ProtocolViolation):
        response.json()
    assert response.json_or_none() is None
    assert Response("GET", "http://n/x", 200, {}, b"\xff\xfe").json_or_none() is None


def test_a_body_over_the_bound_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 2048)

    small = make(httpx.MockTransport(handler), max_response_bytes=1024)
    with small as http, pytest.raises(ProtocolViolation, match="exceeds 1024 bytes"):
        http.request("GET", "http://node.test/big")
    with make(httpx.MockTransport(handler), max_response_bytes=2048) as http:
        assert len(http.request("GET", "http://node.test/big").content) == 2048


@pytest.mark.parametrize("url", ["ftp://node.test/x", "not a url", "http://"])
def test_unusable_urls_are_usage_errors(url: str) -> None:
    with make() as http, pytest.raises(UsageError):
        http.request("GET", url)
    assert http.request_count == 0


def test_auth_signs_the_request_and_no_header_value_leaks() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, content=b"[]")

    with make(httpx.MockTransport(handler)) as http:
        response = http.request(
            "GET", "http://node.test/1.5/1/storage/tabs", auth=HawkAuth("the-id", "the-key")
        )
    assert seen[0].startswith('Hawk id="the-id"')
    assert "the-key" not in seen[0]
    assert "the-id" not in repr(response)
    assert "Hawk" not in repr(response)


def test_default_headers() -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200)

    with make(httpx.MockTransport(handler)) as http:
        http.request("GET", "http://node.test/")
    assert seen[0]["accept"] == "application/json"
    assert seen[0]["user-agent"].startswith("beacon/")


# -- backoff parsing (docs/protocol.md §3.9, §1.6) ------------------------------------------------


@pytest.mark.parametrize("name", ["X-Weave-Backoff", "X-Backoff", "Backoff"])
def test_backoff_headers_count_on_a_success(name: str) -> None:
    assert backoff_until(200, {name.lower(): "120"}, now=NOW) == NOW + 120


def test_retry_after_counts_with_503_429_409_only() -> None:
    assert backoff_until(503, {"retry-after": "30"}, now=NOW) == NOW + 30
    assert backoff_until(429, {"retry-after": "30"}, now=NOW) == NOW + 30
    assert backoff_until(409, {"retry-after": "30"}, now=NOW) == NOW + 30
    assert backoff_until(200, {"retry-after": "30"}, now=NOW) is None
    assert backoff_until(500, {"retry-after": "30"}, now=NOW) is None


def test_503_without_a_usable_retry_after_waits_the_default() -> None:
    assert backoff_until(503, {}, now=NOW) == NOW + DEFAULT_RETRY_AFTER
    assert backoff_until(429, {"retry-after": "soon"}, now=NOW) == NOW + DEFAULT_RETRY_AFTER
    assert backoff_until(409, {}, now=NOW) is None


def test_retry_after_as_an_http_date() -> None:
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert backoff_until(503, {"retry-after": date}, now=NOW) == NOW + 90
    past = email.utils.formatdate(NOW - 90, usegmt=True)
    assert backoff_until(503, {"retry-after": past}, now=NOW) == NOW


def test_the_longest_wait_wins_and_fractions_round_up() -> None:
    headers = {"x-weave-backoff": "10.2", "retry-after": "5"}
    assert backoff_until(503, headers, now=NOW) == NOW + 11


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "", "ten", "1e400"])
def test_bad_backoff_values_are_ignored(value: str) -> None:
    assert backoff_until(200, {"x-weave-backoff": value}, now=NOW) is None


def test_backoff_is_capped() -> None:
    assert backoff_until(200, {"backoff": str(10**9)}, now=NOW) == NOW + MAX_BACKOFF
    assert backoff_until(200, {"backoff": "500"}, now=NOW, max_backoff=60) == NOW + 60


def test_transport_attaches_backoff_to_the_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "42"})

    with make(httpx.MockTransport(handler), max_backoff=30) as http:
        response = http.request("GET", "http://node.test/")
    assert response.status == 503
    assert response.backoff_until == NOW + 30
