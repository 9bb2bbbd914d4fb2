"""Edges of the services' I/O against the embedded service: per-collection keys, damaged and
misplaced records, the error a run refused twice raises. Each test
guards a mistake ``make mutate`` showed no other test would catch (docs/mutation.md)."""

from __future__ import annotations

import functools
import random
from pathlib import Path

import httpx
import pytest

from beacon import (
    AuthenticationError,
    ConflictError,
    RecordIntegrityError,
    SyncClient,
    TransportError,
)
from beacon._crypto import CollectionKeys, KeyBundle, decrypt_record, encrypt_record
from beacon.client import CLIENTS_TTL, PasswordsEngine, _session_service
from beacon.client._collection_service import CollectionService
from tests.client.sync_world import World, requests_of, tail


def _notes_key(world: World) -> KeyBundle:
    """Rotate crypto/keys on the server to give ``notes`` a bundle of its own."""
    root = KeyBundle.from_kb(world.kb)
    record = world.svc.faults.records(world.fxa_uid, "crypto")["keys"]
    keys = CollectionKeys.decrypt(root, record["payload"])
    notes = KeyBundle.generate()
    rotated = CollectionKeys(keys.default, {"notes": notes})
    world.svc.faults.put_record(world.fxa_uid, "crypto", "keys", rotated.encrypt(root))
    return notes


