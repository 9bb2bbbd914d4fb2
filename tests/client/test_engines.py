"""Engines: the Protocol, RecordEngine's last-writer-wins merge, ClientsEngine, convergence.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beacon._crypto import CollectionKeys, KeyBundle, decrypt_record, encrypt_record, key_id
from beacon._errors import UsageError
from beacon.client._engines import (
    CLIENTS_TTL,
    ApplyCounts,
    ClientsEngine,
    Engine,
    IncomingRecord,
    RecordEngine,
    StoreBound,
)
from beacon.client._storage import StorageClient
from beacon.client._store import Store
from beacon.client._tokenclient import TokenClient
from beacon.client._transport import Transport
from beacon.server import EmbeddedService


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "s.sqlite3") as s:
        s.unlock_records(KeyBundle.from_kb(bytes(32)))
        yield s


@pytest.fixture
def engine(store: Store, clock: Clock) -> RecordEngine:
    return RecordEngine("bookmarks", version=2, store=store, clock=clock)


def rec(record_id: str, modified: float, **fields: Any) -> IncomingRecord:
    return IncomingRecord(record_id, {"id": record_id, **fields}, modified)


def tombstone(record_id: str, modified: float) -> IncomingRecord:
    return IncomingRecord(record_id, {"id": record_id, "deleted": True}, modified)


def test_engines_satisfy_the_protocol(engine: RecordEngine, store: Store) -> None:
    clients = ClientsEngine("laptop", store=store)
    for candidate in (engine, clients):
        assert isinstance(candidate, Engine)
        assert isinstance(candidate, StoreBound)
    assert (engine.name, engine.version) == ("bookmarks", 2)
    assert (clients.name, clients.version) == ("clients", 1)


def test_local_edits_are_tracked_and_uploaded(engine: RecordEngine) -> None:
    engine.put("a", {"title": "A"})
    engine.put("b", {"title": "B", "id": "ignored"})
    engine.delete("b")
    engine.delete("never-existed")
    assert engine.get("a") == {"id": "a", "title": "A"}
    assert engine.get("b") is None
    assert list(engine.records()) == [("a", {"id": "a", "title": "A"})]
    out = {r.id: dict(r.cleartext) for r in engine.outgoing()}
    t = 1_700_000_000.0  # the clock never moved: every edit carries this edit time
    assert out == {
        "a": {"id": "a", "title": "A", "_edited": t},
        "b": {"id": "b", "deleted": True, "_edited": t},
        "never-existed": {"id": "never-existed", "deleted": True, "_edited": t},
    }
    engine.mark_uploaded(["a", "b"], 10.0)
    assert [r.id for r in engine.outgoing()] == ["never-existed"]


def test_an_edit_during_a_sync_stays_outgoing(engine: RecordEngine) -> None:
    engine.put("a", {"v": 1})
    (taken,) = engine.outgoing()
    engine.put("a", {"v": 2})  # edited while the upload of v1 was in flight
    engine.mark_uploaded([taken.id], 10.0)
    (again,) = engine.outgoing()
    assert again.cleartext["v"] == 2


def test_failed_uploads_stay_outgoing(engine: RecordEngine) -> None:
    engine.put("a", {})
    engine.put("b", {})
    engine.outgoing()
    engine.mark_uploaded(["a"], 10.0)
    assert [r.id for r in engine.outgoing()] == ["b"]


def test_remote_records_are_applied(engine: RecordEngine) -> None:
    counts = engine.apply_incoming([rec("a", 5.0, v=1), rec("b", 5.0, v=2), tombstone("c", 5.0)])
    assert counts == ApplyCounts(applied=3)
    assert dict(engine.records()) == {"a": {"id": "a", "v": 1}, "b": {"id": "b", "v": 2}}
    assert engine.outgoing() == []
    assert engine.apply_incoming([tombstone("a", 6.0)]) == ApplyCounts(applied=1)
    assert engine.get("a") is None
    assert engine.outgoing() == []


def test_applying_is_idempotent(engine: RecordEngine) -> None:
    page = [rec("a", 5.0, v=1), tombstone("b", 5.0)]
    engine.apply_incoming(page)
    assert engine.apply_incoming(page) == ApplyCounts(reconciled=2)
    assert dict(engine.records()) == {"a": {"id": "a", "v": 1}}


def test_last_writer_wins(engine: RecordEngine, clock: Clock) -> None:
    engine.apply_incoming([rec("a", clock.now, v="remote-1")])
    clock.tick(10)
    engine.put("a", {"v": "local"})  # edited at now
    # A remote copy written before our edit loses; ours will overwrite it.
    assert engine.apply_incoming([rec("a", clock.now - 5, v="remote-2")]) == ApplyCounts(
        reconciled=1
    )
    assert engine.get("a") == {"id": "a", "v": "local"}
    assert [r.id for r in engine.outgoing()] == ["a"]
    # A remote copy written after our edit wins, and our edit is no longer outgoing.
    assert engine.apply_incoming([rec("a", clock.now + 5, v="remote-3")]) == ApplyCounts(applied=1)
    assert engine.get("a") == {"id": "a", "v": "remote-3"}
    assert engine.outgoing() == []


def test_a_tie_goes_to_the_remote_copy(engine: RecordEngine, clock: Clock) -> None:
    engine.put("a", {"v": "local"})
    engine.apply_incoming([rec("a", clock.now, v="remote")])
    assert engine.get("a") == {"id": "a", "v": "remote"}


def test_a_local_deletion_beats_an_older_remote_edit(engine: RecordEngine, clock: Clock) -> None:
    engine.apply_incoming([rec("a", clock.now, v=1)])
    clock.tick(10)
    engine.delete("a")
    engine.apply_incoming([rec("a", clock.now - 1, v=2)])
    assert engine.get("a") is None
    assert [dict(r.cleartext) for r in engine.outgoing()] == [
        {"id": "a", "deleted": True, "_edited": clock.now}
    ]


def test_a_replayed_old_record_does_not_resurrect_a_deletion(engine: RecordEngine) -> None:
    engine.apply_incoming([rec("a", 5.0, v=1)])
    engine.apply_incoming([tombstone("a", 8.0)])
    assert engine.apply_incoming([rec("a", 5.0, v=1)]) == ApplyCounts(reconciled=1)
    assert engine.get("a") is None
    assert engine.outgoing() == []


def test_unusable_records_are_counted_failed(engine: RecordEngine) -> None:
    bad = [
        IncomingRecord("a", {"id": "other"}, 5.0),
        IncomingRecord("b,c", {"id": "b,c"}, 5.0),
        IncomingRecord("d", {"id": "d", "v": float("nan")}, 5.0),
    ]
    assert engine.apply_incoming([*bad, rec("ok", 5.0)]) == ApplyCounts(applied=1, failed=3)
    assert [i for i, _ in engine.records()] == ["ok"]


def test_reset_makes_everything_outgoing(engine: RecordEngine) -> None:
    engine.apply_incoming([rec("a", 5.0, v=1), tombstone("b", 5.0)])
    engine.put("c", {})
    engine.outgoing()
    engine.mark_uploaded(["c"], 6.0)
    engine.reset()
    assert sorted(r.id for r in engine.outgoing()) == ["a", "b", "c"]


def test_a_reuploaded_old_record_does_not_beat_a_newer_edit(
    engine: RecordEngine, clock: Clock
) -> None:
    # Found by the model campaign: after a reset another device re-uploads a tombstone we
    # already applied; the server stamps it later than our edit, yet it is no new change.
    engine.apply_incoming([tombstone("a", clock.now)])
    clock.tick(10)
    engine.put("a", {"v": "edited"})
    assert engine.apply_incoming([tombstone("a", clock.now + 50)]) == ApplyCounts(reconciled=1)
    assert engine.get("a") == {"id": "a", "v": "edited"}
    assert [dict(r.cleartext) for r in engine.outgoing()] == [
        {"id": "a", "v": "edited", "_edited": clock.now}
    ]


def test_after_a_wipe_the_later_edit_wins_whoever_uploads_last(
    engine: RecordEngine, clock: Clock
) -> None:
    # Found by the model campaign: storage was wiped elsewhere, and both devices re-upload
    # what they last agreed on; the server times say only who uploaded last, the carried edit
    # times say who edited last.
    engine.apply_incoming([rec("a", clock.now, v="old")])
    clock.tick(10)
    engine.put("a", {"v": "newer"})
    engine.outgoing()
    engine.mark_uploaded(["a"], clock.now)
    engine.reset()
    stale = IncomingRecord("a", {"id": "a", "deleted": True, "_edited": clock.now - 10}, 99e9)
    assert engine.apply_incoming([stale]) == ApplyCounts(reconciled=1)
    assert engine.get("a") == {"id": "a", "v": "newer"}
    assert [r.id for r in engine.outgoing()] == ["a"]
    later = IncomingRecord("a", {"id": "a", "v": "latest", "_edited": clock.now + 1}, 99e9 + 1)
    assert engine.apply_incoming([later]) == ApplyCounts(applied=1)
    assert engine.get("a") == {"id": "a", "v": "latest"}  # the carried field stays on the wire
    assert engine.outgoing() == []


def test_the_edit_time_field_is_reserved(engine: RecordEngine) -> None:
    with pytest.raises(UsageError, match="_edited"):
        engine.put("a", {"_edited": 5})


def test_after_a_reset_a_record_the_server_holds_unchanged_is_not_uploaded_again(
    engine: RecordEngine,
) -> None:
    engine.apply_incoming([rec("a", 5.0, v=1)])
    engine.reset()
    assert engine.apply_incoming([rec("a", 9.0, v=1)]) == ApplyCounts(reconciled=1)
    assert engine.outgoing() == []


def test_when_both_sides_changed_the_later_edit_wins(engine: RecordEngine, clock: Clock) -> None:
    engine.apply_incoming([rec("a", clock.now, v="base")])
    clock.tick(10)
    engine.put("a", {"v": "mine"})
    assert engine.apply_incoming([rec("a", clock.now - 1, v="theirs")]) == ApplyCounts(reconciled=1)
    assert engine.get("a") == {"id": "a", "v": "mine"}
    assert engine.apply_incoming([rec("a", clock.now + 1, v="later")]) == ApplyCounts(applied=1)
    assert engine.get("a") == {"id": "a", "v": "later"}


def test_wipe_local(engine: RecordEngine) -> None:
    engine.put("a", {})
    engine.wipe_local()
    assert list(engine.records()) == []
    assert engine.outgoing() == []


def test_ttl_is_passed_on(store: Store) -> None:
    history = RecordEngine("history", store=store, ttl=5_184_000)
    history.put("h", {})
    (out,) = history.outgoing()
    assert (out.id, out.ttl, set(out.cleartext)) == ("h", 5_184_000, {"id", "_edited"})


@pytest.mark.parametrize("name", ["", "a/b", "x" * 33, "meta", "crypto", "clients"])
def test_bad_or_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        RecordEngine(name)


def test_bad_local_input_is_refused(engine: RecordEngine) -> None:
    for bad_id in ("", "a,b", "é", "x" * 65):
        with pytest.raises(UsageError):
            engine.put(bad_id, {})
    with pytest.raises(UsageError):
        engine.put("a", ["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        engine.put("a", {"when": object()})
    with pytest.raises(UsageError):
        engine.put("a", {"deleted": True})


def test_an_unattached_engine_says_so(store: Store) -> None:
    detached = RecordEngine("tabs")
    with pytest.raises(UsageError, match="not attached"):
        detached.put("a", {})
    detached.attach(store)
    detached.put("a", {})
    assert detached.get("a") == {"id": "a"}


# -- the clients engine (§4.6) -----------------------------------------------------------------


def test_our_client_record_is_uploaded_once(store: Store, clock: Clock) -> None:
    clients = ClientsEngine("laptop", client_type="desktop", store=store, clock=clock)
    (out,) = clients.outgoing()
    assert out.id == store.client_id() == clients.client_id
    assert out.ttl == CLIENTS_TTL
    assert out.cleartext["name"] == "laptop"
    assert out.cleartext["type"] == "desktop"
    assert out.cleartext["protocols"] == ["1.5"]
    assert out.cleartext["commands"] == []
    clients.mark_uploaded([out.id], clock.now)
    assert clients.outgoing() == []
    assert store.client_name() == "laptop"


def test_our_record_is_reuploaded_when_changed_missing_or_old(store: Store, clock: Clock) -> None:
    clients = ClientsEngine("laptop", store=store, clock=clock)
    own = clients.own_record()
    clients.outgoing()
    clients.mark_uploaded([own["id"]], clock.now)
    # The server's copy differs (another client queued a command): upload ours again.
    queued = {**own, "commands": [{"command": "wipeAll", "args": []}]}
    clients.apply_incoming([IncomingRecord(own["id"], queued, clock.tick())])
    assert [r.id for r in clients.outgoing()] == [own["id"]]
    clients.mark_uploaded([own["id"]], clock.tick())
    assert clients.outgoing() == []
    # Identical copies coming back change nothing.
    clients.apply_incoming([IncomingRecord(own["id"], own, clock.now)])
    assert clients.outgoing() == []
    # A rename is a change.
    renamed = ClientsEngine("desk", store=store, clock=clock)
    assert [r.cleartext["name"] for r in renamed.outgoing()] == ["desk"]
    renamed.mark_uploaded([own["id"]], clock.tick())
    assert renamed.outgoing() == []
    # After a reset (node reassignment, new syncID) the server may not have it.
    renamed.reset()
    assert len(renamed.outgoing()) == 1
    renamed.mark_uploaded([own["id"]], clock.tick())
    # Before half the TTL runs out, it is refreshed.
    clock.tick(CLIENTS_TTL / 2 + 1)
    assert len(renamed.outgoing()) == 1


def test_other_clients_are_listed(store: Store, clock: Clock) -> None:
    clients = ClientsEngine("laptop", store=store, clock=clock)
    phone = {"id": "phone1", "name": "Phone", "type": "mobile", "protocols": ["1.5"]}
    tablet = {"id": "tab1", "name": "A tablet", "type": "tablet"}
    counts = clients.apply_incoming(
        [
            IncomingRecord("phone1", phone, 5.0),
            IncomingRecord("tab1", tablet, 5.0),
            IncomingRecord("junk", {"id": "junk", "name": 5}, 5.0),
        ]
    )
    assert counts == ApplyCounts(applied=2, failed=1)
    assert clients.clients() == [tablet, phone]
    clients.apply_incoming([IncomingRecord("tab1", {"id": "tab1", "deleted": True}, 6.0)])
    assert clients.clients() == [phone]
    clients.reset()
    assert clients.clients() == []


def test_bad_client_settings_are_refused() -> None:
    with pytest.raises(UsageError):
        ClientsEngine("")
    with pytest.raises(UsageError):
        ClientsEngine("x", client_type="toaster")


# -- two devices converge through the embedded service -----------------------------------------


class Device:
    """A minimal collection sync (download newer → apply → upload) for one engine."""

    def __init__(self, svc: EmbeddedService, account: Any, path: Path, clock: Clock) -> None:
        self.http = Transport(transport=svc.transport(), clock=clock)
        kb = bytes(range(32))
        token = TokenClient(self.http, svc.token_server_url).fetch(
            account.access_token, key_id=key_id(kb, account.keys_changed_at)
        )
        self.storage = StorageClient(self.http, token)
        self.store = Store(path)
        self.store.unlock_records(KeyBundle.from_kb(kb))
        self.engine = RecordEngine("bookmarks", store=self.store, clock=clock)

    def sync(self, keys: CollectionKeys) -> None:
        bundle = keys.bundle_for("bookmarks")
        last = self.store.collection_state("bookmarks").last_fetch or 0.0
        stream = self.storage.stream_collection("bookmarks", newer=last, page_size=2)
        for page in stream.pages():
            incoming = []
            for b in page.records:
                assert b.modified is not None  # the storage client guarantees it
                cleartext = decrypt_record(bundle, b.payload, bso_id=b.id)
                incoming.append(IncomingRecord(b.id, cleartext, b.modified))
            self.engine.apply_incoming(incoming)
        if stream.last_modified is not None:
            last = stream.last_modified
            self.store.set_last_fetch("bookmarks", last)
        outgoing = self.engine.outgoing()
        if outgoing:
            result = self.storage.post_records(
                "bookmarks",
                [{"id": r.id, "payload": encrypt_record(bundle, r.cleartext)} for r in outgoing],
                if_unmodified_since=last,
            )
            self.engine.mark_uploaded(result.success, result.modified)
            self.store.set_last_fetch("bookmarks", result.modified)


def test_two_devices_converge(tmp_path: Path) -> None:
    clock = Clock()
    keys = CollectionKeys.generate()
    with EmbeddedService(clock=clock) as svc:
        account = svc.create_account()
        a = Device(svc, account, tmp_path / "a.sqlite3", clock)
        b = Device(svc, account, tmp_path / "b.sqlite3", clock)
        a.engine.put("x", {"title": "X"})
        a.engine.put("y", {"title": "Y"})
        a.engine.put("z", {"title": "Z"})
        a.sync(keys)
        clock.tick()
        b.sync(keys)
        assert dict(b.engine.records()) == dict(a.engine.records())

        clock.tick()
        b.engine.put("x", {"title": "X by B"})
        a.engine.delete("y")
        clock.tick()
        a.sync(keys)
        clock.tick()
        b.sync(keys)  # gets the deletion of y, uploads its edit of x
        clock.tick()
        a.sync(keys)
        assert dict(a.engine.records()) == dict(b.engine.records())
        assert dict(a.engine.records()) == {
            "x": {"id": "x", "title": "X by B"},
            "z": {"id": "z", "title": "Z"},
        }
        # y is deleted everywhere and stays deleted: B did not upload its old copy.
        stored = decrypt_record(
            keys.bundle_for("bookmarks"),
            svc.faults.records(account.fxa_uid, "bookmarks")["y"]["payload"],
        )
        assert stored.pop("_edited") < clock.now  # A's deletion, with when A made it
        assert stored == {"id": "y", "deleted": True}

        # Concurrent edits of z: the devices agree on one of them (the remote side's time is
        # when it reached the server), and nothing stays outgoing.
        clock.tick()
        a.engine.put("z", {"title": "Z by A"})
        clock.tick(5)
        b.engine.put("z", {"title": "Z by B"})
        clock.tick()
        a.sync(keys)
        clock.tick()
        b.sync(keys)
        clock.tick()
        a.sync(keys)
        assert a.engine.get("z") == b.engine.get("z")
        assert a.engine.outgoing() == []
        assert b.engine.outgoing() == []
        a.store.close()
        b.store.close()
