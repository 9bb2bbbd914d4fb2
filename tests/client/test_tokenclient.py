"""The token server client (docs/protocol.md §1): requests, results, every failure.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from beacon._crypto import client_state, key_id
from beacon._errors import (
    AuthenticationError,
    BackoffError,
    ProtocolViolation,
    ServerError,
    TransportError,
    UsageError,
)
from beacon.client._storage import StorageClient
from beacon.client._tokenclient import (
    TOKEN_SAFETY_MARGIN,
    Token,
    TokenAuthenticationError,
    TokenClient,
    node_of,
    normalize_token_server_url,
)
from beacon.client._transport import Transport
from beacon.server import EmbeddedService

NOW = 1_700_000_000.0
ACCESS = "access-token-SECRET"
KB = bytes(range(32))
KID = key_id(KB, 1_600_000_000_000)

BODY = {
    "id": "hawk-id-SECRET",
    "key": "hawk-key-SECRET=",
    "uid": 42,
    "api_endpoint": "https://db1.test/1.5/42",
    "duration": 300,
    "hashed_fxa_uid": "0" * 32,
    "hashalg": "sha256",
    "node_type": "spanner",
}


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> TokenClient:
    transport = Transport(transport=httpx.MockTransport(handler), clock=lambda: NOW)
    return TokenClient(transport, "https://token.test")


def answer(
    status: int, body: Any = BODY, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers or {})

    return handler


OK = answer(200, headers={"X-Timestamp": str(int(NOW))})


def test_request_carries_bearer_and_key_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return OK(request)

    client_for(handler).fetch(ACCESS, key_id=KID, client_state=client_state(KB), duration=60)
    request = seen[0]
    assert request.method == "GET"
    assert str(request.url) == "https://token.test/1.0/sync/1.5?duration=60"
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert request.headers["X-KeyID"] == KID
    assert request.headers["X-Client-State"] == client_state(KB)


def test_client_state_is_optional() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return OK(request)

    client_for(handler).fetch(ACCESS, key_id=KID)
    assert "X-Client-State" not in seen[0].headers
    assert seen[0].url.query == b""


def test_a_success_is_a_token_whose_repr_hides_the_secrets() -> None:
    token = client_for(OK).fetch(ACCESS, key_id=KID)
    assert token == Token(
        id="hawk-id-SECRET",
        key="hawk-key-SECRET=",
        uid=42,
        api_endpoint="https://db1.test/1.5/42",
        duration=300,
        hashed_fxa_uid="0" * 32,
        fetched_at=NOW,
        node_type="spanner",
    )
    assert "SECRET" not in repr(token)
    assert "SECRET" not in str(token)
    assert token.node == "https://db1.test:443"


@pytest.mark.parametrize(
    "reason",
    ["invalid-generation", "invalid-client-state", "invalid-keysChangedAt", "invalid-credentials"],
)
def test_401_carries_the_status_string(reason: str) -> None:
    body = {"status": reason, "errors": [{"location": "body", "name": "", "description": "x"}]}
    with pytest.raises(TokenAuthenticationError) as info:
        client_for(answer(401, body)).fetch(ACCESS, key_id=KID)
    assert isinstance(info.value, AuthenticationError)
    assert info.value.reason == reason
    assert info.value.status == 401
    assert reason in str(info.value)
    assert ACCESS not in str(info.value)


def test_401_without_a_json_body_still_fails_as_authentication() -> None:
    with pytest.raises(TokenAuthenticationError) as info:
        client_for(answer(401, b"<html>nope</html>")).fetch(ACCESS, key_id=KID)
    assert info.value.reason == "error"


@pytest.mark.parametrize("status", [503, 429])
def test_503_and_429_are_backoff_until_retry_after(status: int) -> None:
    with pytest.raises(BackoffError) as info:
        client_for(answer(status, {"status": "error"}, {"Retry-After": "30"})).fetch(
            ACCESS, key_id=KID
        )
    assert info.value.until == NOW + 30
    assert info.value.retry_after == 30
    assert info.value.status == status


def test_503_without_retry_after_backs_off_ten_seconds() -> None:
    with pytest.raises(BackoffError) as info:
        client_for(answer(503, {"status": "error"})).fetch(ACCESS, key_id=KID)
    assert info.value.until == NOW + 10


@pytest.mark.parametrize("status", [400, 403, 404, 500, 504])
def test_other_statuses_are_server_errors(status: int) -> None:
    with pytest.raises(ServerError) as info:
        client_for(answer(status, {"status": "new-users-disabled"})).fetch(ACCESS, key_id=KID)
    assert type(info.value) is ServerError
    assert info.value.status == status


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        {**BODY, "uid": "42"},
        {k: v for k, v in BODY.items() if k != "hashed_fxa_uid"},
        {**BODY, "duration": 0},
        {**BODY, "api_endpoint": "ftp://db1.test/1.5/42"},
        {**BODY, "api_endpoint": "not a url"},
        [BODY],
    ],
)
def test_malformed_successes_are_protocol_violations(body: Any) -> None:
    handler = answer(200, body, {"X-Timestamp": "1"})
    with pytest.raises(ProtocolViolation) as info:
        client_for(handler).fetch(ACCESS, key_id=KID)
    assert "SECRET" not in str(info.value)


def test_a_success_without_x_timestamp_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation, match="X-Timestamp"):
        client_for(answer(200)).fetch(ACCESS, key_id=KID)


def test_transport_failures_pass_through_as_beacon_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(TransportError):
        client_for(handler).fetch(ACCESS, key_id=KID)


def test_an_empty_access_token_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        client_for(OK).fetch("", key_id=KID)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://token.test", "https://token.test/1.0/sync/1.5"),
        ("https://token.test/", "https://token.test/1.0/sync/1.5"),
        ("https://token.test/1.0/sync/1.5", "https://token.test/1.0/sync/1.5"),
        ("https://token.test/1.0/sync/1.5/", "https://token.test/1.0/sync/1.5"),
        ("http://h:8080/token", "http://h:8080/token/1.0/sync/1.5"),
    ],
)
def test_token_server_urls_are_normalised(given: str, expected: str) -> None:
    assert normalize_token_server_url(given) == expected


@pytest.mark.parametrize("bad", ["token.test", "ftp://token.test", ""])
def test_bad_token_server_urls_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        normalize_token_server_url(bad)


def test_validity_keeps_a_safety_margin() -> None:
    token = Token("i", "k", 1, "https://n.test/1.5/1", 3600, "h", fetched_at=NOW)
    assert token.expires_at() == NOW + 3600 - TOKEN_SAFETY_MARGIN
    assert token.is_valid(NOW)
    assert token.is_valid(NOW + 3600 - TOKEN_SAFETY_MARGIN - 1)
    assert not token.is_valid(NOW + 3600 - TOKEN_SAFETY_MARGIN)
    assert token.is_valid(NOW + 3599, margin=0)
    short = Token("i", "k", 1, "https://n.test/1.5/1", 10, "h", fetched_at=NOW)
    assert short.expires_at() == NOW + 5  # the margin never eats more than half


def test_node_of() -> None:
    assert node_of("https://db1.test/1.5/42") == "https://db1.test:443"
    assert node_of("http://beacon.test/node/1/1.5/7") == "http://beacon.test:80"
    assert node_of("http://h:8000/1.5/7") == "http://h:8000"


# -- against the embedded service ---------------------------------------------------------------


@pytest.fixture
def service() -> Iterator[EmbeddedService]:
    with EmbeddedService(clock=lambda: NOW) as svc:
        yield svc


def test_fetch_from_the_embedded_token_server(service: EmbeddedService) -> None:
    account = service.create_account()
    with Transport(transport=service.transport(), clock=lambda: NOW) as http:
        client = TokenClient(http, service.token_server_url)
        kid = key_id(KB, account.keys_changed_at)
        first = client.fetch(account.access_token, key_id=kid, client_state=client_state(KB))
        second = client.fetch(account.access_token, key_id=kid)
        assert http.request_count == 2
    assert first.uid == second.uid
    assert first.api_endpoint == second.api_endpoint
    assert first.api_endpoint.endswith(f"/1.5/{first.uid}")
    assert first.fetched_at == NOW


def test_embedded_token_server_refusals(service: EmbeddedService) -> None:
    account = service.create_account()
    with Transport(transport=service.transport(), clock=lambda: NOW) as http:
        client = TokenClient(http, service.token_server_url)
        client.fetch(account.access_token, key_id=key_id(KB, account.keys_changed_at))
        # Another kB with the same keys_changed_at: the server refuses the client state (§1.4).
        other = bytes(32)
        with pytest.raises(TokenAuthenticationError) as info:
            client.fetch(account.access_token, key_id=key_id(other, account.keys_changed_at))
        assert info.value.reason == "invalid-client-state"
        with pytest.raises(TokenAuthenticationError):
            client.fetch("not-a-token", key_id=key_id(KB, account.keys_changed_at))
        service.faults.fail_next(status=503, retry_after=25)
        with pytest.raises(BackoffError) as backoff:
            client.fetch(account.access_token, key_id=key_id(KB, account.keys_changed_at))
        assert backoff.value.until == NOW + 25


def test_the_server_clock_offset_is_kept_for_hawk() -> None:
    ahead = answer(200, headers={"X-Timestamp": str(int(NOW) + 300)})
    assert client_for(ahead).fetch(ACCESS, key_id=KID).server_offset == 300
    close = answer(200, headers={"X-Timestamp": str(int(NOW) + 1)})
    assert client_for(close).fetch(ACCESS, key_id=KID).server_offset == 0
    with pytest.raises(ProtocolViolation, match="X-Timestamp"):
        client_for(answer(200, headers={"X-Timestamp": "later"})).fetch(ACCESS, key_id=KID)


def test_a_skewed_local_clock_still_signs_valid_storage_requests() -> None:
    server_now = NOW + 3600  # the client's clock is an hour behind the service's
    with EmbeddedService(clock=lambda: server_now) as service:
        account = service.create_account()
        with Transport(transport=service.transport(), clock=lambda: NOW) as http:
            token = TokenClient(http, service.token_server_url).fetch(
                account.access_token, key_id=key_id(KB, account.keys_changed_at)
            )
            assert token.server_offset == 3600
            result = StorageClient(http, token).info_collections()
    assert result is not None
