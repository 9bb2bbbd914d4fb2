"""Hawk verification on the storage nodes (docs/protocol.md §2.4), tokens, uids and nodes."""

from __future__ import annotations

import httpx
import pytest

from beacon._hawk import compute_mac
from beacon.server import EmbeddedService
from tests.server.server_fixtures import Clock, User, make_user


def _hawk(
    user: User,
    method: str,
    path: str,
    *,
    ts: int,
    nonce: str,
    key: str | None = None,
    token_id: str | None = None,
    host: str = "beacon.test",
    port: int = 80,
) -> str:
    url = httpx.URL(user.url(path))
    mac = compute_mac(
        (key or user.token["key"]).encode(),
        ts=ts,
        nonce=nonce,
        method=method,
        resource=url.raw_path.decode(),
        host=host,
        port=port,
    )
    return f'Hawk id="{token_id or user.token["id"]}", ts="{ts}", nonce="{nonce}", mac="{mac}"'


def _get(user: User, path: str, authorization: str | None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return user.http.get(user.url(path), headers=headers)


NOW = 1_700_000_000


def test_a_correctly_signed_request_passes(user: User) -> None:
    assert (
        _get(
            user, "/info/collections", _hawk(user, "GET", "/info/collections", ts=NOW, nonce="a")
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer abc",
        "Hawk",
        'Hawk id="x", ts="1", nonce="n"',
        'Hawk id="x", ts="1", nonce="n", mac="m"',
    ],
)
def test_missing_or_malformed_hawk_headers_are_401(user: User, authorization: str | None) -> None:
    response = _get(user, "/info/collections", authorization)
    assert (response.status_code, response.text) == (401, "0")
    assert response.headers["WWW-Authenticate"] == "Hawk"
    assert "X-Weave-Timestamp" in response.headers


def test_a_wrong_mac_is_401(user: User) -> None:
    wrong_key = _hawk(user, "GET", "/info/collections", ts=NOW, nonce="a", key="A" * 43 + "=")
    assert _get(user, "/info/collections", wrong_key).status_code == 401


def test_a_mac_over_another_path_method_or_host_is_401(user: User) -> None:
    assert (
        _get(
            user, "/info/quota", _hawk(user, "GET", "/info/collections", ts=NOW, nonce="a")
        ).status_code
        == 401
    )
    assert (
        _get(
            user, "/info/collections", _hawk(user, "POST", "/info/collections", ts=NOW, nonce="b")
        ).status_code
        == 401
    )
    assert (
        _get(
            user,
            "/info/collections",
            _hawk(user, "GET", "/info/collections", ts=NOW, nonce="c", host="evil.test"),
        ).status_code
        == 401
    )
    assert (
        _get(
            user,
            "/info/collections",
            _hawk(user, "GET", "/info/collections", ts=NOW, nonce="d", port=8080),
        ).status_code
        == 401
    )


def test_the_query_string_is_covered_by_the_mac(user: User) -> None:
    signed = _hawk(user, "GET", "/storage/history?full=1", ts=NOW, nonce="a")
    assert _get(user, "/storage/history?full=1", signed).status_code == 200
    tampered = _hawk(user, "GET", "/storage/history?full=1", ts=NOW, nonce="b")
    assert _get(user, "/storage/history?full=2", tampered).status_code == 401


def test_a_replayed_nonce_is_401(user: User) -> None:
    header = _hawk(user, "GET", "/info/collections", ts=NOW, nonce="same")
    assert _get(user, "/info/collections", header).status_code == 200
    assert _get(user, "/info/collections", header).status_code == 401


def test_a_stale_timestamp_is_401(user: User) -> None:
    assert (
        _get(
            user,
            "/info/collections",
            _hawk(user, "GET", "/info/collections", ts=NOW - 61, nonce="a"),
        ).status_code
        == 401
    )
    assert (
        _get(
            user,
            "/info/collections",
            _hawk(user, "GET", "/info/collections", ts=NOW + 61, nonce="b"),
        ).status_code
        == 401
    )
    assert (
        _get(
            user,
            "/info/collections",
            _hawk(user, "GET", "/info/collections", ts=NOW + 59, nonce="c"),
        ).status_code
        == 200
    )


def test_a_forged_token_id_is_401(user: User) -> None:
    forged = user.token["id"][:-4] + "AAA="
    header = _hawk(user, "GET", "/info/collections", ts=NOW, nonce="a", token_id=forged)
    assert _get(user, "/info/collections", header).status_code == 401


def test_another_users_uid_in_the_path_is_refused_and_their_data_untouched(
    svc: EmbeddedService, clock: Clock, user: User
) -> None:
    bob = make_user(svc, clock, "bob")
    bob.put("/storage/history/secret", json={"payload": "bob's"})
    bob_root = bob.token["api_endpoint"]
    response = user.http.put(
        bob_root + "/storage/history/secret", json={"payload": "mine"}, auth=user.auth()
    )
    assert response.status_code == 400
    read = user.http.get(bob_root + "/storage/history/secret", auth=user.auth())
    assert read.status_code == 400
    assert bob.get("/storage/history/secret").json()["payload"] == "bob's"


def test_a_token_used_on_another_node_reaches_only_that_nodes_storage(user: User) -> None:
    # As syncstorage-rs: the node does not check the token's node claim; data is kept by
    # (node, uid), so the other node's storage for the uid is its own (empty) one.
    assert user.put("/storage/tabs/a", json={"payload": "node 1"}).status_code == 200
    other = user.token["api_endpoint"].replace("/node/1/", "/node/2/")
    assert user.http.get(other + "/info/collections", auth=user.auth()).json() == {}
    assert user.http.get(other + "/storage/tabs/a", auth=user.auth()).status_code == 404
    assert user.get("/storage/tabs/a").json()["payload"] == "node 1"


def test_an_unknown_node_is_404(user: User) -> None:
    other = user.token["api_endpoint"].replace("/node/1/", "/node/9/")
    assert user.http.get(other + "/info/collections", auth=user.auth()).status_code == 404


def test_an_expired_token_reads_info_collections_only(user: User, clock: Clock) -> None:
    clock.advance(3600)
    assert user.get("/info/collections").status_code == 200
    assert user.get("/storage/history").status_code == 401
    assert user.put("/storage/history/a", json={"payload": "x"}).status_code == 401
    assert user.get("/info/quota").status_code == 401
    user.fetch_token()
    assert user.get("/storage/history").status_code == 200


def test_expire_tokens_fault_behaves_like_time_running_out(user: User) -> None:
    user.svc.faults.expire_tokens(user.account.fxa_uid)
    assert user.get("/info/collections").status_code == 200
    assert user.get("/storage/history").status_code == 401
    user.fetch_token()
    assert user.get("/storage/history").status_code == 200


def test_revoke_tokens_fault_refuses_everything_until_a_new_token(user: User) -> None:
    user.svc.faults.revoke_tokens(user.account.fxa_uid)
    assert user.get("/info/collections").status_code == 401
    user.fetch_token()
    assert user.get("/info/collections").status_code == 200


def test_node_reassignment(user: User) -> None:
    user.put("/storage/history/a", json={"payload": "x"})
    old = dict(user.token)
    new_node = user.svc.faults.move_user(user.account.fxa_uid)
    assert new_node == 2
    assert user.get("/info/collections").status_code == 401
    user.fetch_token()
    assert user.token["api_endpoint"] != old["api_endpoint"]
    assert "/node/2/" in user.token["api_endpoint"]
    assert user.get("/info/collections").json() == {}
    assert user.get("/storage/history/a").status_code == 404
    # Timestamps keep moving forward across the move.
    assert float(user.get("/info/collections").headers["X-Last-Modified"]) > 1700000000.0
