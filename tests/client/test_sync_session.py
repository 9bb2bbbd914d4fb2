"""The session chart's recovery paths against the embedded service (issue 5, item 2b)."""

from __future__ import annotations

import json

import httpx
import pytest

from beacon import ClientUpgradeRequired, KeyMismatchError, SetupRaceError, UsageError
from beacon._crypto import CollectionKeys, KeyBundle
from tests.client.sync_world import World, requests_of, tail


def _meta(world: World) -> dict[str, object]:
    record = world.svc.faults.records(world.fxa_uid, "meta")["global"]
    value = json.loads(record["payload"])
    assert isinstance(value, dict)
    return value


def _put_meta(world: World, meta: dict[str, object]) -> None:
    world.svc.faults.put_record(world.fxa_uid, "meta", "global", json.dumps(meta))


def test_missing_meta_global_means_a_fresh_start(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "kept locally"})
    a.client.sync()
    old_sync_id = _meta(world)["syncID"]
    world.svc.faults.delete_record(world.fxa_uid, "meta", "global")
    world.clock.advance(5)
    result = a.client.sync()
    assert "missing_meta_global" in result.states
    assert result.states.count("fresh_start") == 1
    assert _meta(world)["syncID"] != old_sync_id
    sent = [(m, tail(p)) for m, p in requests_of(a)]
    assert any(m == "DELETE" for m, _ in sent)  # storage was wiped before the new meta/global
    # The engines were reset: the local record went up again to the fresh storage.
    assert result.engines["notes"]["reset"] is True
    assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"n1"}


