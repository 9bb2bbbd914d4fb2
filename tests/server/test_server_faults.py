"""Faults from Python (``svc.faults``) and through the admin HTTP API; the request log."""

from __future__ import annotations

import httpx
import pytest

from beacon import UsageError
from beacon.server import EmbeddedService
from tests.server.server_fixtures import ADMIN_SECRET, Clock, User, counter_rng, make_user

ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}


def test_fail_next_answers_503_with_retry_after_then_serves_again(user: User) -> None:
    user.svc.faults.fail_next(2)
    first = user.get("/info/collections")
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "10"
    assert first.text == "0"
    assert "X-Weave-Timestamp" in first.headers
    assert user.put("/storage/history/a", json={"payload": "x"}).status_code == 503
    assert user.get("/storage/history/a").status_code == 404  # the write never happened
    assert user.get("/info/collections").status_code == 200


def test_fail_next_can_target_a_path(user: User) -> None:
    user.svc.faults.fail_next(1, path_contains="/storage/crypto", status=500, retry_after=None)
    assert user.get("/storage/history").status_code == 200
    response = user.get("/storage/crypto/keys")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert user.get("/storage/crypto/keys").status_code == 404


@pytest.mark.parametrize("header", ["X-Weave-Backoff", "Backoff", "X-Backoff"])
def test_backoff_next_adds_the_header_to_served_responses(user: User, header: str) -> None:
    user.svc.faults.backoff_next(1, seconds=300, header=header)
    response = user.put("/storage/history/a", json={"payload": "x"})
    assert response.status_code == 200
    assert response.headers[header] == "300"
    assert header not in user.get("/storage/history/a").headers


def test_clear_drops_pending_faults(user: User) -> None:
    user.svc.faults.fail_next(5)
    user.svc.faults.backoff_next(5)
    user.svc.faults.clear()
    response = user.get("/info/collections")
    assert response.status_code == 200
    assert "X-Weave-Backoff" not in response.headers


def test_wipe_user_empties_storage_and_moves_the_timestamp(user: User) -> None:
    user.put("/storage/meta/global", json={"payload": "m"})
    user.svc.faults.wipe_user(user.account.fxa_uid)
    response = user.get("/info/collections")
    assert response.json() == {}
    assert response.headers["X-Last-Modified"] == "1700000000.01"


def test_wipe_node_empties_every_user_on_it(svc: EmbeddedService, clock: Clock) -> None:
    users = [make_user(svc, clock, f"u{i}") for i in range(3)]  # nodes 1, 2, 1
    for u in users:
        u.put("/storage/history/a", json={"payload": "x"})
    svc.faults.wipe_node(1)
    assert [u.get("/storage/history").json() for u in users] == [[], ["a"], []]


def test_put_and_delete_records_as_another_device(user: User, clock: Clock) -> None:
    faults = user.svc.faults
    fxa = user.account.fxa_uid
    user.put("/storage/meta/global", json={"payload": "mine"})
    clock.advance(1)
    assert faults.put_record(fxa, "meta", "global", "theirs", sortindex=2) == 1700000001.0
    assert user.get("/storage/meta/global").json()["payload"] == "theirs"
    assert faults.records(fxa, "meta") == {
        "global": {"payload": "theirs", "modified": 1700000001.0, "sortindex": 2}
    }
    assert faults.delete_record(fxa, "meta", "global") is True
    assert faults.delete_record(fxa, "meta", "global") is False
    assert user.get("/storage/meta/global").status_code == 404
    faults.put_record(fxa, "crypto", "keys", "k")
    assert faults.delete_collection(fxa, "crypto") is True
    assert faults.delete_collection(fxa, "crypto") is False
    assert "crypto" not in user.get("/info/collections").json()


def test_faults_on_an_unknown_user_raise_usage_error(svc: EmbeddedService) -> None:
    with pytest.raises(UsageError):
        svc.faults.wipe_user("0" * 32)
    with pytest.raises(UsageError):
        svc.faults.fail_next(0)
    with pytest.raises(UsageError):
        svc.faults.backoff_next(1, header="Retry-After")
    with pytest.raises(UsageError):
        svc.faults.wipe_node(7)
    assert svc.faults.user("0" * 32) is None


def test_user_reports_the_token_server_record(user: User) -> None:
    record = user.svc.faults.user(user.account.fxa_uid)
    assert record is not None
    assert record["uid"] == user.token["uid"]
    assert record["node"] == 1


def test_the_request_log_records_method_path_status_and_time(user: User, clock: Clock) -> None:
    user.svc.faults.clear_request_log()
    clock.advance(5)
    user.svc.faults.fail_next(1)
    user.get("/storage/history?full=1")
    user.get("/storage/history/x")
    log = user.svc.faults.request_log()
    path = f"/node/1/1.5/{user.token['uid']}/storage/history"
    assert [(e.method, e.path, e.status, e.time, e.injected) for e in log] == [
        ("GET", path, 503, 1700000005.0, True),
        ("GET", path + "/x", 404, 1700000005.0, False),
    ]


