"""Bulk local edits: ``RecordEngine.put_many`` into the store against a bare SQLite executemany.

A user seeding or importing notes writes many records at once. ``put_many`` checks each
record, serialises it, seals it (AES-256-GCM, :mod:`beacon.client._sealed`) and upserts every
row in one transaction. The baseline is the least code that lands the same rows in the same
table: one ``executemany`` of a plain ``INSERT`` of the already-serialised JSON, in one
transaction, on a fresh state file with the same schema and pragmas (``synchronous=FULL``).

Each round writes ``records`` notes with both, in alternating order, each into a fresh file;
the figure is the median over rounds of the pairwise ratio (so both sides of a ratio met the
same machine load) and the median edits/s. Targets: at least 20,000 edits/s, and at least
0.1 of the bare executemany (the rest is the per-record checks, JSON and sealing). A third
figure shows why the bulk API exists: ``put`` one record at a time, each its own transaction
(one synced disk write each), on a smaller sample.
"""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beacon._crypto import KeyBundle
from beacon.client import RecordEngine, Store
from bench._figures import figure

TARGET_RATE = 20_000.0
TARGET_RATIO = 0.1
ROOT = KeyBundle.from_kb(bytes(range(32)))


def _dumps(value: dict[str, Any]) -> str:
    """JSON text as the store writes a record's content (compact, sorted keys)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_notes(count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` note-like records of about 200 bytes of JSON each."""
    return [
        (f"note-{i:06d}", {"title": f"note {i}", "text": f"line {i} " * 20, "tags": ["seed"]})
        for i in range(count)
    ]


def _timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _bulk(path: Path, notes: list[tuple[str, dict[str, Any]]]) -> float:
    with Store(path) as store:
        store.unlock_records(ROOT)
        engine = RecordEngine("notes", store=store)
        seconds = _timed(lambda: engine.put_many(notes))
        if len(list(engine.records())) != len(notes):
            raise AssertionError("put_many lost records")
    return seconds


def _bare(path: Path, rows: list[tuple[Any, ...]]) -> float:
    with Store(path) as store:  # the same schema and pragmas, through the same file code
        conn = store.connection

        def write() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO records (collection, id, payload, deleted, local_modified, changed,"
                " change_counter) VALUES (?, ?, ?, 0, ?, 1, 1)",
                rows,
            )
            conn.execute("COMMIT")

        seconds = _timed(write)
        if conn.execute("SELECT count(*) FROM records").fetchone()[0] != len(rows):
            raise AssertionError("the bare loop lost rows")
    return seconds


def _one_by_one(path: Path, notes: list[tuple[str, dict[str, Any]]]) -> float:
    with Store(path) as store:
        store.unlock_records(ROOT)
        engine = RecordEngine("notes", store=store)

        def each() -> None:
            for i, r in notes:
                engine.put(i, r)

        return _timed(each)


def run(*, records: int = 20_000, rounds: int = 5, quick: bool = False) -> dict[str, Any]:
    """``rounds`` pairwise rounds of ``records`` bulk edits; see the module docstring."""
    if quick:
        records, rounds = min(records, 300), min(rounds, 2)
    notes = make_notes(records)
    rows = [("notes", i, _dumps({**r, "id": i}), 1.0) for i, r in notes]
    ratios: list[float] = []
    ours: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        for n in range(rounds):
            paths = (Path(tmp, f"bulk-{n}.sqlite3"), Path(tmp, f"bare-{n}.sqlite3"))
            if n % 2:
                b = _bare(paths[1], rows)
                o = _bulk(paths[0], notes)
            else:
                o = _bulk(paths[0], notes)
                b = _bare(paths[1], rows)
            ours.append(records / o)
            bare.append(records / b)
            ratios.append(b / o)
        sample = notes[: max(1, min(records, 200))]
        single = len(sample) / _one_by_one(Path(tmp, "single.sqlite3"), sample)
    rate = statistics.median(ours)
    return {
        "params": {"records": records, "rounds": rounds, "single_sample": len(sample)},
        "figures": [
            figure(
                "bulk local edits (put_many)",
                rate,
                "edits/s",
                target=TARGET_RATE,
                note="median of rounds; each round a fresh state file, one transaction",
            ),
            figure(
                "put_many vs bare executemany",
                rate,
                "edits/s",
                baseline=statistics.median(bare),
                baseline_name="bare SQLite executemany",
                ratio=statistics.median(ratios),
                target=TARGET_RATIO,
                note="median of pairwise ratios; ours also checks, serialises and seals",
            ),
            figure(
                "put, one transaction each",
                single,
                "edits/s",
                baseline=rate,
                baseline_name="put_many",
                note="one synced disk write per record: what put_many avoids",
            ),
        ],
    }
