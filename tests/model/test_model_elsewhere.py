"""The other device: what it writes is what a Sync client would write, and nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from beacon.testing import CampaignConfig, CampaignStep, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(CampaignConfig(seed=11), tmp_path)
    w.apply(CampaignStep("edit", {"device": 0, "engine": "bookmarks", "record": "r0", "value": 1}))
    w.apply(CampaignStep("sync", {"device": 0}))
    yield w
    w.close()


def test_reads_what_the_device_uploaded(world: World) -> None:
    other = world.elsewhere
    meta = other.meta_global()
    assert meta is not None
    assert meta["storageVersion"] == 5
    assert other.storage_version() == 5
    assert other.keys() is not None
    (uploaded,) = other.records("bookmarks").values()
    # The device's record engine carries the edit time along (RecordEngine, "_edited").
    assert uploaded.pop("_edited") <= world.clock()
    assert uploaded == {"id": "r0", "value": "d0v1"}


def test_edits_tombstones_and_forged_records(world: World) -> None:
    other = world.elsewhere
    assert other.edit("bookmarks", "r1", {"id": "r1", "value": "x"})
    assert other.edit("bookmarks", "r0", {"id": "r0", "deleted": True})
    other.bad_hmac("bookmarks", "bad0")
    before = other.undecryptable
    assert other.records("bookmarks") == {"r1": {"id": "r1", "value": "x"}}
    assert other.undecryptable == before + 1


def test_rotating_keys_wipes_what_the_old_key_encrypted(world: World) -> None:
    other = world.elsewhere
    old = other.keys()
    assert old is not None
    other.rotate_keys("bookmarks")
    new = other.keys()
    assert new is not None
    assert new.default == old.default
    assert new.bundle_for("bookmarks") != old.bundle_for("bookmarks")
    assert other.records("bookmarks") == {}
    other.rotate_keys(None)
    newest = other.keys()
    assert newest is not None
    assert newest.default != new.default


def test_sync_ids_declines_and_enables(world: World) -> None:
    other = world.elsewhere

    def sync_id(engine: str) -> object:
        meta = other.meta_global()
        assert meta is not None
        return meta["engines"].get(engine, {}).get("syncID")

    first = sync_id("bookmarks")
    other.enable("bookmarks")  # already enabled: nothing changes, nothing is deleted
    assert sync_id("bookmarks") == first
    assert other.records("bookmarks") != {}
    other.change_sync_id("bookmarks")
    assert sync_id("bookmarks") not in (None, first)
    assert other.records("bookmarks") == {}
    other.decline("passwords")
    assert other.declined() == ["passwords"]
    assert sync_id("passwords") is None
    other.change_sync_id("passwords")  # not in meta/global: nothing happens
    assert sync_id("passwords") is None
    other.enable("passwords")
    assert other.declined() == []
    assert isinstance(sync_id("passwords"), str)


def test_a_fresh_start_keeps_the_declined_list(world: World) -> None:
    other = world.elsewhere
    other.decline("passwords")
    keys = other.keys()
    other.fresh_start()
    assert other.declined() == ["passwords"]
    assert other.keys() not in (None, keys)
    assert other.records("bookmarks") == {}
    other.set_storage_version(6)
    assert other.storage_version() == 6
    other.delete_crypto_keys()
    assert other.keys() is None
    other.delete_meta_global()
    assert other.meta_global() is None
    assert other.storage_version() is None


def test_foreign_keys_are_refused_without_a_wipe_and_healed_in_the_quiet_period(
    world: World,
) -> None:
    other = world.elsewhere
    assert not other.keys_untrusted()
    other.foreign_keys()
    assert other.keys_untrusted()
    world.apply(CampaignStep("sync", {"device": 1}))
    assert world.last_trace is not None
    assert world.last_trace.final_state == "untrusted_keys"
    world.apply(CampaignStep("settle"))  # no wipe without a 404 (invariant), then a new start
    assert not other.keys_untrusted()
    healed = other.records("bookmarks")
    assert {rid: {k: v for k, v in r.items() if k != "_edited"} for rid, r in healed.items()} == {
        "r0": {"id": "r0", "value": "d0v1"}
    }
