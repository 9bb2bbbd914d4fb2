"""First sync, request economy and convergence of two devices, against the embedded service."""

from __future__ import annotations

import json

import httpx
import pytest

from beacon import SyncResult, TransportError
from beacon._crypto import KeyBundle
from tests.client.sync_world import World, requests_of, tail


def test_first_sync_of_an_empty_account_sets_storage_up(world: World) -> None:
    a = world.device("a")
    result = a.client.sync()
    assert isinstance(result, SyncResult)
    assert result.outcome == "ok"
    sent = [(m, tail(p)) for m, p in requests_of(a)]
    # token, i/c, meta/global 404, new meta/global and keys (nothing to wipe: i/c was empty),
    # i/c again (the seed note's re-entry): Ready after 6 requests, where application-services'
    # SetupStateMachine needs 10 (docs/anchors.md §3.2: token, info/configuration, i/c, meta/global
    # 404, DELETE, PUT meta/global, PUT keys, i/c, GET meta/global, GET keys). Then the clients
    # engine fetches info/configuration once and uploads our record.
    assert sent == [
        ("GET", "/1.0/sync/1.5"),
        ("GET", "info/collections"),
        ("GET", "storage/meta/global"),
        ("PUT", "storage/meta/global"),
        ("PUT", "storage/crypto/keys"),
        ("GET", "info/collections"),
        ("GET", "info/configuration"),
        ("POST", "storage/clients"),
    ]
    assert result.requests == len(sent)
    for state in ("married", "assigning", "initial_assigned", "fresh_start", "ready", "synced"):
        assert state in result.states
    assert result.states.index("married") < result.states.index("ready")
    assert "token:fetching" in result.states
    assert result.engines["clients"]["uploaded"] == 1
    assert result.engines["notes"]["state"] == "ok"
    meta = world.svc.faults.records(world.fxa_uid, "meta")
    assert set(meta) == {"global"}
    assert set(world.svc.faults.records(world.fxa_uid, "crypto")) == {"keys"}
    assert result.trace["chart"] == "session"
    assert result.trace["final_state"] == "synced"


def test_a_run_with_nothing_changed_and_a_valid_token_is_one_request(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    requests_of(a)
    world.clock.advance(60)
    result = a.client.sync()
    assert [(m, tail(p)) for m, p in requests_of(a)] == [("GET", "info/collections")]
    assert result.requests == 1
    # The first run's own uploads moved the store's timestamp after its last i/c, so that GET
    # was answered in full; from now on it is conditional and answered 304.
    result = a.client.sync()
    assert result.requests == 1
    assert world.log()[-1].status == 304
    assert "not_modified" in [step["event"] for step in result.trace["steps"]]
    # The state persists: a new client object on the same directory (a new process) too.
    a.client.close()
    again = world.device("a")
    result = again.client.sync()
    assert result.requests == 1
    assert [(m, tail(p)) for m, p in requests_of(again)] == [("GET", "info/collections")]


def test_two_devices_converge(world: World) -> None:
    a, b = world.device("a"), world.device("b")
    a.notes.put("n1", {"text": "from a"})
    a.client.sync()
    result = b.client.sync()
    assert b.notes.get("n1") == {"id": "n1", "text": "from a"}
    assert result.engines["notes"]["applied"] == 1

    world.clock.advance(10)
    b.notes.put("n1", {"text": "edited on b"})
    b.notes.put("n2", {"text": "new on b"})
    b.client.sync()
    world.clock.advance(10)
    a.notes.delete("n2")  # a never saw n2: its tombstone is newer, so n2 is gone everywhere
    a.client.sync()
    b.client.sync()
    a.client.sync()
    assert dict(a.notes.records()) == dict(b.notes.records())
    assert a.notes.get("n1") == {"id": "n1", "text": "edited on b"}
    assert a.notes.get("n2") is None
    # Each device lists the other in the clients collection.
    names_seen_by_a = {c.get("name") for c in a.client.engines[0].clients()}  # type: ignore[attr-defined]
    assert "device b" in names_seen_by_a


def test_disconnect_forgets_everything_locally(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "x"})
    a.client.sync()
    a.client.disconnect()
    assert a.client.store.node_assignment() is None
    assert a.client.store.token(KeyBundle.from_kb(world.kb)) is None
    assert a.notes.get("n1") is None
    requests_of(a)
    result = a.client.sync()  # starts over as a new device: token, then the stored setup
    assert requests_of(a)[0] == ("GET", "/1.0/sync/1.5")
    assert result.outcome == "ok"
    assert a.notes.get("n1") == {"id": "n1", "text": "x"}


def test_no_secret_reaches_the_result_the_trace_or_a_repr(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "plaintext that stays local"})
    result = a.client.sync()
    token = a.client.store.token(KeyBundle.from_kb(world.kb))
    assert token is not None
    shown = json.dumps(result.trace) + repr(result) + repr(a.client) + json.dumps(result.engines)
    for secret in (world.account.access_token, token.id, token.key, world.kb.hex()):
        assert secret not in shown
    assert "plaintext that stays local" not in shown


def test_a_network_failure_ends_the_run_and_the_next_one_carries_on(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    a.notes.put("n1", {"text": "waits for the network"})

    def unplugged(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST":
            raise httpx.ConnectError("unplugged", request=request)
        return None

    a.wire.before.append(unplugged)
    with pytest.raises(TransportError):
        a.client.sync()
    assert a.client.last_result is not None
    assert a.client.last_result.states[-1] == "unreachable"
    assert a.client.last_result.engines["notes"]["state"] == "network_error"
    a.wire.before.clear()
    result = a.client.sync()
    assert result.engines["notes"]["uploaded"] == 1
    assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"n1"}
