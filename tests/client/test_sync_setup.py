"""meta/global arithmetic (``beacon.client._setup``): fresh records, fix-ups, the declined merge."""

from __future__ import annotations

import random

from beacon.client._setup import (
    DEFAULT_ENGINES,
    STORAGE_VERSION,
    fixup_meta_global,
    fresh_meta_global,
    merge_declined,
    new_sync_id,
)


def rng() -> random.Random:
    return random.Random(3)


def test_sync_ids_are_twelve_url_safe_characters() -> None:
    ids = {new_sync_id(rng().randbytes) for _ in range(3)} | {new_sync_id()}
    assert all(len(i) == 12 and "+" not in i and "/" not in i for i in ids)


def test_a_fresh_meta_global_keeps_every_known_engine_but_the_declined() -> None:
    previous = {"engines": {"recipes": {"version": 3, "syncID": "old-old-old-"}, "tabs": {}}}
    record = fresh_meta_global(
        previous, local_engines={"notes": 1}, declined={"passwords"}, rng=rng().randbytes
    )
    assert record["storageVersion"] == STORAGE_VERSION
    engines = record["engines"]
    assert set(engines) == (set(DEFAULT_ENGINES) | {"recipes", "notes"}) - {"passwords"}
    assert engines["recipes"]["version"] == 3  # an engine we do not sync keeps its version
    assert engines["recipes"]["syncID"] != "old-old-old-"  # but gets a fresh syncID
    assert engines["tabs"]["version"] == DEFAULT_ENGINES["tabs"]
    assert record["declined"] == ["passwords"]
    assert len({e["syncID"] for e in engines.values()} | {record["syncID"]}) == len(engines) + 1


def test_the_remote_declined_list_wins_over_the_local_one() -> None:
    merge = merge_declined(["forms"], ["history"])
    assert merge.declined == {"forms"}
    assert merge.local_resets == {"forms"}


def test_without_a_remote_list_the_local_one_is_kept() -> None:
    assert merge_declined(None, ["history"]).declined == {"history"}
    assert merge_declined(None, None).declined == frozenset()


def test_user_changes_win_over_both() -> None:
    merge = merge_declined(
        ["forms", "tabs"], ["forms", "tabs"], user_enabled=["tabs"], user_disabled=["history"]
    )
    assert merge.declined == {"forms", "history"}
    assert merge.local_resets == {"history"}


def test_fixup_removes_declined_entries_and_adds_our_missing_engines() -> None:
    record = {
        "syncID": "global-id-00",
        "storageVersion": 5,
        "engines": {"forms": {"version": 1, "syncID": "forms-id-000"}},
        "declined": [],
    }
    fixed, changed = fixup_meta_global(
        record, declined={"forms"}, local_engines={"notes": 2, "forms": 1}, rng=rng().randbytes
    )
    assert changed
    assert set(fixed["engines"]) == {"notes"}
    assert fixed["engines"]["notes"]["version"] == 2
    assert fixed["declined"] == ["forms"]
    assert record["engines"] == {"forms": {"version": 1, "syncID": "forms-id-000"}}  # untouched
    again, changed_again = fixup_meta_global(
        fixed, declined={"forms"}, local_engines={"notes": 2, "forms": 1}
    )
    assert not changed_again
    assert again == fixed


def test_fixup_reports_a_change_of_the_declined_list_alone() -> None:
    # Only the declined list differs (no engine to add or remove): meta/global must still be
    # written back, or other devices never learn the user's choice (a mutant that dropped
    # this flag survived make mutate).
    record = {
        "syncID": "global-id-00",
        "storageVersion": 5,
        "engines": {"notes": {"version": 1, "syncID": "notes-id-000"}},
        "declined": [],
    }
    fixed, changed = fixup_meta_global(record, declined={"tabs"}, local_engines={"notes": 1})
    assert changed is True
    assert fixed["declined"] == ["tabs"]
    same, unchanged = fixup_meta_global(fixed, declined={"tabs"}, local_engines={"notes": 1})
    assert unchanged is False
    assert same == fixed


def test_fixup_upgrades_an_engine_written_by_an_older_version() -> None:
    record = {
        "syncID": "global-id-00",
        "storageVersion": 5,
        "engines": {"notes": {"version": 1, "syncID": "notes-id-000"}},
        "declined": [],
    }
    fixed, changed = fixup_meta_global(
        record, declined=set(), local_engines={"notes": 2}, rng=rng().randbytes
    )
    assert changed
    assert fixed["engines"]["notes"]["version"] == 2
    assert fixed["engines"]["notes"]["syncID"] != "notes-id-000"
    newer, _ = fixup_meta_global(
        {**record, "engines": {"notes": {"version": 3, "syncID": "notes-id-000"}}},
        declined=set(),
        local_engines={"notes": 2},
    )
    assert newer["engines"]["notes"] == {"version": 3, "syncID": "notes-id-000"}  # never down
