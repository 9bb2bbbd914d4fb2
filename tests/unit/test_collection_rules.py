"""The collection chart's decisions as pure functions (beacon/client/_collection_rules.py): an
engine's association with meta/global, whether a download page needs a request, which failed
ids are fetched again, what an outgoing record sends. Integration: tests/client."""

from __future__ import annotations

import pytest

from beacon.client._collection_rules import (
    association,
    chunks,
    download_needed,
    meta_entry,
    outgoing_fields,
    refetch_plan,
)

SYNC_ID = "abcdefghijkl"


def _meta(**fields: object) -> dict[str, object]:
    return {"engines": {"notes": {"version": 1, "syncID": SYNC_ID}}, "declined": [], **fields}


def test_an_engine_with_meta_globals_sync_id_is_connected() -> None:
    assert association(_meta(), "notes", version=1, sync_id=SYNC_ID) == "connected"


def test_declined_wins_over_an_entry() -> None:
    meta = _meta(declined=["notes"])
    assert association(meta, "notes", version=1, sync_id=SYNC_ID) == "declined"
    assert association(_meta(declined=["tabs"]), "notes", version=1, sync_id=SYNC_ID) == (
        "connected"
    )


@pytest.mark.parametrize(
    "meta",
    [
        None,
        {},
        {"engines": None},
        {"engines": ["notes"]},  # not an object
        {"engines": {"tabs": {"version": 1, "syncID": SYNC_ID}}},
        {"engines": {"notes": "on"}},  # an entry that is not an object
        {"engines": {"notes": {"version": 1}}},  # no syncID
        {"engines": {"notes": {"version": 1, "syncID": 5}}},
        {"engines": {}, "declined": None},
    ],
)
def test_no_usable_entry_is_not_in_meta_global(meta: dict[str, object] | None) -> None:
    assert association(meta, "notes", version=1, sync_id=SYNC_ID) == "not_in_meta_global"


def test_a_newer_engine_version_is_never_written_to() -> None:
    meta = _meta(engines={"notes": {"version": 2, "syncID": SYNC_ID}})
    assert association(meta, "notes", version=1, sync_id=SYNC_ID) == "version_too_new"
    assert association(meta, "notes", version=2, sync_id=SYNC_ID) == "connected"
    older = _meta(engines={"notes": {"version": 0, "syncID": SYNC_ID}})
    assert association(older, "notes", version=1, sync_id=SYNC_ID) == "connected"
    unversioned = _meta(engines={"notes": {"version": "2", "syncID": SYNC_ID}})
    assert association(unversioned, "notes", version=1, sync_id=SYNC_ID) == "connected"


def test_another_or_no_persisted_sync_id_is_a_sync_id_change() -> None:
    assert association(_meta(), "notes", version=1, sync_id="zzzzzzzzzzzz") == "sync_id_changed"
    assert association(_meta(), "notes", version=1, sync_id=None) == "sync_id_changed"


def test_meta_entry_reads_only_object_entries() -> None:
    assert meta_entry(_meta(), "notes") == {"version": 1, "syncID": SYNC_ID}
    assert meta_entry(_meta(), "tabs") is None
    assert meta_entry({"engines": {"notes": 1}}, "notes") is None
    assert meta_entry({"engines": "notes"}, "notes") is None
    assert meta_entry(None, "notes") is None


def test_a_first_page_is_fetched_only_when_info_collections_says_newer() -> None:
    assert download_needed(first_page=True, refetch=False, remote=11.0, last=10.0)
    assert not download_needed(first_page=True, refetch=False, remote=10.0, last=10.0)
    assert not download_needed(first_page=True, refetch=False, remote=9.0, last=10.0)
    assert not download_needed(first_page=True, refetch=False, remote=None, last=0.0)


def test_a_later_page_or_a_refetch_is_always_fetched() -> None:
    assert download_needed(first_page=False, refetch=False, remote=None, last=10.0)
    assert download_needed(first_page=False, refetch=False, remote=5.0, last=10.0)
    assert download_needed(first_page=True, refetch=True, remote=None, last=10.0)
    assert download_needed(first_page=True, refetch=True, remote=10.0, last=10.0)


def test_ids_that_failed_in_this_run_wait_for_the_next() -> None:
    pending, kept = refetch_plan(["a", "b", "c", "d"], {"b", "d", "x"})
    assert pending == ["a", "c"]  # in the persisted order
    assert kept == {"b", "d"}  # "x" was never persisted as failed
    assert refetch_plan([], {"a"}) == ([], set())
    assert refetch_plan(["a"], set()) == (["a"], set())


def test_chunks_keep_order_and_size() -> None:
    ids = [str(i) for i in range(7)]
    assert [list(c) for c in chunks(ids, 3)] == [["0", "1", "2"], ["3", "4", "5"], ["6"]]
    assert [list(c) for c in chunks(ids, 7)] == [ids]
    assert list(chunks([], 3)) == []


def test_an_outgoing_record_sends_only_the_optional_fields_it_sets() -> None:
    assert outgoing_fields(None, None) == {}
    assert outgoing_fields(0, None) == {"sortindex": 0}
    assert outgoing_fields(None, 0) == {"ttl": 0}
    assert outgoing_fields(-5, 3600) == {"sortindex": -5, "ttl": 3600}
