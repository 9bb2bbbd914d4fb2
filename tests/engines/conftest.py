"""Fixtures of the typed-engine tests: a store, a clock the test moves, seeded ids."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from beacon._crypto import KeyBundle
from beacon.client._engine_api import IncomingRecord
from beacon.client._store import Store

# Records are sealed at rest under a key only kB opens; the tests' stores use this one.
ROOT = KeyBundle.from_kb(bytes(range(32)))


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
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
        s.unlock_records(ROOT)
        yield s


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store for a module's Hypothesis examples (each example wipes what it uses)."""
    with Store(tmp_path_factory.mktemp("shared") / "s.sqlite3") as s:
        s.connection.execute("PRAGMA synchronous = OFF")  # a scratch file: no fsync per commit
        s.unlock_records(ROOT)
        yield s


@pytest.fixture(scope="module")
def second_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Another scratch store, for a second device."""
    with Store(tmp_path_factory.mktemp("second") / "s.sqlite3") as s:
        s.connection.execute("PRAGMA synchronous = OFF")
        s.unlock_records(ROOT)
        yield s


@pytest.fixture
def rng() -> random.Random:
    return random.Random(5)


def incoming(cleartext: Mapping[str, Any], modified: float) -> IncomingRecord:
    """A downloaded record (the cleartext carries its id)."""
    return IncomingRecord(str(cleartext["id"]), cleartext, modified)


def tombstone(record_id: str, modified: float) -> IncomingRecord:
    return IncomingRecord(record_id, {"id": record_id, "deleted": True}, modified)
