"""A chart is read and checked once: per process by path and hash, across processes on disk.

The on-disk entry is only a shortcut: a damaged, stale or foreign one is ignored and the
document read again, and a cache that cannot be written changes nothing but the speed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from beacon._errors import ChartError
from beacon.charts import _load
from beacon.charts._check import analyse
from beacon.charts._load import Chart, chart_path, load_chart


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv("BEACON_CACHE_DIR", str(folder))
    saved = dict(_load._LOADED)
    _load._LOADED.clear()
    yield folder
    _load._LOADED.clear()
    _load._LOADED.update(saved)


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "charts" / "token.yaml"
    path.parent.mkdir()
    shutil.copy(chart_path("token"), path)
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every time the document is really read and checked (not taken from a cache)."""
    seen: list[Path] = []

    def counting(path: Path, services: object = None) -> object:
        seen.append(path)
        return analyse(path)

    monkeypatch.setattr(_load, "analyse", counting)
    return seen


def _new_process() -> None:
    _load._LOADED.clear()  # what a new process starts with


def _same(a: Chart, b: Chart) -> None:
    assert a.digest == b.digest
    assert a.structure.states.keys() == b.structure.states.keys()
    assert [t.id for s in a.structure.states.values() for t in s.transitions] == [
        t.id for s in b.structure.states.values() for t in s.transitions
    ]
    assert a.roles == b.roles
    assert a.warnings == b.warnings
    assert sorted(a.transition_ids.values()) == sorted(b.transition_ids.values())


def _entry(cache: Path) -> Path:
    (entry,) = cache.glob("*.json")
    return entry


def test_a_chart_is_read_once_per_process(cache: Path, doc: Path, reads: list[Path]) -> None:
    first = load_chart(doc)
    assert load_chart(doc) is first
    assert reads == [doc]


def test_an_edited_document_is_read_again_not_served_from_memory(
    cache: Path, doc: Path, reads: list[Path]
) -> None:
    first = load_chart(doc)
    doc.write_text(doc.read_text() + "\n# edited\n")
    second = load_chart(doc)
    assert second is not first
    assert second.digest != first.digest
    assert len(reads) == 2


def test_another_process_builds_the_chart_from_the_cache_without_reading_it(
    cache: Path, doc: Path, reads: list[Path]
) -> None:
    first = load_chart(doc)
    _new_process()
    second = load_chart(doc)
    assert reads == [doc]  # the second load skipped the parse and the checks
    assert second is not first
    _same(first, second)
    assert second.machine_class is not first.machine_class  # built afresh, never unpickled


def test_a_cached_chart_still_runs(cache: Path) -> None:
    load_chart(chart_path("token"))
    _new_process()
    chart = load_chart(chart_path("token"))
    assert chart.machine_class is not None
    assert set(chart.roles) == {s for s, info in chart.structure.states.items() if info.final}


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace('"token"', '"tokem"', 1),  # a byte changed, checksum stale
        lambda text: "[]",  # not an entry at all
        lambda text: json.dumps({"checksum": "0" * 64, "body": {}}),
    ],
)
def test_a_damaged_entry_is_ignored_and_rewritten(
    cache: Path, doc: Path, reads: list[Path], damage: object
) -> None:
    first = load_chart(doc)
    entry = _entry(cache)
    entry.write_text(damage(entry.read_text()))  # type: ignore[operator]
    _new_process()
    again = load_chart(doc)
    assert len(reads) == 2  # read from the document, not from the damaged entry
    _same(first, again)
    _new_process()
    load_chart(doc)
    assert len(reads) == 2  # the rewritten entry serves the next process


def test_an_entry_with_a_valid_checksum_for_another_file_is_not_used(
    cache: Path, doc: Path, reads: list[Path]
) -> None:
    load_chart(doc)
    entry = _entry(cache)
    other = doc.with_name("other.yaml")
    shutil.copy(chart_path("collection"), other)
    load_chart(other)
    # Put the token chart's (self-consistent) entry where the collection chart's would be.
    (other_entry,) = set(cache.glob("*.json")) - {entry}
    other_entry.write_text(entry.read_text())
    _new_process()
    chart = load_chart(other)
    assert chart.name == load_chart(chart_path("collection")).name != "token"
    assert len(reads) == 4  # other.yaml was read again: the entry's key is not its own


def test_an_entry_of_another_library_version_is_stale(
    cache: Path, doc: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_chart(doc)
    _new_process()
    monkeypatch.setattr(_load, "_versions", lambda: "beacon=9,python-statemachine=9")
    load_chart(doc)
    assert len(reads) == 2


def test_an_unwritable_or_disabled_cache_changes_nothing_but_the_speed(
    tmp_path: Path, doc: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for setting in (str(blocker / "cache"), "off"):
        monkeypatch.setenv("BEACON_CACHE_DIR", setting)
        _new_process()
        assert load_chart(doc).name
    assert len(reads) == 2
    assert not (tmp_path / "off").exists()


def test_a_broken_document_is_never_cached(cache: Path, tmp_path: Path, reads: list[Path]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("states: [not, a, mapping")
    for _ in range(2):
        _new_process()
        with pytest.raises(ChartError):
            load_chart(broken)
    assert len(reads) == 2
    assert not cache.exists() or not list(cache.glob("*.json"))


def test_the_cache_keeps_a_bounded_number_of_entries(
    cache: Path, doc: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_load, "_CACHE_ENTRIES", 3)
    for n in range(5):  # five versions of the document, as edits or upgrades leave them
        doc.write_text(doc.read_text() + f"\n# version {n}\n")
        load_chart(doc)
    assert len(list(cache.glob("*.json"))) == 3
    _new_process()
    load_chart(doc)
    assert len(reads) == 5  # the newest entry was kept: a hit, no sixth read


def test_a_chart_from_the_cache_needs_no_yaml_parser_nor_checker(cache: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from beacon.charts import load_chart\n"
        "for name in ('session', 'token', 'collection'):\n"
        "    load_chart(name)\n"
        "print(' '.join(m for m in ('yaml', 'jsonschema', 'beacon.charts._check')"
        " if m in sys.modules))\n"
    )

    def loaded() -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        return done.stdout.strip()

    assert "yaml" in loaded().split()  # the first process reads and checks the documents
    assert loaded() == ""  # the next one builds them from the cache alone
