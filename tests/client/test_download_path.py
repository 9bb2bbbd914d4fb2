"""The download and upload paths: each record decoded once per layer and stored once.

A base equal to the payload is stored as a marker, not as a second sealed copy; a local edit
moves the old payload into the base; a page applied at once decides exactly as one record at
a time would; a schema-2 file (bases as copies) is upgraded and reads back the same; a full
listing read in one pass reads as the careful path does, hostile bodies included; a POST body
carries what pydantic's dump would.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beacon._crypto import KeyBundle
from beacon._errors import ProtocolViolation
from beacon._models import Bso
from beacon.client._batch import _wire
from beacon.client._engines import IncomingRecord, RecordEngine
from beacon.client._paging import downloaded
from beacon.client._records import Records
from beacon.client._sealed import SAME_AS_PAYLOAD
from beacon.client._sqlite import SCHEMA_VERSION
from beacon.client._storage import _full_listing
from beacon.client._store import Store
from beacon.client._transport import Response

ROOT = KeyBundle.from_kb(bytes(range(32)))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "s.sqlite3") as s:
        s.unlock_records(ROOT)
        yield s


def _engine(store: Store) -> RecordEngine:
    return RecordEngine("notes", store=store, clock=Clock())


def _remote(record_id: str, modified: float, **fields: Any) -> IncomingRecord:
    return IncomingRecord(record_id, {"id": record_id, **fields}, modified)


def _gone(record_id: str, modified: float) -> IncomingRecord:
    return IncomingRecord(record_id, {"id": record_id, "deleted": True}, modified)


def _stored_base(store: Store, record_id: str) -> Any:
    return store.execute(
        "SELECT base FROM records WHERE collection = 'notes' AND id = ?", (record_id,)
    )[0][0]


def _rows(store: Store) -> dict[str, tuple[Any, ...]]:
    """Every row of notes as the engines see it (payload and base opened)."""
    records = Records("notes")
    records.attach(store)
    ids = [r[0] for r in store.execute("SELECT id FROM records WHERE collection = 'notes'")]
    return {
        i: (
            row.payload,
            row.deleted,
            row.server_modified,
            row.changed,
            row.change_counter,
            row.base,
        )
        for i, row in records.rows(ids).items()
    }


def test_a_downloaded_record_is_stored_once_and_its_base_reads_as_its_payload(
    store: Store,
) -> None:
    engine = _engine(store)
    engine.apply_incoming([_remote("n1", 10.0, text="x" * 500)])
    assert _stored_base(store, "n1") == SAME_AS_PAYLOAD
    size = store.execute("SELECT length(payload) + length(base) FROM records")[0][0]
    assert size < 600  # one sealed copy of ~520 bytes and the marker, not two copies
    row = Records("notes")
    row.attach(store)
    read = row.row("n1")
    assert read is not None
    assert read.base == read.payload
    assert engine.get("n1") == {"id": "n1", "text": "x" * 500}


def test_a_local_edit_of_a_downloaded_record_keeps_the_server_content_as_its_base(
    store: Store,
) -> None:
    engine = _engine(store)
    engine.apply_incoming([_remote("n1", 10.0, text="server")])
    engine.put("n1", {"text": "mine"})
    assert isinstance(_stored_base(store, "n1"), bytes)  # the old payload, still sealed
    payload, _, _, changed, _, base = _rows(store)["n1"]
    assert changed
    assert '"mine"' in str(payload)
    assert '"server"' in str(base)
    # The server still holds our base, so only we changed it: the local edit stays outgoing.
    counts = engine.apply_incoming([_remote("n1", 11.0, text="server")])
    assert counts.reconciled == 1
    assert engine.get("n1") == {"id": "n1", "text": "mine"}
    assert [r.id for r in engine.outgoing()] == ["n1"]


def test_a_local_deletion_of_a_downloaded_record_keeps_its_base(store: Store) -> None:
    engine = _engine(store)
    engine.apply_incoming([_remote("n1", 10.0, text="server")])
    engine.delete("n1")
    payload, deleted, _, _, _, base = _rows(store)["n1"]
    assert payload is None
    assert deleted
    assert '"server"' in str(base)


def test_an_uploaded_record_is_stored_once(store: Store) -> None:
    engine = _engine(store)
    engine.put("n1", {"text": "mine"})
    engine.delete("n2")
    engine.outgoing()
    engine.mark_uploaded(["n1", "n2"], 20.0)
    assert _stored_base(store, "n1") == SAME_AS_PAYLOAD
    assert _stored_base(store, "n2") == "tombstone"
    rows = _rows(store)
    assert rows["n1"][5] == rows["n1"][0]
    assert rows["n1"][3] is False
    engine.put("n1", {"text": "again"})  # the uploaded content becomes the base
    assert '"mine"' in str(_rows(store)["n1"][5])


def _page(rnd: random.Random) -> list[IncomingRecord]:
    """Records over a few ids: repeats within the page, replays, tombstones, equal content."""
    page = []
    for _ in range(40):
        record_id = f"n{rnd.randrange(6)}"
        modified = float(rnd.randrange(1, 30))
        if rnd.random() < 0.2:
            page.append(_gone(record_id, modified))
        else:
            page.append(_remote(record_id, modified, v=rnd.randrange(3)))
    return page


@pytest.mark.parametrize("seed", range(8))
def test_a_page_applied_at_once_ends_as_one_record_at_a_time_would(
    tmp_path: Path, seed: int
) -> None:
    rnd = random.Random(seed)
    local = [(f"n{i}", {"v": rnd.randrange(3)}) for i in range(0, 6, 2)]
    pages = [_page(rnd) for _ in range(3)]
    outcomes: list[Any] = []
    for name in ("page", "single"):
        with Store(tmp_path / f"{name}.sqlite3") as s:
            s.unlock_records(ROOT)
            engine = _engine(s)
            engine.apply_incoming(pages[0][:5])
            engine.put_many(local)  # pending local edits meet the next pages
            counts = []
            for page in pages:
                if name == "page":
                    counts.append(engine.apply_incoming(page))
                else:
                    singles = [engine.apply_incoming([record]) for record in page]
                    total = singles[0]
                    for one in singles[1:]:
                        total = total + one
                    counts.append(total)
            outcomes.append((counts, _rows(s)))
    assert outcomes[0] == outcomes[1]


def test_a_schema_2_file_is_upgraded_and_its_records_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as s:
        s.unlock_records(ROOT)
        engine = _engine(s)
        engine.apply_incoming([_remote("down", 10.0, text="downloaded")])
        engine.put("up", {"text": "uploaded"})
        engine.outgoing()
        engine.mark_uploaded(["up"], 20.0)
        engine.put("edited", {"text": "old"})
        engine.outgoing()
        engine.mark_uploaded(["edited"], 21.0)
        engine.put("edited", {"text": "new"})
        before = _rows(s)
        # What schema 2 wrote: an upload's base a byte copy of the payload, a download's base
        # sealed on its own.
        seal = s.seal
        s.execute("UPDATE records SET base = payload WHERE id = 'up'")
        (down_payload,) = s.execute("SELECT payload FROM records WHERE id = 'down'")[0]
        opened = seal.open("notes", "down", down_payload)
        s.execute(
            "UPDATE records SET base = ? WHERE id = 'down'", (seal.seal("notes", "down", opened),)
        )
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with Store(path) as s:
        assert s.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        s.unlock_records(ROOT)
        assert _stored_base(s, "up") == SAME_AS_PAYLOAD  # the copy became the marker
        assert isinstance(_stored_base(s, "down"), bytes)  # sealed apart: kept as it was
        assert isinstance(_stored_base(s, "edited"), bytes)  # a real base: kept
        assert _rows(s) == before


# -- the listing read in one pass, the POST body without pydantic's dump ---------------------


def _careful(response: Response) -> tuple[Bso, ...] | str:
    """What the careful path (the bounded parser, then one BSO at a time) makes of a body."""
    try:
        body = response.json()
        if not isinstance(body, list):
            return "not a list"
        return tuple(downloaded(item, response.url) for item in body)
    except ProtocolViolation as exc:
        return str(exc)


def _fast(response: Response) -> tuple[Bso, ...] | str:
    try:
        return _full_listing(response)
    except ProtocolViolation as exc:
        return "not a list" if "not a list" in str(exc) else str(exc)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"id":"a","payload":"x","modified":1.5},{"id":"b","payload":"y","modified":2}]',
        b"[]",
        b'[{"id":"a","payload":"x","modified":1.5,"sortindex":3,"ttl":60,"collection":"c"}]',
        b'[{"id":"a","id":"b","payload":"x","modified":1.0}]',  # the last duplicate key wins
        b'[{"id":"a","payload":"x"}]',  # no modified time
        b'[{"id":"a","payload":"x","modified":1.001}]',
        b'[{"id":"a","payload":"x","modified":NaN}]',
        b'[{"id":"a","payload":"x","modified":1e400}]',
        b'[{"id":"a","payload":"x","modified":1e308}]',  # finite, but not in hundredths
        b'[{"id":"a","payload":"\\ud800","modified":1.0}]',  # a lone surrogate
        b'[{"id":"a","payload":"\xff","modified":1.0}]',  # not UTF-8
        b'[{"id":"a","payload":"x","modified":1.0}] trailing',
        b'[{"id":"a","payload":"x","modified":1.0,"extra":[[[[1]]]]}]',
        b'[{"id":"a","payload":1,"modified":1.0}]',
        b"[" * 150 + b"]" * 150,
        b'{"id":"a"}',
        b"[1]",
        b'[{"id":"bad\\nid","payload":"x","modified":1.0}]',
    ],
)
def test_a_listing_read_in_one_pass_reads_as_the_careful_path_does(body: bytes) -> None:
    response = Response("GET", "https://node/storage/c", 200, {"x-weave-timestamp": "9.00"}, body)
    assert _fast(response) == _careful(response)


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "a", "payload": "x"},
        {"id": "a", "payload": "x", "sortindex": 0, "ttl": 0},
        {"id": "a", "payload": "", "modified": 3.5, "collection": "c", "ttl": 9},
    ],
)
def test_a_post_carries_what_the_model_dump_would(fields: dict[str, Any]) -> None:
    bso = Bso.model_validate(fields)
    assert _wire(bso) == bso.model_dump(exclude_none=True, exclude={"modified", "collection"})
