"""Token server behaviour (docs/protocol.md §1): every check, status and response field.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import re

import pytest

from beacon._crypto import client_state
from beacon.server import EmbeddedService
from tests.server.server_fixtures import Clock, User, kb_for


def test_a_token_response_has_every_field_and_the_timestamp_header(user: User) -> None:
    response = user.token_request()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "key",
        "uid",
        "api_endpoint",
        "duration",
        "hashed_fxa_uid",
        "hashalg",
        "node_type",
    }
    assert response.headers["X-Timestamp"] == "1700000000"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert body["duration"] == 3600
    assert body["hashalg"] == "sha256"
    assert re.fullmatch(r"[0-9a-f]{32}", body["hashed_fxa_uid"])
    assert len(body["key"]) == 44
    assert body["key"].endswith("=")
    assert body["api_endpoint"] == f"http://beacon.test/node/1/1.5/{body['uid']}"


def test_the_same_client_state_keeps_the_same_uid(user: User) -> None:
    assert user.fetch_token()["uid"] == user.token_request().json()["uid"]


def test_new_users_spread_over_the_nodes(svc: EmbeddedService, clock: Clock) -> None:
    from tests.server.server_fixtures import make_user

    endpoints = [make_user(svc, clock, f"u{i}").token["api_endpoint"] for i in range(4)]
    nodes = [re.search(r"/node/(\d+)/", e).group(1) for e in endpoints]  # type: ignore[union-attr]
    assert nodes == ["1", "2", "1", "2"]


def test_duration_parameter_shortens_but_never_lengthens_the_token(user: User) -> None:
    url = user.svc.token_server_url
    headers = {
        "Authorization": f"Bearer {user.account.access_token}",
        "X-KeyID": user.token_request().request.headers["X-KeyID"],
    }
    assert user.http.get(url + "?duration=60", headers=headers).json()["duration"] == 60
    assert user.http.get(url + "?duration=99999", headers=headers).json()["duration"] == 3600
    assert user.http.get(url + "?duration=abc", headers=headers).json()["duration"] == 3600


@pytest.mark.parametrize(
    ("path", "name", "description"),
    [
        ("/1.0/mail/1.5", "application", "Unsupported application"),
        ("/1.0/sync/1.2", "1.2", "Unsupported application version"),
    ],
)
def test_unknown_application_or_version_is_404(
    user: User, path: str, name: str, description: str
) -> None:
    response = user.http.get("http://beacon.test" + path)
    assert response.status_code == 404
    assert response.json() == {
        "status": "error",
        "errors": [{"location": "url", "name": name, "description": description}],
    }


def _status(response: object) -> tuple[int, str]:
    import httpx

    assert isinstance(response, httpx.Response)
    return response.status_code, response.json()["status"]


def test_missing_authorization_is_401_unauthorized(user: User) -> None:
    response = user.http.get(user.svc.token_server_url)
    assert response.status_code == 401
    assert response.json()["errors"][0]["description"] == "Unauthorized"


def test_a_browserid_assertion_is_401_unsupported(user: User) -> None:
    response = user.http.get(
        user.svc.token_server_url, headers={"Authorization": "BrowserID abc.def"}
    )
    assert response.status_code == 401
    assert response.json() == {
        "status": "error",
        "errors": [{"location": "body", "name": "", "description": "Unsupported"}],
    }


@pytest.mark.parametrize("token", ["garbage", "", "eyJhIjoxfQ==", "a" * 100])
def test_a_bearer_token_that_does_not_verify_is_invalid_credentials(user: User, token: str) -> None:
    response = user.http.get(
        user.svc.token_server_url,
        headers={"Authorization": f"Bearer {token}", "X-KeyID": "1234-qqo"},
    )
    assert response.status_code == 401
    assert response.json()["status"] in {"invalid-credentials", "error"}


def test_a_token_from_another_service_is_invalid_credentials(user: User, clock: Clock) -> None:
    other = EmbeddedService(clock=clock)
    stranger = other.create_account()
    response = user.http.get(
        user.svc.token_server_url,
        headers={"Authorization": f"Bearer {stranger.access_token}", "X-KeyID": "1234-qqo"},
    )
    other.close()
    assert _status(response) == (401, "invalid-credentials")


def test_an_expired_access_token_is_invalid_credentials(user: User, clock: Clock) -> None:
    clock.advance(366 * 24 * 3600)
    assert _status(user.token_request()) == (401, "invalid-credentials")


@pytest.mark.parametrize(
    ("key_id", "status"),
    [
        (None, "invalid-key-id"),
        ("00000000", "invalid-credentials"),
        ("0000000001234-notbase64", "invalid-credentials"),
        ("notanumber-qqo", "invalid-credentials"),
        ("12-a+b/", "invalid-credentials"),
    ],
)
def test_bad_x_keyid_values_get_their_401_status(
    user: User, key_id: str | None, status: str
) -> None:
    headers = {"Authorization": f"Bearer {user.account.access_token}"}
    if key_id is not None:
        headers["X-KeyID"] = key_id
    response = user.http.get(user.svc.token_server_url, headers=headers)
    assert _status(response) == (401, status)


def test_a_non_ascii_x_keyid_is_invalid_key_id(user: User) -> None:
    response = user.http.get(
        user.svc.token_server_url,
        headers=[
            (b"Authorization", f"Bearer {user.account.access_token}".encode()),
            (b"X-KeyID", "1234-é".encode()),
        ],
    )
    assert _status(response) == (401, "invalid-key-id")


def test_x_client_state_must_match_the_key_id(user: User) -> None:
    assert _status(user.token_request(headers={"X-Client-State": "bbbb"})) == (
        401,
        "invalid-client-state",
    )
    assert user.token_request(headers={"X-Client-State": client_state(user.kb)}).status_code == 200


def test_a_malformed_x_client_state_is_400(user: User) -> None:
    response = user.token_request(headers={"X-Client-State": "not valid!"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "location": "header",
            "name": "X-Client-State",
            "description": "Invalid client state value",
        }
    ]


def test_zero_padded_key_id_timestamps_parse(user: User) -> None:
    raw = bytes.fromhex(client_state(user.kb))
    padded = f"{user.account.keys_changed_at:020d}-" + base64.urlsafe_b64encode(
        raw
    ).decode().rstrip("=")
    response = user.http.get(
        user.svc.token_server_url,
        headers={"Authorization": f"Bearer {user.account.access_token}", "X-KeyID": padded},
    )
    assert response.json()["uid"] == user.token["uid"]


# -- §1.4 consistency rules ------------------------------------------------------------------


def test_a_new_kb_without_a_password_reset_is_refused(user: User) -> None:
    # Rule 4: the client state changed but the generation did not.
    assert _status(user.token_request(kb=kb_for("other"))) == (401, "invalid-client-state")


def test_keys_changed_at_beyond_the_generation_is_refused(user: User) -> None:
    # Rule 1.
    later = user.account.generation + 1000
    assert _status(user.token_request(keys_changed_at=later)) == (401, "invalid-keysChangedAt")


def test_an_older_keys_changed_at_is_refused(user: User) -> None:
    # Rule 7.
    earlier = user.account.keys_changed_at - 1
    assert _status(user.token_request(keys_changed_at=earlier)) == (401, "invalid-keysChangedAt")


def test_a_zero_keys_changed_at_is_refused_once_one_is_known(user: User) -> None:
    # Rule 8.
    assert _status(user.token_request(keys_changed_at=0)) == (401, "invalid-keysChangedAt")


def test_a_password_reset_gives_a_new_uid_and_empty_storage(user: User, clock: Clock) -> None:
    assert user.put("/storage/meta/global", json={"payload": "old"}).status_code == 200
    old_uid, old_account, old_kb = user.token["uid"], user.account, user.kb
    clock.advance(10)
    user.account = user.svc.reset_password(user.account.fxa_uid)
    user.kb = kb_for("alice-after-reset")
    new = user.fetch_token()
    assert new["uid"] != old_uid
    assert user.get("/info/collections").json() == {}
    # The old device, with its old kB and old access token, is refused (rule 3 first).
    user.account, user.kb = old_account, old_kb
    assert _status(user.token_request()) == (401, "invalid-client-state")


def test_an_old_generation_is_refused_after_a_reset(user: User, clock: Clock) -> None:
    old_account = user.account
    clock.advance(10)
    user.account = user.svc.reset_password(user.account.fxa_uid)
    user.kb = kb_for("alice-2")
    user.fetch_token()
    # Old access token (old generation) with the *new* kB and keys_changed_at: rule 6.
    new_kca = user.account.keys_changed_at
    user.account = old_account
    assert _status(user.token_request(keys_changed_at=new_kca)) == (401, "invalid-generation")


def test_returning_to_a_replaced_client_state_is_refused(user: User, clock: Clock) -> None:
    first_kb = user.kb
    clock.advance(10)
    user.account = user.svc.reset_password(user.account.fxa_uid)
    user.kb = kb_for("second")
    user.fetch_token()
    clock.advance(10)
    user.account = user.svc.reset_password(user.account.fxa_uid)
    response = user.token_request(kb=first_kb)
    assert response.status_code == 401
    assert response.json()["errors"][0]["description"].endswith("stale value")


def test_the_token_server_answers_503_with_retry_after_on_demand(user: User) -> None:
    user.svc.faults.fail_next(1, path_contains="/1.0/sync/1.5", retry_after=30)
    response = user.token_request()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["status"] == "error"
    assert user.token_request().status_code == 200


def test_the_token_server_can_send_backoff_headers(user: User) -> None:
    user.svc.faults.backoff_next(1, seconds=120, header="X-Backoff", path_contains="/1.0/")
    response = user.token_request()
    assert response.status_code == 200
    assert response.headers["X-Backoff"] == "120"


def test_posting_to_the_token_server_is_405(user: User) -> None:
    response = user.http.post(user.svc.token_server_url)
    assert response.status_code == 405
    assert response.json()["status"] == "error"
