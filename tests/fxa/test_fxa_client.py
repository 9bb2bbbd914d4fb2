"""FxAClient against scripted answers: every errno a sign-in meets becomes one typed error."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from beacon import ProtocolViolation, TransportError, TrustError
from beacon.client._transport import Transport
from beacon.fxa import (
    ChallengeRequired,
    FxABackoffError,
    FxAClient,
    FxAError,
    IncorrectEmailCase,
    IncorrectPassword,
    InvalidCode,
    InvalidFxAToken,
    RequestBlocked,
    UnknownAccount,
    UnverifiedSession,
)

TOKEN = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"


def _client(
    handler: Callable[[httpx.Request], httpx.Response], url: str = "https://fxa.test"
) -> FxAClient:
    http = Transport(transport=httpx.MockTransport(handler), clock=lambda: 1000.0)
    return FxAClient(http, url)


def _error(status: int, errno: int, **extra: object) -> Callable[[httpx.Request], httpx.Response]:
    body = {"code": status, "errno": errno, "error": "x", "message": "refused", **extra}
    return lambda request: httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("status", "errno", "extra", "kind"),
    [
        (400, 102, {"email": "a@b.c"}, UnknownAccount),
        (400, 103, {}, IncorrectPassword),
        (400, 104, {}, UnverifiedSession),
        (400, 138, {}, UnverifiedSession),
        (401, 110, {}, InvalidFxAToken),
        (400, 120, {"email": "A@b.c"}, IncorrectEmailCase),
        (400, 125, {"verificationMethod": "email-captcha"}, RequestBlocked),
        (400, 127, {}, InvalidCode),
        (400, 183, {}, InvalidCode),
        (400, 151, {}, FxAError),
    ],
)
def test_each_errno_is_its_error(
    status: int, errno: int, extra: dict[str, object], kind: type
) -> None:
    with pytest.raises(kind) as caught:
        _client(_error(status, errno, **extra)).login("a@b.c", "0" * 64)
    assert getattr(caught.value, "errno", None) == errno


def test_errno_120_carries_the_stored_email() -> None:
    with pytest.raises(IncorrectEmailCase) as caught:
        _client(_error(400, 120, email="Alice@Example.com")).login("alice@example.com", "0" * 64)
    assert caught.value.email == "Alice@Example.com"


def test_429_is_a_backoff_until_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, json={"code": 429, "errno": 114, "retryAfter": 30}, headers={"Retry-After": "30"}
        )

    with pytest.raises(FxABackoffError) as caught:
        _client(handler).login("a@b.c", "0" * 64)
    assert caught.value.until == 1030.0
    assert caught.value.errno == 114


def test_a_bodiless_406_is_a_challenge_and_other_non_json_a_violation() -> None:
    with pytest.raises(ChallengeRequired):
        _client(lambda r: httpx.Response(406)).login("a@b.c", "0" * 64)
    with pytest.raises(ProtocolViolation):
        _client(lambda r: httpx.Response(502, text="<html>")).login("a@b.c", "0" * 64)


def test_a_malformed_success_is_a_protocol_violation_without_the_token() -> None:
    answer = {"uid": "x", "sessionToken": TOKEN, "verified": True, "authAt": 1}
    with pytest.raises(ProtocolViolation) as caught:
        _client(lambda r: httpx.Response(200, json=answer)).login("a@b.c", "0" * 64)
    assert TOKEN not in str(caught.value)


def test_bearer_is_sent_first_with_the_prefixed_token_id() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"uid": "u", "state": "verified"})

    client = _client(handler)
    client.session_status(TOKEN)
    assert seen == ["Bearer fxs_c0a29dcf46174973da1378696e4c82ae10f723cf4f4d9f75e39f4ae3851595ab"]
    assert client.scheme == "bearer"


def test_a_refused_bearer_is_retried_once_with_hawk_and_hawk_is_remembered() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        header = request.headers["authorization"]
        seen.append(header.split(" ", 1)[0])
        if header.startswith("Bearer"):
            return httpx.Response(401, json={"code": 401, "errno": 110})
        return httpx.Response(200, json={"uid": "u", "state": "verified"})

    client = _client(handler)
    client.session_status(TOKEN)
    client.session_status(TOKEN)
    assert seen == ["Bearer", "Hawk", "Hawk"]
    assert client.scheme == "hawk"


def test_a_token_refused_in_both_forms_is_an_invalid_token() -> None:
    with pytest.raises(InvalidFxAToken):
        _client(_error(401, 110)).session_status(TOKEN)


def test_nothing_goes_over_plain_http_to_another_host() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    client = _client(handler, url="http://fxa.example.com")
    with pytest.raises(TrustError):
        client.session_status(TOKEN)
    with pytest.raises(TrustError):
        client.login("a@b.c", "0" * 64)
    with pytest.raises(TrustError):
        client.refresh("r" * 64)
    assert sent == []
    local = _client(lambda r: httpx.Response(200, json={"uid": "u"}), url="http://127.0.0.1:9")
    assert local.session_status(TOKEN).uid == "u"


def test_transport_failures_are_beacon_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(TransportError):
        _client(handler).credentials_status("a@b.c")


def test_the_refresh_grant_sends_no_session_and_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={"access_token": "t", "scope": "s", "token_type": "bearer", "expires_in": 60},
        )

    _client(handler).refresh("r" * 64, scope="s")
    body = json.loads(seen[0].content)
    assert body["grant_type"] == "refresh_token"
    assert "authorization" not in seen[0].headers


def test_a_login_answer_for_the_other_stretching_version_is_refused() -> None:
    from beacon.fxa import FirefoxAccount, MemoryStore

    session = "b" * 64

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/credentials/status"):
            salt = "identity.mozilla.com/picl/v1/quickStretchV2:" + "0" * 32
            return httpx.Response(200, json={"currentVersion": "v2", "clientSalt": salt})
        # A v1 key-fetch token although we logged in with v2 credentials.
        return httpx.Response(
            200,
            json={
                "uid": "0" * 32,
                "sessionToken": session,
                "keyFetchToken": TOKEN,
                "verified": True,
                "authAt": 1,
            },
        )

    with FirefoxAccount(
        MemoryStore(), auth_server_url="https://fxa.test", transport=httpx.MockTransport(handler)
    ) as account:
        result = account.sign_in("a@b.c", "pw")
    assert result.outcome == "failed"
    assert isinstance(result.error, ProtocolViolation)
    assert "v2" in str(result.error)