def test_storage_version_too_new_stops_before_any_write(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    meta = _meta(world)
    meta["storageVersion"] = 6
    _put_meta(world, meta)
    world.svc.faults.clear_request_log()
    b = world.device("b")
    b.notes.put("n1", {"text": "must not be uploaded"})
    with pytest.raises(ClientUpgradeRequired) as info:
        b.client.sync()
    assert info.value.storage_version == 6
    assert world.writes() == []
    assert b.client.last_result is not None
    assert b.client.last_result.states[-1] == "client_upgrade_required"


def test_storage_version_too_old_means_a_fresh_start(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    meta = _meta(world)
    meta["storageVersion"] = 4
    _put_meta(world, meta)
    result = world.device("b").client.sync()
    assert "storage_outdated" in result.states
    assert "fresh_start" in result.states
    assert _meta(world)["storageVersion"] == 5


def test_missing_keys_means_a_fresh_start(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.delete_record(world.fxa_uid, "crypto", "keys")
    result = world.device("b").client.sync()
    assert "missing_keys" in result.states
    assert "fresh_start" in result.states
    assert set(world.svc.faults.records(world.fxa_uid, "crypto")) == {"keys"}


def test_keys_that_do_not_verify_are_a_trust_error_and_never_a_wipe(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "precious"})
    a.client.sync()
    stranger = KeyBundle.from_kb(bytes(32))
    payload = CollectionKeys.generate().encrypt(stranger)
    world.svc.faults.put_record(world.fxa_uid, "crypto", "keys", payload)
    world.svc.faults.clear_request_log()
    b = world.device("b")
    with pytest.raises(KeyMismatchError):
        b.client.sync()
    assert world.writes() == []
    assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"n1"}
    assert b.client.last_result is not None
    assert b.client.last_result.states[-1] == "untrusted_keys"
    # The next run does the same, without a wipe either: no error loop that destroys data.
    with pytest.raises(KeyMismatchError):
        b.client.sync()
    assert world.writes() == []


def test_a_new_global_sync_id_resets_every_engine_and_refetches_keys(world: World) -> None:
    a, b = world.device("a"), world.device("b")
    a.notes.put("n1", {"text": "from a"})
    a.client.sync()
    b.client.sync()
    world.svc.faults.delete_record(world.fxa_uid, "meta", "global")
    world.clock.advance(5)
    b.client.sync()  # b starts storage over: new syncID, new keys, re-uploads n1
    world.clock.advance(5)
    result = a.client.sync()
    assert "fresh_start" not in result.states
    assert "needs_keys" in result.states
    assert all(counts["reset"] for counts in result.engines.values())
    assert a.notes.get("n1") == {"id": "n1", "text": "from a"}


def test_a_new_global_sync_id_alone_resets_every_engine(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    meta = _meta(world)
    meta["syncID"] = "BBBBBBBBBBBB"  # engine syncIDs unchanged: only the global one moved
    _put_meta(world, meta)
    result = a.client.sync()
    assert "needs_keys" in result.states  # cached keys dropped although crypto is unchanged
    assert result.engines["notes"]["reset"] is True
    assert result.engines["clients"]["reset"] is True


def test_a_new_engine_sync_id_resets_that_engine_only(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    meta = _meta(world)
    engines = meta["engines"]
    assert isinstance(engines, dict)
    engines["notes"]["syncID"] = "AAAAAAAAAAAA"
    _put_meta(world, meta)
    result = a.client.sync()
    assert result.engines["notes"]["reset"] is True
    assert result.engines["clients"]["reset"] is False


def test_rotated_collection_keys_reset_the_engines_whose_key_changed(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    cached = a.client.store.crypto_keys(KeyBundle.from_kb(world.kb))
    assert cached is not None
    rotated = CollectionKeys(cached.value.default, {"notes": KeyBundle.generate()})
    world.svc.faults.put_record(
        world.fxa_uid, "crypto", "keys", rotated.encrypt(KeyBundle.from_kb(world.kb))
    )
    result = a.client.sync()
    assert "needs_keys" in result.states
    assert result.engines["notes"]["reset"] is True
    assert result.engines["clients"]["reset"] is False


def test_an_engine_declined_elsewhere_is_skipped_and_reset_here(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "x"})
    a.client.sync()
    meta = _meta(world)
    engines = meta["engines"]
    assert isinstance(engines, dict)
    del engines["notes"]
    meta["declined"] = ["notes"]
    _put_meta(world, meta)
    result = a.client.sync()
    assert result.engines["notes"]["state"] == "declined"
    assert result.engines["notes"]["reset"] is True
    after = _meta(world)
    assert "notes" not in after["engines"]  # type: ignore[operator]
    assert after["declined"] == ["notes"]


def test_our_missing_engine_is_added_to_meta_global_with_a_precondition(world: World) -> None:
    a = world.device("a", engines=("notes",))
    a.client.sync()
    b = world.device("b", engines=("notes", "recipes"))
    result = b.client.sync()
    assert result.outcome == "ok"
    assert "recipes" in _meta(world)["engines"]  # type: ignore[operator]
    assert _meta(world)["declined"] == []


def test_a_second_fresh_start_in_one_run_is_a_setup_race(world: World) -> None:
    a = world.device("a")
    seen = {"info": 0}

    def delete_meta_on_second_info(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/info/collections"):
            seen["info"] += 1
            if seen["info"] == 2:  # right after our fresh start: someone wipes it again
                world.svc.faults.delete_record(world.fxa_uid, "meta", "global")
        return None

    a.wire.before.append(delete_meta_on_second_info)
    with pytest.raises(SetupRaceError):
        a.client.sync()
    assert a.client.last_result is not None
    assert a.client.last_result.states.count("fresh_start") == 1
    assert a.client.last_result.states[-1] == "setup_race"


def test_a_fresh_start_keeps_engines_this_client_does_not_sync(world: World) -> None:
    world.device("b", engines=("notes", "recipes")).client.sync()
    a = world.device("a", engines=("notes",))
    a.client.sync()
    meta = _meta(world)
    meta["declined"] = ["passwords"]
    engines = meta["engines"]
    assert isinstance(engines, dict)
    del engines["passwords"]
    _put_meta(world, meta)
    a.client.sync()  # adopts the declined list
    world.svc.faults.delete_record(world.fxa_uid, "meta", "global")
    result = a.client.sync()
    assert "fresh_start" in result.states
    after = _meta(world)
    assert "recipes" in after["engines"]  # type: ignore[operator]  # docs/anchors.md P1
    assert "passwords" not in after["engines"]  # type: ignore[operator]
    assert after["declined"] == ["passwords"]


def test_meta_global_changed_under_our_fix_up_is_a_setup_race(world: World) -> None:
    world.device("a").client.sync()
    b = world.device("b", engines=("notes", "recipes"))  # b must add "recipes" to meta/global

    def another_device_writes_meta_first(request: httpx.Request) -> httpx.Response | None:
        if request.method == "PUT" and request.url.path.endswith("/storage/meta/global"):
            b.wire.before.clear()
            world.clock.advance(1)
            _put_meta(world, _meta(world))
        return None

    b.wire.before.append(another_device_writes_meta_first)
    with pytest.raises(SetupRaceError):
        b.client.sync()
    assert "recipes" not in _meta(world)["engines"]  # type: ignore[operator]


def test_a_user_decline_reaches_every_device_and_an_undecline_brings_it_back(
    world: World,
) -> None:
    a, b = world.device("a"), world.device("b")
    a.notes.put("n1", {"text": "shared"})
    a.client.sync()
    b.client.sync()
    a.client.decline("notes")
    result = a.client.sync()
    assert result.engines["notes"]["state"] == "declined"
    meta = _meta(world)
    assert meta["declined"] == ["notes"]
    assert "notes" not in meta["engines"]  # type: ignore[operator]  # docs/anchors.md P2
    assert world.svc.faults.records(world.fxa_uid, "notes") == {}  # its data left the server
    assert b.client.sync().engines["notes"]["state"] == "declined"
    b.notes.put("n2", {"text": "stays local while declined"})
    b.client.sync()
    assert world.svc.faults.records(world.fxa_uid, "notes") == {}

    b.client.undecline("notes")
    b.client.sync()
    assert _meta(world)["declined"] == []
    a.client.sync()
    b.client.sync()
    assert dict(a.notes.records()) == dict(b.notes.records())
    assert set(dict(a.notes.records())) == {"n1", "n2"}


def test_the_clients_engine_cannot_be_declined(world: World) -> None:
    with pytest.raises(UsageError):
        world.device("a").client.decline("clients")
