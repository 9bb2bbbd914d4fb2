"""Engine versions in meta/global: a newer one is left alone, an older one is started over."""

from __future__ import annotations

import json

from tests.client.sync_world import World


def _meta_global(world: World) -> dict[str, object]:
    record = world.svc.faults.records(world.fxa_uid, "meta")["global"]
    value = json.loads(str(record["payload"]))
    assert isinstance(value, dict)
    return value


def _set_notes_version(world: World, version: int) -> dict[str, object]:
    meta = _meta_global(world)
    engines = meta["engines"]
    assert isinstance(engines, dict)
    engines["notes"] = {**engines["notes"], "version": version}
    world.svc.faults.put_record(world.fxa_uid, "meta", "global", json.dumps(meta))
    return meta


def test_an_engine_newer_on_the_server_is_not_synced_and_nothing_is_written(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    before = _set_notes_version(world, 99)  # another device speaks a newer notes format
    a.notes.put("n1", {"text": "stays local"})
    world.svc.faults.clear_request_log()

    result = a.client.sync()

    assert result.outcome == "ok"
    assert result.engines["notes"]["state"] == "engine_too_new"  # the result says why
    assert [r for r in world.writes() if "notes" in r.path or "meta" in r.path] == []
    assert _meta_global(world) == before
    assert "n1" not in world.svc.faults.records(world.fxa_uid, "notes")


def test_an_engine_older_on_the_server_is_upgraded_and_its_old_data_wiped(world: World) -> None:
    a, b = world.device("a"), world.device("b")
    a.notes.put("old", {"text": "written in the old format"})
    a.client.sync()
    old_sync_id = _set_notes_version(world, 0)["engines"]["notes"]["syncID"]  # type: ignore[index]
    b.notes.put("n2", {"text": "new format"})

    result = b.client.sync()

    assert result.outcome == "ok"
    engines = _meta_global(world)["engines"]
    assert isinstance(engines, dict)
    assert engines["notes"]["version"] == 1
    assert engines["notes"]["syncID"] != old_sync_id
    assert "old" not in world.svc.faults.records(world.fxa_uid, "notes")  # wiped, then ours
    assert "n2" in world.svc.faults.records(world.fxa_uid, "notes")
    assert result.engines["notes"]["reset"] is True
