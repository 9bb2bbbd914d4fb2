"""Commands in the clients collection (docs/protocol.md §4.6): what another client queues in
our record runs once and is cleared from it, every other field kept; unsupported ones stay;
our own commands reach other clients through the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beacon._crypto import KeyBundle
from beacon._errors import UsageError
from beacon.client._engines import ClientsEngine, IncomingRecord, RecordEngine
from beacon.client._store import Store
from tests.client.sync_world import Device, World

NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now

    def tick(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "s.sqlite3") as s:
        s.unlock_records(KeyBundle.from_kb(bytes(32)))
        yield s


class Engines:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.clock = clock
        self.notes = RecordEngine("notes", store=store, clock=clock)
        self.bookmarks = RecordEngine("bookmarks", store=store, clock=clock)
        self.clients = ClientsEngine("laptop", store=store, clock=clock)
        self.clients.bind_engines([self.clients, self.notes, self.bookmarks])
        self.store = store

    def synced(self, engine: RecordEngine, *ids: str) -> None:
        """Records the server has, and the engine's last fetch and syncID."""
        for i in ids:
            engine.put(i, {"text": i})
        out = engine.outgoing()
        engine.mark_uploaded([r.id for r in out], self.clock.tick())
        self.store.set_collection_sync_id(engine.name, "syncid123456")
        self.store.set_last_fetch(engine.name, self.clock.now)

    def queue(self, *commands: dict[str, Any], **extra: Any) -> IncomingRecord:
        """Our record as the server has it after another client queued ``commands``."""
        own = self.clients.own_record()
        record = {**own, **extra, "commands": list(commands)}
        return IncomingRecord(own["id"], record, self.clock.tick())


@pytest.fixture
def engines(store: Store, clock: Clock) -> Engines:
    return Engines(store, clock)


def test_reset_engine_forgets_that_engines_sync_state_only(engines: Engines) -> None:
    engines.synced(engines.notes, "n1")
    engines.synced(engines.bookmarks, "b1")
    engines.clients.apply_incoming([engines.queue({"command": "resetEngine", "args": ["notes"]})])
    assert engines.store.collection_state("notes").last_fetch is None
    assert engines.store.collection_state("bookmarks").last_fetch is not None
    assert [r.id for r in engines.notes.outgoing()] == ["n1"]  # re-uploaded after a reset
    assert engines.bookmarks.outgoing() == []
    assert engines.notes.get("n1") == {"id": "n1", "text": "n1"}  # nothing deleted


def test_wipe_engine_deletes_local_data_without_tombstones_and_resets(engines: Engines) -> None:
    engines.synced(engines.notes, "n1")
    engines.notes.put("n2", {"text": "not uploaded yet"})
    engines.synced(engines.bookmarks, "b1")
    engines.clients.apply_incoming([engines.queue({"command": "wipeEngine", "args": ["notes"]})])
    assert dict(engines.notes.records()) == {}
    assert engines.notes.outgoing() == []  # no deletions go to the server
    assert engines.store.collection_state("notes").last_fetch is None  # all comes back
    assert engines.bookmarks.get("b1") is not None


def test_reset_all_and_wipe_all_reach_every_engine(engines: Engines) -> None:
    engines.synced(engines.notes, "n1")
    engines.synced(engines.bookmarks, "b1")
    engines.clients.apply_incoming([engines.queue({"command": "resetAll", "args": []})])
    assert {r.id for r in engines.notes.outgoing() + engines.bookmarks.outgoing()} == {"n1", "b1"}
    engines.clients.apply_incoming([engines.queue({"command": "wipeAll", "args": []})])
    assert dict(engines.notes.records()) == {}
    assert dict(engines.bookmarks.records()) == {}


def test_executed_commands_are_cleared_and_every_other_field_is_kept(engines: Engines) -> None:
    incoming = engines.queue(
        {"command": "resetAll", "args": []},
        {"command": "repairRequest", "args": [{"collection": "bookmarks"}]},
        {"command": "futureCommand", "args": ["x"]},
        {"command": "resetEngine", "args": ["history"]},  # an engine this client lacks
        "not a command",  # type: ignore[arg-type]
        fxaDeviceId="abc123",
        os="Linux",
        futureField={"nested": [1, 2]},
    )
    engines.clients.apply_incoming([incoming])
    (out,) = engines.clients.outgoing()
    sent = dict(out.cleartext)
    assert sent["commands"] == [
        {"command": "futureCommand", "args": ["x"]},
        {"command": "resetEngine", "args": ["history"]},
    ]
    for name in ("fxaDeviceId", "os", "futureField", "name", "type", "protocols", "id"):
        assert sent[name] == incoming.cleartext[name]
    engines.clients.mark_uploaded([out.id], engines.clock.tick())
    assert engines.clients.outgoing() == []