# -- admin HTTP API -----------------------------------------------------------------------------


def test_the_admin_api_is_off_without_a_secret(clock: Clock) -> None:
    svc = EmbeddedService(clock=clock)
    with svc.client() as http:
        assert http.post("/__admin__/accounts", headers=ADMIN).status_code == 404
        assert http.get("/__admin__/requests", headers=ADMIN).status_code == 404
    svc.close()


def test_the_admin_api_needs_the_secret(svc: EmbeddedService) -> None:
    with svc.client() as http:
        assert http.post("/__admin__/accounts").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert http.post("/__admin__/faults/fail_next", headers=wrong, json={}).status_code == 401
        assert http.post("/__admin__/accounts", headers=ADMIN).status_code == 201


def test_admin_accounts_and_password_reset(svc: EmbeddedService, clock: Clock) -> None:
    with svc.client() as http:
        created = http.post("/__admin__/accounts", headers=ADMIN).json()
        assert set(created) == {
            "fxa_uid",
            "access_token",
            "generation",
            "keys_changed_at",
            "token_server_url",
        }
        assert created["token_server_url"] == "http://beacon.test/1.0/sync/1.5"
        clock.advance(1)
        reset = http.post(
            f"/__admin__/accounts/{created['fxa_uid']}/reset-password", headers=ADMIN
        ).json()
        assert reset["generation"] > created["generation"]
        assert reset["keys_changed_at"] == reset["generation"]
        missing = http.post("/__admin__/accounts/nobody/reset-password", headers=ADMIN)
        assert missing.status_code == 404


def test_admin_faults_apply_over_http(user: User) -> None:
    with user.svc.client() as http:
        answer = http.post(
            "/__admin__/faults/fail_next", headers=ADMIN, json={"count": 1, "retry_after": 42}
        )
        assert answer.json() == {"result": None}
        assert user.get("/info/collections").headers["Retry-After"] == "42"
        moved = http.post(
            "/__admin__/faults/move_user", headers=ADMIN, json={"fxa_uid": user.account.fxa_uid}
        )
        assert moved.json() == {"result": 2}
        assert http.post("/__admin__/faults/nope", headers=ADMIN, json={}).status_code == 404
        bad = http.post("/__admin__/faults/fail_next", headers=ADMIN, json={"bogus": 1})
        assert bad.status_code == 400
        assert (
            http.post("/__admin__/faults/fail_next", headers=ADMIN, content=b"[").status_code == 400
        )
        log = http.get("/__admin__/requests", headers=ADMIN).json()
    assert log[-1]["status"] == 503
    assert all(not entry["path"].startswith("/__admin__") for entry in log)


def test_public_signup_can_be_closed(clock: Clock) -> None:
    open_svc = EmbeddedService(clock=clock, rng=counter_rng())
    closed = EmbeddedService(clock=clock, signup=False)
    with open_svc.client() as a, closed.client() as b:
        assert a.post("/accounts").status_code == 201
        assert b.post("/accounts").status_code == 404
    open_svc.close()
    closed.close()


def test_secrets_stay_out_of_reprs(svc: EmbeddedService) -> None:
    account = svc.create_account()
    shown = repr(account) + repr(svc) + repr(svc.faults) + repr(svc.transport())
    assert account.access_token not in shown
    assert ADMIN_SECRET not in shown


def test_an_unknown_path_outside_the_nodes_is_404_json(svc: EmbeddedService) -> None:
    with svc.client() as http:
        response = http.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["status"] == "error"


def test_the_transport_works_from_inside_a_running_event_loop(user: User) -> None:
    import asyncio

    async def inside() -> int:
        return user.get("/info/collections").status_code

    assert asyncio.run(inside()) == 200


def test_clients_of_the_transport_close_cleanly(svc: EmbeddedService) -> None:
    transport = svc.transport()
    with httpx.Client(transport=transport) as http:
        assert http.get(svc.token_server_url).status_code == 401
    transport.close()


def test_head_answers_headers_without_a_body(user: User) -> None:
    response = user.request("HEAD", "/info/collections")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["X-Last-Modified"] == "0.00"


def test_account_uids_are_unique_and_well_formed(svc: EmbeddedService) -> None:
    account = svc.create_account("fixed-uid")
    assert account.fxa_uid == "fixed-uid"
    with pytest.raises(UsageError):
        svc.create_account("fixed-uid")
    with pytest.raises(UsageError):
        svc.create_account("bad uid!")
    assert svc.account("fixed-uid").generation == account.generation
    with pytest.raises(UsageError):
        svc.account("nobody")
    with pytest.raises(UsageError):
        svc.reset_password("nobody")
