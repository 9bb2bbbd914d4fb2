"""Invalidation (a 401 anywhere) and the kB change, against the embedded service (2c, 2e)."""

from __future__ import annotations

import httpx
import pytest

from beacon import AuthenticationError, BackoffError, UsageError
from beacon.client._client import STATE_FILE
from tests.client.sync_world import World, requests_of, tail

TOKEN = ("GET", "/1.0/sync/1.5")


def test_a_401_mid_run_drops_the_token_and_runs_again_once(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.revoke_tokens(world.fxa_uid)
    requests_of(a)
    result = a.client.sync()
    assert result.outcome == "ok"
    assert [(m, tail(p)) for m, p in requests_of(a)] == [
        ("GET", "info/collections"),  # 401: the persisted token was revoked
        TOKEN,
        ("GET", "info/collections"),
    ]
    assert result.states.count("invalidated") == 1


def test_a_401_is_never_read_as_missing_data(world: World) -> None:
    world.device("a").client.sync()
    world.svc.faults.fail_next(1, path_contains="storage/meta/global", status=401, retry_after=None)
    world.svc.faults.clear_request_log()
    b = world.device("b")
    result = b.client.sync()
    assert result.outcome == "ok"
    assert "invalidated" in result.states
    assert "fresh_start" not in result.states
    assert [r for r in world.log() if r.method == "DELETE"] == []


def test_a_second_401_in_a_row_fails_and_the_next_run_waits(world: World) -> None:
    a = world.device("a")
    a.client.sync()

    def refuse_storage(request: httpx.Request) -> httpx.Response | None:
        if "/1.5/" in request.url.path:
            return httpx.Response(401, json={"status": "invalid-credentials"})
        return None

    a.wire.before.append(refuse_storage)
    with pytest.raises(AuthenticationError):
        a.client.sync()
    assert a.client.last_result is not None
    assert a.client.last_result.states.count("invalidated") == 2
    assert a.client.last_result.states[-1] == "auth_failed"
    assert a.client.store.auth_failed()
    a.wire.before.clear()
    requests_of(a)
    world.clock.advance(60)
    with pytest.raises(BackoffError):
        a.client.sync()
    assert requests_of(a) == []  # the minimum backoff: nothing sent
    world.clock.advance(15 * 60)
    assert a.client.sync().outcome == "ok"
    assert not a.client.store.auth_failed()  # cleared by the successful run


def test_a_kb_change_starts_over_cleanly(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "written before the reset"})
    a.client.sync()
    old_user = world.svc.faults.user(world.fxa_uid)
    account = world.svc.reset_password(world.fxa_uid)
    new_kb = bytes(range(100, 132))
    a.client.close()
    again = world.device(
        "a",
        access_token=account.access_token,
        kb=new_kb,
        keys_changed_at=account.keys_changed_at,
        previous_kb=world.kb,
    )
    assert again.notes.get("n1") == {"id": "n1", "text": "written before the reset"}
    result = again.client.sync()
    assert result.outcome == "ok"
    assert "forgetting_old_key" in result.states
    assert "fresh_start" in result.states  # the token server gave a new uid: empty storage
    new_user = world.svc.faults.user(world.fxa_uid)
    assert old_user is not None
    assert new_user is not None
    assert new_user["uid"] != old_user["uid"]
    assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"n1"}
    requests_of(again)
    result = again.client.sync()  # no error loop: the next run is the one-request run
    assert result.requests == 1


def test_after_a_kb_change_sealed_records_need_the_previous_kb_and_are_kept(
    world: World,
) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "sealed under the old kB"})
    a.client.close()
    before = (world.tmp / "a" / STATE_FILE).read_bytes()
    with pytest.raises(UsageError, match="previous kB") as refused:
        world.device("a", kb=bytes(range(100, 132)))
    assert "beacon reset" in str(refused.value)
    assert (world.tmp / "a" / STATE_FILE).read_bytes() == before  # nothing was lost
    again = world.device("a", kb=bytes(range(100, 132)), previous_kb=world.kb)
    assert again.notes.get("n1") == {"id": "n1", "text": "sealed under the old kB"}
    again.client.close()
    # Re-wrapped: the new kB alone opens them from now on.
    third = world.device("a", kb=bytes(range(100, 132)))
    assert third.notes.get("n1") == {"id": "n1", "text": "sealed under the old kB"}


def test_a_401_on_an_upload_mid_run_recovers_and_the_run_succeeds(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    a.notes.put("n1", {"text": "uploaded with the second token"})

    def revoke_before_the_upload(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.endswith("/storage/notes"):
            a.wire.before.clear()
            world.svc.faults.revoke_tokens(world.fxa_uid)
        return None

    a.wire.before.append(revoke_before_the_upload)
    requests_of(a)
    result = a.client.sync()
    assert result.outcome == "ok"
    sent = [(m, tail(p)) for m, p in requests_of(a)]
    assert sent.index(TOKEN) > sent.index(("POST", "storage/notes"))  # the 401 was mid-run
    assert result.states.count("invalidated") == 1
    assert result.engines["notes"]["state"] == "synced"
    assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"n1"}


def test_after_a_password_reset_elsewhere_old_credentials_fail_without_damage(
    world: World,
) -> None:
    a, b = world.device("a"), world.device("b")
    a.notes.put("n1", {"text": "x"})
    a.client.sync()
    b.client.sync()
    account = world.svc.reset_password(world.fxa_uid)
    new_kb = bytes(range(100, 132))
    b.client.close()
    b2 = world.device(
        "b",
        access_token=account.access_token,
        kb=new_kb,
        keys_changed_at=account.keys_changed_at,
        previous_kb=world.kb,  # the sealed local records open under the old kB
    )
    assert "fresh_start" in b2.client.sync().states  # b starts the new storage
    world.svc.faults.clear_request_log()
    # a still holds the old kB and credentials: the token server refuses them (pitfalls P9,
    # P10), the run is an authentication error, and nothing is written anywhere.
    world.clock.advance(4000)  # a's persisted token has expired: it must ask again
    with pytest.raises(AuthenticationError):
        a.client.sync()
    assert world.writes() == []
    # With the new credentials a adopts b's storage: no second fresh start.
    a.client.close()
    a2 = world.device(
        "a",
        access_token=account.access_token,
        kb=new_kb,
        keys_changed_at=account.keys_changed_at,
        previous_kb=world.kb,  # the sealed local records open under the old kB
    )
    result = a2.client.sync()
    assert "forgetting_old_key" in result.states
    assert "fresh_start" not in result.states
    assert a2.notes.get("n1") == {"id": "n1", "text": "x"}