def test_a_collection_with_its_own_key_is_written_and_read_with_that_key(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    notes_key = _notes_key(world)
    world.clock.advance(1)
    a.notes.put("n1", {"text": "under the notes key"})
    a.client.sync()
    payload = world.svc.faults.records(world.fxa_uid, "notes")["n1"]["payload"]
    assert decrypt_record(notes_key, payload)["text"] == "under the notes key"
    default = CollectionKeys.decrypt(
        KeyBundle.from_kb(world.kb),
        world.svc.faults.records(world.fxa_uid, "crypto")["keys"]["payload"],
    ).default
    with pytest.raises(RecordIntegrityError):
        decrypt_record(default, payload)
    b = world.device("b")
    result = b.client.sync()
    assert result.engines["notes"]["failed"] == 0
    assert b.notes.get("n1") == {"id": "n1", "text": "under the notes key"}


def test_a_record_stored_under_another_id_is_refused(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    bundle = CollectionKeys.decrypt(
        KeyBundle.from_kb(world.kb),
        world.svc.faults.records(world.fxa_uid, "crypto")["keys"]["payload"],
    ).bundle_for("notes")
    # A well-encrypted record moved to another id (a swap a server could make): never applied.
    moved = encrypt_record(bundle, {"id": "n1", "text": "belongs to n1"})
    world.svc.faults.put_record(world.fxa_uid, "notes", "n2", moved)
    b = world.device("b")
    result = b.client.sync()
    assert result.engines["notes"]["failed_ids"] == ["n2"]
    assert b.notes.get("n2") is None
    assert b.notes.get("n1") is None


def test_every_damaged_record_is_counted_and_those_after_it_still_applied(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    for bad in ("bad1", "bad2"):
        wrong = encrypt_record(KeyBundle.generate(), {"id": bad, "text": "other key"})
        world.svc.faults.put_record(world.fxa_uid, "notes", bad, wrong)
        world.clock.advance(1)
    a.notes.put("good", {"text": "after the damage"})
    a.client.sync()  # uploaded last: the oldest-first download meets the damage first
    b = world.device("b")
    result = b.client.sync()
    counts = result.engines["notes"]
    assert counts["failed"] == 2
    assert counts["failed_ids"] == ["bad1", "bad2"]
    assert b.notes.get("good") == {"id": "good", "text": "after the damage"}


def test_a_run_refused_twice_by_storage_raises_the_servers_401(world: World) -> None:
    a = world.device("a")
    a.client.sync()

    def refuse_storage(request: httpx.Request) -> httpx.Response | None:
        if "/1.5/" in request.url.path:
            return httpx.Response(401, json={"status": "invalid-credentials"})
        return None

    a.wire.before.append(refuse_storage)
    with pytest.raises(AuthenticationError) as info:
        a.client.sync()
    assert info.value.status == 401  # the response's own error, not one made up at the end
    assert info.value.url is not None
    assert "/1.5/" in info.value.url


def test_losing_the_upload_race_twice_raises_the_servers_412(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.clock.advance(1)
    a.notes.put("mine", {"text": "never lands"})

    def refuse_posts(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.endswith("/storage/notes"):
            stamp = f"{world.clock.now:.2f}"
            return httpx.Response(412, headers={"X-Weave-Timestamp": stamp}, json={})
        return None

    a.wire.before.append(refuse_posts)
    with pytest.raises(ConflictError) as info:
        a.client.sync()
    assert info.value.status == 412  # the server's answer, carried to the caller


def test_an_upload_sends_the_records_ttl_and_sortindex(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    clients = world.svc.faults.records(world.fxa_uid, "clients")
    assert len(clients) == 1  # our client record, sent with CLIENTS_TTL
    world.clock.advance(CLIENTS_TTL + 1)
    assert world.svc.faults.records(world.fxa_uid, "clients") == {}  # it expired
    passwords = PasswordsEngine(clock=world.clock, rng=random.Random(1).randbytes)
    client = SyncClient(
        world.svc.token_server_url,
        world.account.access_token,
        world.kb,
        world.account.keys_changed_at,
        world.tmp / "p",
        engines=[passwords],
        transport=world.svc.transport(),
        clock=world.clock,
        rng=random.Random("p").randbytes,
    )
    try:
        login = passwords.add("https://example.test", "alice", "pw", form_submit_url="")
        client.sync()
    finally:
        client.close()
    assert world.svc.faults.records(world.fxa_uid, "passwords")[login.id]["sortindex"] == 1


def test_a_new_node_is_asked_for_its_own_upload_limits(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "first node"})
    a.client.sync()
    world.svc.faults.move_user(world.fxa_uid)
    requests_of(a)
    world.clock.advance(1)
    a.notes.put("n2", {"text": "second node"})
    assert a.client.sync().outcome == "ok"
    sent = [tail(p) for _, p in requests_of(a)]
    assert sent.count("info/configuration") == 1  # the old node's limits are not reused


def test_uploads_draw_their_randomness_from_the_clients_rng(tmp_path: Path) -> None:
    payloads = []
    for run in ("one", "two"):
        world = World(tmp_path / run)
        try:
            a = world.device("a")
            a.notes.put("n1", {"text": "the same bytes"})
            a.client.sync()
            payloads.append(world.svc.faults.records(world.fxa_uid, "notes")["n1"]["payload"])
        finally:
            world.close()
    assert payloads[0] == payloads[1]  # seeded IVs: a run is reproducible byte for byte


def test_records_failed_on_the_way_down_and_up_are_counted_together(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    wrong = encrypt_record(KeyBundle.generate(), {"id": "bad", "text": "other key"})
    world.svc.faults.put_record(world.fxa_uid, "notes", "bad", wrong)
    world.clock.advance(1)
    a.notes.put("huge", {"text": "x" * 3_000_000})  # over any server's record limit: not sent
    a.notes.put("fine", {"text": "small"})
    result = a.client.sync()
    counts = result.engines["notes"]
    assert counts["failed"] == 2  # one that did not verify, one the upload could not carry
    assert counts["failed_ids"] == ["bad", "huge"]
    assert counts["uploaded"] == 1


def test_an_engine_whose_key_rotated_downloads_its_collection_again(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "under the old key"})
    a.client.sync()
    world.clock.advance(1)
    _notes_key(world)
    result = a.client.sync()
    counts = result.engines["notes"]
    assert counts["reset"] is True
    assert counts["downloaded"] == 1  # the last-fetch mark went with the reset: read again
    assert a.client.store.collection_state("clients").last_fetch is not None  # untouched


def test_a_collection_service_pages_by_the_size_it_is_given(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = world.device("a")
    for n in range(5):
        a.notes.put(f"n{n}", {"text": str(n)})
    a.client.sync()
    sized = functools.partial(CollectionService, page_size=2)
    monkeypatch.setattr(_session_service, "CollectionService", sized)
    b = world.device("b")
    result = b.client.sync()
    pages = [p for m, p in requests_of(b) if m == "GET" and tail(p) == "storage/notes"]
    assert len(pages) == 3  # 2 + 2 + 1 records
    assert result.engines["notes"]["applied"] == 5


class _Unreachable:
    """An access-token source whose token the token server refuses and whose refresh fails."""

    def __call__(self) -> str:
        return "not-a-token-the-server-issued"

    def refresh(self) -> None:
        raise TransportError("the account server is unreachable")


def test_a_refusal_whose_refresh_failed_raises_an_authentication_error(world: World) -> None:
    a = world.device("a", access_token=_Unreachable())
    with pytest.raises(AuthenticationError):
        a.client.sync()
    assert a.client.last_result is not None
    assert a.client.last_result.states[-1] == "auth_failed"
