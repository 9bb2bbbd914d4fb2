"""Invalidation (a 401 anywhere) and the kB change, against the embedded service (2c, 2e)."""

from __future__ import annotations

import httpx
import pytest

from beacon import (
    AuthenticationError,
    BackoffError,
    CollectionKeys,
    KeyBundle,
    KeyMismatchError,
    UsageError,
    client_state,
)
from beacon.client import STATE_FILE
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
    # Wrapped under the new kB too: it alone opens them from now on; the old kB also does
    # until the new one is proven by a sync (it may be a mistake).
    third = world.device("a", kb=bytes(range(100, 132)))
    assert third.notes.get("n1") == {"id": "n1", "text": "sealed under the old kB"}
    third.client.close()
    assert world.device("a").notes.get("n1") == {"id": "n1", "text": "sealed under the old kB"}


def test_once_a_new_kb_is_proven_the_old_kb_opens_the_records_no_more(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "x"})
    a.client.sync()
    account = world.svc.reset_password(world.fxa_uid)
    new_kb = bytes(range(100, 132))
    a.client.close()
    moved = world.device(
        "a",
        access_token=account.access_token,
        kb=new_kb,
        keys_changed_at=account.keys_changed_at,
        previous_kb=world.kb,
    )
    assert "forgetting_old_key" in moved.client.sync().states
    moved.client.close()

    with pytest.raises(UsageError, match="sealed under another kB"):
        world.device("a")


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
    assert result.engines["notes"]["state"] == "ok"
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
    # a still holds the old kB and credentials: the token server refuses them (docs/anchors.md P9,
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


def test_a_mistyped_kb_destroys_nothing_and_the_next_correct_run_costs_one_request(
    world: World,
) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "kept"})
    a.client.sync()
    a.client.sync()  # settled: the next no-change run is one request
    a.client.close()
    typo = bytes([world.kb[0] ^ 1]) + world.kb[1:]
    before = (world.tmp / "a" / STATE_FILE).read_bytes()

    # The local records are sealed under kB: a client with the typo does not even start, and
    # says so, before a request or a write.
    with pytest.raises(UsageError, match="sealed under another kB"):
        world.device("a", kb=typo)
    assert (world.tmp / "a" / STATE_FILE).read_bytes() == before

    right = world.device("a")
    requests_of(right)
    result = right.client.sync()
    assert result.outcome == "ok"
    assert not any(c["reset"] for c in result.engines.values())  # no collection starts over
    assert [tail(p) for _, p in requests_of(right)] == ["info/collections"]
    assert right.notes.get("n1") == {"id": "n1", "text": "kept"}


def test_a_kb_refused_by_the_token_server_forgets_nothing(world: World) -> None:
    # A new kB that opens the local records (the previous one is given) but that the token
    # server refuses: the old kB's state stays, nothing is reset.
    a = world.device("a")
    a.notes.put("n1", {"text": "kept"})
    a.client.sync()
    a.client.close()
    other = bytes(range(50, 82))
    wrong = world.device("a", kb=other, previous_kb=world.kb)
    world.clock.advance(4000)  # the persisted token has expired: the token server decides
    with pytest.raises(AuthenticationError):
        wrong.client.sync()
    failed = wrong.client.last_result
    assert failed is not None
    assert "forgetting_old_key" not in failed.states
    assert wrong.client.store.kb_fingerprint() == client_state(world.kb)
    assert wrong.client.store.collection_state("notes").last_fetch is not None


def test_keys_under_another_kb_leave_the_state_of_the_old_one(world: World) -> None:
    # The password was reset and we hold the new kB, but crypto/keys on the new storage were
    # written under a kB nobody derives from ours: a trust error. The old kB stays adopted
    # (its fingerprint, so the next run tries again), nothing is written, the notes stay; the
    # old node's caches went with the node move, which the token server's new uid proves.
    a, b = world.device("a"), world.device("b")
    a.notes.put("n1", {"text": "kept"})
    a.client.sync()
    account = world.svc.reset_password(world.fxa_uid)
    new_kb = bytes(range(100, 132))
    b.client.close()
    b = world.device(
        "b", access_token=account.access_token, kb=new_kb, keys_changed_at=account.keys_changed_at
    )
    b.client.sync()  # b starts the new storage
    foreign = CollectionKeys.generate().encrypt(KeyBundle.generate())
    world.svc.faults.put_record(world.fxa_uid, "crypto", "keys", foreign)
    a.client.close()
    a2 = world.device(
        "a",
        access_token=account.access_token,
        kb=new_kb,
        keys_changed_at=account.keys_changed_at,
        previous_kb=world.kb,
    )

    with pytest.raises(KeyMismatchError):
        a2.client.sync()
    result = a2.client.last_result
    assert result is not None
    assert "forgetting_old_key" not in result.states
    assert a2.client.store.kb_fingerprint() == client_state(world.kb)
    assert a2.notes.get("n1") == {"id": "n1", "text": "kept"}


def test_a_token_server_401_is_remembered_with_a_growing_wait_for_those_credentials(
    world: World,
) -> None:
    refused = world.device("a", access_token="not-a-token")
    with pytest.raises(AuthenticationError):
        refused.client.sync()
    requests_of(refused)
    with pytest.raises(BackoffError) as held:
        refused.client.sync()  # the same credentials: no request until the wait is over
    assert requests_of(refused) == []
    assert held.value.until == pytest.approx(world.clock.now + 15 * 60, abs=2)
    world.clock.advance(15 * 60 + 1)
    with pytest.raises(AuthenticationError):
        refused.client.sync()  # asked again once, refused again: the wait doubles
    with pytest.raises(BackoffError) as longer:
        refused.client.sync()
    assert longer.value.until == pytest.approx(world.clock.now + 30 * 60, abs=2)
    refused.client.close()

    good = world.device("a")  # other credentials are not held back, and success clears it
    assert good.client.sync().outcome == "ok"
    assert not good.client.store.auth_failed()


def test_after_a_refused_kb_the_old_kb_still_opens_the_records(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "kept"})
    a.client.sync()
    a.client.close()
    wrong = world.device("a", kb=bytes(range(50, 82)), previous_kb=world.kb)
    world.clock.advance(4000)
    with pytest.raises(AuthenticationError):
        wrong.client.sync()
    wrong.client.close()

    again = world.device("a")  # the old, right kB: its records open, the run is clean
    assert again.notes.get("n1") == {"id": "n1", "text": "kept"}
    assert again.client.sync().outcome == "ok"
