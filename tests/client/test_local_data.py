"""Local data at rest (record payloads sealed under a kB-wrapped key) and bulk local edits."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from beacon._crypto import KeyBundle
from beacon._errors import UsageError
from beacon.client._client import STATE_FILE
from beacon.client._engines import RecordEngine
from beacon.client._sealed import SETTING
from beacon.client._store import Store
from tests.client.sync_world import World

ROOT = KeyBundle.from_kb(bytes(32))
SECRET = "hunter2-correct-horse-battery"
CARD = "4111111111111111"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "s.sqlite3") as s:
        s.unlock_records(ROOT)
        yield s


def _raw(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def test_a_copied_state_file_holds_no_plaintext_of_a_synced_secret(
    world: World, tmp_path: Path
) -> None:
    a = world.device("a", engines=("notes", "passwords"))
    passwords = next(e for e in a.client.engines if e.name == "passwords")
    assert isinstance(passwords, RecordEngine)
    passwords.put("login1", {"hostname": "https://bank.example", "password": SECRET})
    a.notes.put("n1", {"text": f"card {CARD}"})
    assert a.client.sync().outcome == "ok"
    b = world.device("b", engines=("notes", "passwords"))
    b.client.sync()  # b receives them: applied rows (with their bases) are sealed too
    a.client.sync()  # a receives b's client record
    for device, other in ((a, "device b"), (b, "device a")):
        device.client.close()
        copy = tmp_path / f"copy-{device.path.name}"
        shutil.copy(device.path / STATE_FILE, copy)
        data = copy.read_bytes()
        for plaintext in (SECRET, CARD, "bank.example", "hostname"):
            assert plaintext.encode() not in data, plaintext
        # Other devices' client records are sealed too (our own name is a plain setting).
        assert other.encode() not in data
    again = world.device("b", engines=("notes", "passwords"))
    got = next(e for e in again.client.engines if e.name == "passwords")
    assert isinstance(got, RecordEngine)
    assert got.get("login1") == {
        "id": "login1",
        "hostname": "https://bank.example",
        "password": SECRET,
    }


def test_records_stay_locked_until_the_store_is_unlocked(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as s:
        engine = RecordEngine("notes", store=s)
        with pytest.raises(UsageError, match="locked"):
            engine.put("n1", {"text": "x"})


def test_a_sealed_value_moved_to_another_row_does_not_open(store: Store) -> None:
    engine = RecordEngine("notes", store=store)
    engine.put("n1", {"text": "one"})
    engine.put("n2", {"text": "two"})
    store.execute(
        "UPDATE records SET payload = (SELECT payload FROM records WHERE id = 'n1') WHERE id = 'n2'"
    )
    with pytest.raises(UsageError, match="does not open") as err:
        engine.get("n2")
    assert str(store.path) in str(err.value)
    assert "beacon reset" in str(err.value)
    assert engine.get("n1") == {"id": "n1", "text": "one"}


def test_a_flipped_byte_of_a_sealed_payload_is_detected(store: Store) -> None:
    engine = RecordEngine("notes", store=store)
    engine.put("n1", {"text": "one"})
    (sealed,) = store.execute("SELECT payload FROM records")[0]
    damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    store.execute("UPDATE records SET payload = ?", (damaged,))
    with pytest.raises(UsageError, match="does not open"):
        list(engine.records())


def test_the_data_key_is_stored_only_wrapped_and_the_repr_shows_no_key(store: Store) -> None:
    (wrapped,) = store.execute("SELECT value FROM settings WHERE key = ?", (SETTING,))[0]
    assert "ciphertext" in wrapped  # the Sync record envelope under the kB-derived root
    assert "key" not in repr(store.seal).replace("data key", "")


def test_plaintext_rows_of_an_older_file_are_sealed_when_it_is_unlocked(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with Store(path) as s:
        # A row as a beacon without sealing wrote it: plaintext payload and base.
        s.execute(
            "INSERT INTO records (collection, id, payload, deleted, server_modified,"
            " local_modified, changed, change_counter, base) VALUES"
            " ('notes', 'n1', ?, 0, 10.0, 5.0, 0, 1, ?)",
            ('{"id":"n1","text":"old secret"}', '{"id":"n1","text":"old secret"}'),
        )
    with Store(path) as s:
        s.unlock_records(ROOT)
        assert RecordEngine("notes", store=s).get("n1") == {"id": "n1", "text": "old secret"}
    assert b"old secret" not in path.read_bytes()


def test_a_disconnect_keeps_the_store_usable(store: Store) -> None:
    engine = RecordEngine("notes", store=store)
    engine.put("n1", {"text": "before"})
    store.clear()
    engine.put("n2", {"text": "after"})
    store.unlock_records(ROOT)  # what the next process start does
    assert dict(engine.records()) == {"n2": {"id": "n2", "text": "after"}}


# -- bulk local edits ---------------------------------------------------------------------------


def test_put_many_writes_every_record_as_outgoing(store: Store) -> None:
    engine = RecordEngine("notes", store=store, clock=lambda: 100.0)
    count = engine.put_many((f"n{i}", {"text": f"note {i}"}) for i in range(50))
    assert count == 50
    assert len(dict(engine.records())) == 50
    outgoing = engine.outgoing()
    assert [r.id for r in outgoing] == sorted(f"n{i}" for i in range(50))
    assert all(r.cleartext["_edited"] == 100.0 for r in outgoing)


def test_put_many_with_one_bad_record_writes_none(store: Store) -> None:
    engine = RecordEngine("notes", store=store)
    engine.put("keep", {"text": "kept"})
    with pytest.raises(UsageError):
        engine.put_many([("n1", {"text": "ok"}), ("bad,id", {"text": "no"})])
    with pytest.raises(UsageError):
        engine.put_many([("n1", {"text": "ok"}), ("n2", {"x": {1, 2}})])
    assert dict(engine.records()) == {"keep": {"id": "keep", "text": "kept"}}


def test_a_transaction_commits_every_edit_or_none(store: Store) -> None:
    engine = RecordEngine("notes", store=store)
    engine.put("old", {"text": "old"})
    with engine.transaction():
        engine.put("n1", {"text": "one"})
        engine.delete("old")
    assert [i for i, _ in engine.records()] == ["n1"]

    def edit_then_fail() -> None:
        with engine.transaction():
            engine.put("n2", {"text": "two"})
            engine.delete("n1")
            raise RuntimeError("the caller's own failure")

    with pytest.raises(RuntimeError):
        edit_then_fail()
    assert [i for i, _ in engine.records()] == ["n1"]


def test_bulk_edits_keep_the_server_view_and_the_base(store: Store) -> None:
    from beacon.client._engine_api import IncomingRecord

    engine = RecordEngine("notes", store=store, clock=lambda: 50.0)
    engine.apply_incoming([IncomingRecord("n1", {"id": "n1", "text": "remote"}, 10.0)])
    engine.put_many([("n1", {"text": "local"})])
    # The server still holds our base: a replay of the same remote record keeps our edit.
    engine.apply_incoming([IncomingRecord("n1", {"id": "n1", "text": "remote"}, 10.0)])
    assert engine.get("n1") == {"id": "n1", "text": "local"}
    assert [r.id for r in engine.outgoing()] == ["n1"]


def test_delete_many_of_records_deleted_everywhere_changes_nothing(store: Store) -> None:
    from beacon.client._engine_api import IncomingRecord

    engine = RecordEngine("notes", store=store)
    engine.apply_incoming([IncomingRecord("gone", {"id": "gone", "deleted": True}, 10.0)])
    assert engine.delete_many(["gone", "n9"]) == 2
    assert [r.id for r in engine.outgoing()] == ["n9"]
