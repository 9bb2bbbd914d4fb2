"""What adopting a meta/global takes (beacon.client._setup.plan_adoption): the record to adopt
and whether it goes back up, the collections whose server data goes, and which engines reset.
The session's integration paths are in tests/client/test_sync_session.py."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from typing import Any

from beacon.client._setup import Adoption, plan_adoption

GLOBAL = "global-id-00"
LOCAL = {"notes": 1, "tabs": 1}


def _record(**fields: object) -> dict[str, Any]:
    return {
        "syncID": GLOBAL,
        "storageVersion": 5,
        "engines": {
            "notes": {"version": 1, "syncID": "notes-id-000"},
            "tabs": {"version": 1, "syncID": "tabs-id-0000"},
        },
        "declined": [],
        **fields,
    }


def _plan(
    record: Mapping[str, Any],
    *,
    global_sync_id: str | None = GLOBAL,
    local_declined: Collection[str] | None = (),
    user_enabled: Collection[str] = (),
    user_disabled: Collection[str] = (),
    listed: Collection[str] = ("notes", "tabs", "meta", "crypto"),
) -> Adoption:
    return plan_adoption(
        record,
        global_sync_id=global_sync_id,
        local_declined=local_declined,
        local_engines=LOCAL,
        user_enabled=user_enabled,
        user_disabled=user_disabled,
        listed=listed,
        rng=random.Random(5).randbytes,
    )


def test_an_unchanged_meta_global_is_adopted_as_it_is() -> None:
    plan = _plan(_record())
    assert plan.record == _record()
    assert not plan.upload
    assert plan.declined == frozenset()
    assert plan.wipe == ()
    assert not plan.reset_all
    assert not plan.drop_keys
    assert plan.local_resets == ()


def test_a_first_adoption_resets_every_engine_but_has_no_keys_to_drop() -> None:
    plan = _plan(_record(), global_sync_id=None)
    assert plan.reset_all
    assert not plan.drop_keys


def test_a_new_global_sync_id_resets_every_engine_and_drops_the_keys() -> None:
    plan = _plan(_record(), global_sync_id="older-id-000")
    assert plan.reset_all
    assert plan.drop_keys
    assert plan.record["syncID"] == GLOBAL


def test_an_engine_the_user_declines_is_wiped_reset_and_uploaded_as_declined() -> None:
    plan = _plan(_record(), user_disabled={"tabs"})
    assert plan.upload
    assert plan.declined == {"tabs"}
    assert plan.record["declined"] == ["tabs"]
    assert "tabs" not in plan.record["engines"]
    assert plan.wipe == ("tabs",)
    assert plan.local_resets == ("tabs",)


def test_only_collections_the_server_lists_are_wiped() -> None:
    plan = _plan(_record(), user_disabled={"tabs"}, listed=("notes", "meta"))
    assert plan.wipe == ()


def test_a_remote_decline_resets_locally_but_wipes_nothing() -> None:
    record = _record(declined=["tabs"])
    del record["engines"]["tabs"]
    plan = _plan(record)
    assert not plan.upload  # the record already says it
    assert plan.declined == {"tabs"}
    assert plan.local_resets == ("tabs",)
    assert plan.wipe == ()  # another device declined it and wiped already, or not: not ours
    already = _plan(record, local_declined={"tabs"})
    assert already.local_resets == ()


def test_the_remote_list_is_read_for_names_only() -> None:
    record = _record(declined=["tabs", 7, None])
    del record["engines"]["tabs"]
    plan = _plan(record)
    assert plan.declined == {"tabs"}
    assert plan.record["declined"] == ["tabs"]
    assert not plan.upload  # the names it holds are unchanged; the cleanup is not a change
    assert _plan(_record(declined=None)).declined == frozenset()


def test_the_remote_list_wins_over_the_persisted_one() -> None:
    plan = _plan(_record(), local_declined={"tabs"})
    assert plan.declined == frozenset()
    assert "tabs" in plan.record["engines"]


def test_an_engine_the_user_enables_again_comes_back_with_a_fresh_sync_id() -> None:
    record = _record(declined=["tabs"])
    del record["engines"]["tabs"]
    plan = _plan(record, local_declined={"tabs"}, user_enabled={"tabs"})
    assert plan.upload
    assert plan.declined == frozenset()
    assert plan.record["engines"]["tabs"]["version"] == 1
    assert plan.wipe == ()


def test_an_engine_an_older_version_wrote_is_wiped_and_gets_a_new_sync_id() -> None:
    record = _record()
    record["engines"]["notes"] = {"version": 0, "syncID": "notes-id-000"}
    plan = _plan(record)
    assert plan.upload
    assert plan.wipe == ("notes",)
    assert plan.record["engines"]["notes"]["version"] == 1
    assert plan.record["engines"]["notes"]["syncID"] != "notes-id-000"
    assert plan.local_resets == ()  # its syncID changed: the collection chart resets it


def test_an_older_engine_being_declined_is_wiped_once() -> None:
    record = _record()
    record["engines"]["tabs"] = {"version": 0, "syncID": "tabs-id-0000"}
    plan = _plan(record, user_disabled={"tabs"})
    assert plan.wipe == ("tabs",)
    assert "tabs" not in plan.record["engines"]


def test_the_wipe_list_is_sorted() -> None:
    record = _record()
    record["engines"]["tabs"] = {"version": 0, "syncID": "tabs-id-0000"}
    plan = _plan(record, user_disabled={"notes"})
    assert plan.wipe == ("notes", "tabs")
    assert plan.local_resets == ("notes",)
    both = _plan(_record(), user_disabled={"tabs", "notes"})
    assert both.local_resets == ("notes", "tabs")


def test_the_fix_up_draws_its_sync_ids_from_the_injected_randomness() -> None:
    record = _record()
    del record["engines"]["tabs"]  # ours and missing: the fix-up writes it with a new syncID
    first, again = _plan(record), _plan(record)
    assert first.upload
    assert first.record == again.record  # the same seeded rng, the same syncIDs