def test_display_uri_and_logout_are_recorded_and_cleared(engines: Engines) -> None:
    engines.clients.apply_incoming(
        [
            engines.queue(
                {
                    "command": "displayURI",
                    "args": ["https://example.com/", "phone1", "Ex"],
                    "flowID": "f1",
                },
                {"command": "logout", "args": []},
                {"command": "displayURI", "args": []},  # nothing to open: dropped
            )
        ]
    )
    received = engines.clients.received_commands()
    assert [(c["command"], c["args"]) for c in received] == [
        ("displayURI", ["https://example.com/", "phone1", "Ex"]),
        ("logout", []),
    ]
    assert received[0]["flowID"] == "f1"
    assert engines.clients.logout_requested
    (out,) = engines.clients.outgoing()
    assert out.cleartext["commands"] == []
    engines.clients.clear_received()
    assert not engines.clients.logout_requested


def test_the_same_record_seen_again_does_not_run_its_commands_twice(engines: Engines) -> None:
    engines.synced(engines.notes, "n1")
    incoming = engines.queue({"command": "wipeEngine", "args": ["notes"]})
    engines.clients.apply_incoming([incoming])
    engines.notes.put("n9", {"text": "written after the wipe"})
    engines.clients.apply_incoming([incoming])  # a crash before the upload: downloaded again
    assert engines.notes.get("n9") is not None
    (out,) = engines.clients.outgoing()
    assert out.cleartext["commands"] == []


def test_sending_a_command_checks_it_and_queues_it_once(engines: Engines) -> None:
    phone = {"id": "phone1", "name": "Phone", "type": "mobile", "os": "Android"}
    engines.clients.apply_incoming([IncomingRecord("phone1", phone, engines.clock.tick())])
    engines.clients.send_command("phone1", "wipeEngine", ["bookmarks"], flow_id="fl")
    engines.clients.send_command("phone1", "wipeEngine", ["bookmarks"])
    with pytest.raises(UsageError):
        engines.clients.send_command("phone1", "wipeEngine")
    with pytest.raises(UsageError):
        engines.clients.send_command("phone1", "repairRequest", ["x"])
    with pytest.raises(UsageError):
        engines.clients.send_command("nobody", "resetAll")
    with pytest.raises(UsageError):
        engines.clients.send_command(engines.clients.client_id, "resetAll")
    # a newer copy of the phone's record arrives before our upload: the command stays
    newer = {**phone, "name": "Phone 2"}
    engines.clients.apply_incoming([IncomingRecord("phone1", newer, engines.clock.tick())])
    sent = {r.id: r.cleartext for r in engines.clients.outgoing()}
    assert sent["phone1"]["name"] == "Phone 2"
    assert sent["phone1"]["os"] == "Android"
    assert sent["phone1"]["commands"] == [
        {"command": "wipeEngine", "args": ["bookmarks"], "flowID": "fl"}
    ]


# -- end to end: two devices through the embedded service --------------------------------------


def _clients(device: Device) -> ClientsEngine:
    engine = device.client.engines[0]
    assert isinstance(engine, ClientsEngine)
    return engine


def _server_record(world: World, watcher: Device, client_id: str) -> dict[str, Any]:
    watcher.client.sync()
    (found,) = [c for c in _clients(watcher).clients() if c["id"] == client_id]
    return found


def test_a_wipe_sent_from_one_device_runs_on_the_other_and_is_cleared(world: World) -> None:
    laptop, phone = world.device("laptop"), world.device("phone")
    laptop.notes.put("n1", {"text": "on the server"})
    laptop.client.sync()
    phone.client.sync()
    laptop_id = _clients(laptop).client_id
    _clients(phone).send_command(laptop_id, "wipeEngine", ["notes"])
    phone.client.sync()  # uploads the laptop's record with the command
    laptop.notes.put("local", {"text": "never uploaded"})
    world.clock.advance(1)
    result = laptop.client.sync()
    assert result.engines["notes"]["applied"] == 1  # everything downloaded again
    assert set(dict(laptop.notes.records())) == {"n1"}  # the local-only note went, unsent
    record = _server_record(world, phone, laptop_id)
    assert record["commands"] == []
    assert record["name"] == "device laptop"


def test_a_reset_sent_from_one_device_makes_the_other_download_and_upload_again(
    world: World,
) -> None:
    laptop, phone = world.device("laptop"), world.device("phone")
    for n in range(3):
        laptop.notes.put(f"n{n}", {"text": str(n)})
    laptop.client.sync()
    phone.client.sync()
    _clients(phone).send_command(_clients(laptop).client_id, "resetEngine", ["notes"])
    phone.client.sync()
    world.clock.advance(1)
    result = laptop.client.sync()
    assert result.engines["notes"]["downloaded"] == 3  # all of it again (else: none)
    assert result.engines["notes"]["uploaded"] == 0  # reconciled: the server has the same
    assert len(dict(laptop.notes.records())) == 3
    assert json.dumps(_server_record(world, phone, _clients(laptop).client_id)["commands"]) == "[]"
