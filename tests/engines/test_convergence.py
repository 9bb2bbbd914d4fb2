"""Two devices editing concurrently converge, whatever the interleaving (Hypothesis).

A small stand-in for the storage server (records by id with their ``modified`` time, fetched
"newer than the last fetch") lets each example run many syncs in milliseconds; the embedded
service runs the same engines in ``test_two_devices``. After random edits on both devices and
syncs in any order, a quiet period (each device syncs twice) leaves both devices with the same
data, and the bookmark trees valid.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from beacon._errors import UsageError
from beacon.client._engine_api import IncomingRecord
from beacon.client._store import Store
from beacon.client.engines import BookmarksEngine, HistoryEngine, PasswordsEngine
from beacon.client.engines._bookmark_tree import ROOTS, TreeItem, build_tree
from tests.engines.conftest import Clock


@dataclass
class Server:
    records: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)


@dataclass
class Device:
    engine: Any
    last: float = 0.0

    def sync(self, server: Server, clock: Clock) -> None:
        page = [
            IncomingRecord(i, c, m) for i, (c, m) in sorted(server.records.items()) if m > self.last
        ]
        self.engine.apply_incoming(page)
        out = self.engine.outgoing()
        now = clock.tick(1)
        for record in out:
            server.records[record.id] = ({**record.cleartext, "id": record.id}, now)
        self.engine.mark_uploaded([r.id for r in out], now)
        self.last = now


def _pair(cls: Any, store_a: Store, store_b: Store, clock: Clock) -> tuple[Device, Device]:
    for store in (store_a, store_b):
        store.execute("DELETE FROM records", ())
    a = Device(cls(store=store_a, clock=clock, rng=random.Random(1).randbytes))
    b = Device(cls(store=store_b, clock=clock, rng=random.Random(2).randbytes))
    return a, b


def _quiet(a: Device, b: Device, server: Server, clock: Clock) -> None:
    for device in (a, b, a, b):
        device.sync(server, clock)


ops = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5), st.integers(0, 10**6)), max_size=25)


def _bookmark_op(engine: BookmarksEngine, kind: int, pick: int) -> None:
    items = list(engine.items())
    folders = [i.id for i in items if i.is_folder]
    movable = [i.id for i in items if i.id not in ROOTS]
    try:
        if kind == 0:
            engine.create_bookmark(
                folders[pick % len(folders)], f"https://{pick}.example/", title=str(pick)
            )
        elif kind == 1:
            engine.create_folder(folders[pick % len(folders)], f"folder {pick}")
        elif kind == 2 and movable:
            engine.move(movable[pick % len(movable)], folders[(pick // 7) % len(folders)])
        elif kind == 3 and movable:
            engine.delete(movable[pick % len(movable)])
        elif kind == 4 and movable:
            engine.update(movable[pick % len(movable)], title=f"edited {pick}")
    except UsageError:
        pass  # e.g. a folder moved into itself: refused, nothing changed


@given(steps=ops)
def test_bookmark_trees_converge_and_stay_valid(
    steps: list[tuple[int, int, int]], shared_store: Store, second_store: Store
) -> None:
    clock = Clock()
    server = Server()
    a, b = _pair(BookmarksEngine, shared_store, second_store, clock)
    for who, kind, pick in steps:
        device = (a, b)[who]
        if kind == 5:
            device.sync(server, clock)
        else:
            clock.tick(1)
            _bookmark_op(device.engine, kind, pick)
    _quiet(a, b, server, clock)
    assert a.engine.tree() == b.engine.tree()
    for device in (a, b):
        items = {
            i.id: TreeItem(i.type, i.parentid, tuple(i.children or ()))
            for i in device.engine.items()
        }
        assert build_tree(items).counts.total() == 0
        assert device.engine.check_server_tree().total() == 0


@given(steps=ops)
def test_history_converges_on_the_union_of_visits(
    steps: list[tuple[int, int, int]], shared_store: Store, second_store: Store
) -> None:
    clock = Clock()
    server = Server()
    a, b = _pair(HistoryEngine, shared_store, second_store, clock)
    visits: dict[str, set[int]] = {}
    for who, kind, pick in steps:
        device = (a, b)[who]
        if kind == 5:
            device.sync(server, clock)
            continue
        url = f"https://{kind}.example/"
        at = clock.now - 1000 + pick % 997
        device.engine.visit(url, at=at)
        visits.setdefault(url, set()).add(int(at * 1000))
    _quiet(a, b, server, clock)
    for device in (a, b):
        got = {r.histUri: {v.date // 1000 for v in r.visits} for r in device.engine.records()}
        assert got == visits  # at most 25 visits per place here: none was dropped


@given(steps=ops)
def test_passwords_converge_and_keep_the_last_edit(
    steps: list[tuple[int, int, int]], shared_store: Store, second_store: Store
) -> None:
    clock = Clock()
    server = Server()
    a, b = _pair(PasswordsEngine, shared_store, second_store, clock)
    a.engine.add("https://a.example", "ada", "pw-0", form_submit_url="")
    _quiet(a, b, server, clock)
    (login,) = a.engine.records()
    last: tuple[str, str] | None = None
    written: dict[str, set[str]] = {
        "password": {"pw-0"},
        "username": {"ada"},
        "usernameField": {""},
    }
    for step, (who, kind, _) in enumerate(steps):
        device = (a, b)[who]
        if kind == 5:
            device.sync(server, clock)
            continue
        clock.tick(1)
        # Every edit writes a new value: an edit that changes nothing is no edit to merge.
        field_name = ("password", "username", "usernameField")[kind % 3]
        device.engine.update(login.id, **{field_name: f"{field_name}-{step}"})
        last = (field_name, f"{field_name}-{step}")
        written[field_name].add(last[1])
    _quiet(a, b, server, clock)
    (mine,) = a.engine.records()
    (theirs,) = b.engine.records()
    assert mine.to_wire() == theirs.to_wire()
    wire = mine.to_wire()
    assert all(wire[f] in values for f, values in written.items())  # nothing invented
    if last is not None:
        assert wire[last[0]] == last[1]  # the last edit of all survives
