"""meta/global arithmetic (beacon.client._setup) on the records other devices may write: an
engine entry that is not an object, an entry without a version. The common paths are in
tests/client/test_sync_setup.py."""

from __future__ import annotations

import random

from beacon.client._setup import DEFAULT_ENGINES, fresh_meta_global, outdated_engines


def test_a_fresh_start_keeps_an_engine_whose_entry_is_not_an_object() -> None:
    previous = {"engines": {"recipes": "on", "tabs": ["x"]}}
    record = fresh_meta_global(
        previous, local_engines={}, declined=(), rng=random.Random(1).randbytes
    )
    assert record["engines"]["recipes"]["version"] == 0  # known, version unknown
    assert record["engines"]["tabs"]["version"] == DEFAULT_ENGINES["tabs"]


def test_a_fresh_start_gives_an_unknown_unversioned_engine_version_zero() -> None:
    previous = {
        "engines": {
            "recipes": {"syncID": "recipes-id-0"},
            "journal": {"version": "3", "syncID": "journal-id-0"},
            "bookmarks": {"syncID": "bookmarks-id"},
        }
    }
    record = fresh_meta_global(
        previous, local_engines={}, declined=(), rng=random.Random(1).randbytes
    )
    assert record["engines"]["recipes"]["version"] == 0
    assert record["engines"]["journal"]["version"] == 0
    # A default engine without a version keeps the default one.
    assert record["engines"]["bookmarks"]["version"] == DEFAULT_ENGINES["bookmarks"]


def test_an_entry_that_is_not_an_object_is_never_outdated() -> None:
    record = {"engines": {"notes": "on", "tabs": {"version": 0, "syncID": "tabs-id-0000"}}}
    assert outdated_engines(record, {"notes": 1, "tabs": 1}) == {"tabs"}
    assert outdated_engines({"engines": {"notes": {"syncID": "x"}}}, {"notes": 1}) == set()
    assert outdated_engines({"engines": {"notes": {"version": 1}}}, {"notes": 1}) == set()
    assert outdated_engines({"engines": {"recipes": {"version": 0}}}, {"notes": 1}) == set()
