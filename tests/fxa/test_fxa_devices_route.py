"""The FxA stand-in's device routes on the wire: who may call them, paging of the command
queue, the errors for unknown targets and missing commands, devices going with their token."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import httpx
import pytest

from beacon.fxa import FirefoxAccount, MemoryStore
from beacon.fxa._auth import FxATokenAuth
from tests.fxa.conftest import EMAIL, PASSWORD, FxAWorld

OPEN_URI = "https://identity.mozilla.com/cmd/open-uri"


def _tokens(world: FxAWorld, seed: int) -> tuple[str, str]:
    store = MemoryStore()
    account = FirefoxAccount(
        store,
        auth_server_url=world.svc.auth_server_url,
        transport=world.transport,
        clock=world.clock,
        rng=random.Random(seed).randbytes,
    )
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    account.close()
    state = store.load()
    assert state is not None
    assert state.session_token is not None
    assert state.refresh_token is not None
    return state.session_token, state.refresh_token


@pytest.fixture
def http(fxa_world: FxAWorld) -> httpx.Client:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD)
    return httpx.Client(transport=fxa_world.svc.transport(), base_url=fxa_world.svc.auth_server_url)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _register(http: httpx.Client, refresh: str, name: str) -> str:
    body = {"name": name, "type": "desktop", "availableCommands": {OPEN_URI: "{}"}}
    answer = http.post("/v1/account/device", json=body, headers=_bearer(refresh))
    assert answer.status_code == 200
    ident: str = answer.json()["id"]
    return ident


def _invoke(http: httpx.Client, refresh: str, target: str, **extra: Any) -> httpx.Response:
    body = {"command": OPEN_URI, "target": target, "payload": {"n": 1}, **extra}
    return http.post("/v1/account/devices/invoke_command", json=body, headers=_bearer(refresh))


def test_commands_are_paged_by_index_and_limit(fxa_world: FxAWorld, http: httpx.Client) -> None:
    _, sender = _tokens(fxa_world, 1)
    _, receiver = _tokens(fxa_world, 2)
    target = _register(http, receiver, "receiver")
    for n in range(5):
        assert _invoke(http, sender, target, payload={"n": n}).json()["enqueued"] is True
    page = http.get(
        "/v1/account/device/commands", params={"index": 0, "limit": 2}, headers=_bearer(receiver)
    ).json()
    assert [m["data"]["payload"]["n"] for m in page["messages"]] == [0, 1]
    assert page["last"] is False
    assert page["index"] == page["messages"][-1]["index"]
    rest = http.get(
        "/v1/account/device/commands",
        params={"index": page["index"] + 1, "limit": 100},
        headers=_bearer(receiver),
    ).json()
    assert [m["data"]["payload"]["n"] for m in rest["messages"]] == [2, 3, 4]
    assert rest["last"] is True
    empty = http.get(
        "/v1/account/device/commands",
        params={"index": rest["index"] + 1},
        headers=_bearer(receiver),
    ).json()
    assert (empty["messages"], empty["last"], empty["index"]) == ([], True, rest["index"])
    too_many = http.get(
        "/v1/account/device/commands", params={"limit": 101}, headers=_bearer(receiver)
    )
    assert (too_many.status_code, too_many.json()["errno"]) == (400, 107)


def test_commands_expire_after_their_ttl(fxa_world: FxAWorld, http: httpx.Client) -> None:
    _, sender = _tokens(fxa_world, 1)
    _, receiver = _tokens(fxa_world, 2)
    target = _register(http, receiver, "receiver")
    _invoke(http, sender, target, ttl=60)
    _invoke(http, sender, target)  # open-uri's default: 30 days
    fxa_world.clock.advance(61)
    page = http.get("/v1/account/device/commands", headers=_bearer(receiver)).json()
    assert len(page["messages"]) == 1


def test_unknown_targets_and_missing_commands_are_refused(
    fxa_world: FxAWorld, http: httpx.Client
) -> None:
    _, sender = _tokens(fxa_world, 1)
    _, receiver = _tokens(fxa_world, 2)
    target = _register(http, receiver, "receiver")
    unknown = _invoke(http, sender, "f" * 32)
    assert (unknown.status_code, unknown.json()["errno"]) == (400, 123)
    body = {"command": "https://example.com/cmd/other", "target": target, "payload": {}}
    missing = http.post("/v1/account/devices/invoke_command", json=body, headers=_bearer(sender))
    assert (missing.status_code, missing.json()["errno"]) == (400, 157)
    again = http.post("/v1/account/device", json={"name": "twice"}, headers=_bearer(receiver))
    assert (again.status_code, again.json()["errno"]) == (400, 124)


def test_session_tokens_work_in_both_wire_forms_and_other_tokens_do_not(
    fxa_world: FxAWorld, http: httpx.Client
) -> None:
    session, _ = _tokens(fxa_world, 1)
    for scheme in ("bearer", "hawk"):
        auth = FxATokenAuth(session, "sessionToken", scheme=scheme, clock=fxa_world.clock)
        assert http.get("/v1/account/devices", auth=auth).status_code == 200
    assert http.get("/v1/account/devices", headers=_bearer("0" * 64)).status_code == 401
    assert http.get("/v1/account/devices").status_code == 401
    # a refresh token without the oldsync scope is refused (upstream's refresh-token scheme)
    token = "ab" * 32
    uid = fxa_world.svc.fxa.uid_of(EMAIL)
    with fxa_world.svc.fxa.db.transaction() as conn:
        conn.execute(
            "INSERT INTO fxa_refresh_tokens (token_hash, uid, client_id, scope, created_at)"
            " VALUES (?, ?, 'c', 'profile', 0)",
            (hashlib.sha256(token.encode()).hexdigest(), uid),
        )
    refused = http.get("/v1/account/devices", headers=_bearer(token))
    assert (refused.status_code, refused.json()["errno"]) == (401, 163)


def test_a_device_goes_with_the_session_that_registered_it(
    fxa_world: FxAWorld, http: httpx.Client
) -> None:
    session, refresh = _tokens(fxa_world, 1)
    auth = FxATokenAuth(session, "sessionToken", clock=fxa_world.clock)
    body = {"name": "by session", "availableCommands": {OPEN_URI: "{}"}}
    assert http.post("/v1/account/device", json=body, auth=auth).status_code == 200
    _register(http, refresh, "by refresh")
    names = {d["name"] for d in http.get("/v1/account/devices", headers=_bearer(refresh)).json()}
    assert names == {"by session", "by refresh"}
    assert http.post("/v1/session/destroy", json={}, auth=auth).status_code == 200
    after = [d["name"] for d in http.get("/v1/account/devices", headers=_bearer(refresh)).json()]
    assert after == ["by refresh"]
