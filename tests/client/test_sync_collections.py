"""The collection chart against the embedded service (issue 5, item 2f): paging, 412, crash,
per-record failures."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from beacon import ConflictError, SyncClient
from beacon._crypto import KeyBundle, encrypt_record
from beacon.charts import action
from beacon.client import _collection_service
from beacon.client._collection_service import CollectionService
from tests.client.sync_world import World, requests_of, tail


def _bundle(client: SyncClient, world: World, collection: str) -> KeyBundle:
    cached = client.store.crypto_keys(KeyBundle.from_kb(world.kb))
    assert cached is not None
    return cached.value.bundle_for(collection)


def test_a_download_is_paged(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    a = world.device("a")
    for n in range(5):
        a.notes.put(f"n{n}", {"text": str(n)})
    a.client.sync()
    monkeypatch.setattr(_collection_service, "PAGE_SIZE", 2)
    b = world.device("b")
    result = b.client.sync()
    pages = [p for m, p in requests_of(b) if m == "GET" and tail(p) == "storage/notes"]
    assert len(pages) == 3  # 2 + 2 + 1 records
    assert result.engines["notes"]["applied"] == 5
    assert dict(b.notes.records()) == dict(a.notes.records())
    assert result.states.count("collection:downloading") >= 3


def test_a_412_on_upload_downloads_again_and_retries_once(world: World) -> None:
    a, b = world.device("a"), world.device("b")
    a.client.sync()
    b.client.sync()
    bundle = _bundle(a.client, world, "notes")
    other = encrypt_record(bundle, {"id": "x1", "text": "written in between"})

    def someone_writes_first(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.endswith("/storage/notes"):
            b.wire.before.clear()
            world.clock.advance(1)
            world.svc.faults.put_record(world.fxa_uid, "notes", "x1", other)
        return None

    world.clock.advance(5)
    b.notes.put("mine", {"text": "b's edit"})
    b.wire.before.append(someone_writes_first)
    result = b.client.sync()
    assert result.outcome == "ok"
    posts = [p for m, p in requests_of(b) if m == "POST" and tail(p) == "storage/notes"]
    assert len(posts) == 2  # the refused one and the retry
    assert b.notes.get("x1") == {"id": "x1", "text": "written in between"}
    assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"x1", "mine"}
    assert "conflict" in _events(result.trace, chart="collection")


def _events(trace: dict[str, Any], *, chart: str) -> list[str]:
    """Every event of ``chart`` in a trace tree, in order."""
    out: list[str] = []
    for step in trace["steps"]:
        if trace["chart"] == chart and step["event"] is not None:
            out.append(step["event"])
        for record in step["actions"]:
            for child in record.get("children", []):
                out.extend(_events(child, chart=chart))
    return out


class Crash(Exception):
    """Stands for the process dying at an exact point."""


def test_a_crash_before_the_last_fetch_moves_means_a_refetch_not_a_gap(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "one"})
    a.notes.put("n2", {"text": "two"})
    a.client.sync()
    b = world.device("b")
    real = CollectionService.advance_last_fetch

    @action("ok")
    def crash(self: CollectionService) -> str:
        if repr(self) == "CollectionService('notes')":
            raise Crash
        return real(self)

    monkeypatch.setattr(CollectionService, "advance_last_fetch", crash)
    with pytest.raises(Crash):
        b.client.sync()
    assert b.notes.get("n1") is not None  # applied before the crash
    assert b.client.store.collection_state("notes").last_fetch is None  # never moved
    monkeypatch.setattr(CollectionService, "advance_last_fetch", real)
    world.clock.advance(5)
    a.notes.put("n3", {"text": "written meanwhile"})
    a.client.sync()
    b.client.close()
    restarted = world.device("b")
    result = restarted.client.sync()
    assert result.engines["notes"]["downloaded"] == 3  # n1 and n2 again, and n3: no gap
    assert dict(restarted.notes.records()) == dict(a.notes.records())
    assert restarted.client.store.collection_state("notes").last_fetch is not None


def test_a_record_that_fails_verification_is_counted_and_the_rest_applied(world: World) -> None:
    a = world.device("a")
    a.notes.put("good", {"text": "fine"})
    a.client.sync()
    wrong = encrypt_record(KeyBundle.generate(), {"id": "bad", "text": "other key"})
    world.svc.faults.put_record(world.fxa_uid, "notes", "bad", wrong)
    b = world.device("b")
    result = b.client.sync()
    assert result.outcome == "ok"
    counts = result.engines["notes"]
    assert counts["failed"] == 1
    assert counts["failed_ids"] == ["bad"]
    assert counts["applied"] == 1
    assert b.notes.get("good") == {"id": "good", "text": "fine"}
    assert b.notes.get("bad") is None


def test_an_unchanged_collection_is_not_downloaded(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "one"})
    a.client.sync()
    requests_of(a)
    world.clock.advance(5)
    a.notes.put("n2", {"text": "two"})
    result = a.client.sync()
    sent = [(m, tail(p)) for m, p in requests_of(a)]
    # i/c, then the upload only: our own last upload is not downloaded back.
    assert sent == [("GET", "info/collections"), ("POST", "storage/notes")]
    assert result.engines["notes"]["uploaded"] == 1


def test_losing_the_upload_race_twice_is_a_conflict_error(world: World) -> None:
    a, b = world.device("a"), world.device("b")
    a.client.sync()
    b.client.sync()
    bundle = _bundle(a.client, world, "notes")
    writes = {"n": 0}

    def someone_always_writes_first(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.endswith("/storage/notes"):
            writes["n"] += 1
            world.clock.advance(1)
            payload = encrypt_record(bundle, {"id": f"x{writes['n']}", "text": "race"})
            world.svc.faults.put_record(world.fxa_uid, "notes", f"x{writes['n']}", payload)
        return None

    world.clock.advance(5)
    b.notes.put("mine", {"text": "never lands"})
    b.wire.before.append(someone_always_writes_first)
    with pytest.raises(ConflictError):
        b.client.sync()
    assert b.client.last_result is not None
    assert b.client.last_result.engines["notes"]["state"] == "conflicted"
    assert b.client.last_result.states[-1] == "failed"
    assert "mine" not in world.svc.faults.records(world.fxa_uid, "notes")


def test_a_record_damaged_in_one_download_is_fetched_again_by_id_until_it_verifies(
    world: World,
) -> None:
    a, b = world.device("a"), world.device("b")
    a.notes.put("n1", {"text": "intact on the server"})
    a.notes.put("n2", {"text": "also fine"})
    a.client.sync()

    def damage_n1(request: httpx.Request) -> httpx.Response | None:
        if request.method != "GET" or not request.url.path.endswith("/storage/notes"):
            return None
        if "ids" in request.url.params:
            return None  # the refetch by id gets the server's intact copy
        real = b.wire.inner.handle_request(request)
        real.read()
        records = json.loads(real.content)
        for record in records:
            if record["id"] == "n1":
                payload = json.loads(record["payload"])
                payload["hmac"] = "0" * 64
                record["payload"] = json.dumps(payload)
        headers = {k: v for k, v in real.headers.items() if k.lower() != "content-length"}
        return httpx.Response(real.status_code, headers=headers, json=records)

    b.wire.before.append(damage_n1)
    first = b.client.sync()
    assert first.engines["notes"]["failed_ids"] == ["n1"]
    assert b.notes.get("n1") is None
    assert b.client.store.failed_ids("notes") == ["n1"]
    b.wire.before.clear()

    second = b.client.sync()  # nothing new in info/collections, yet n1 is asked for by id
    assert b.notes.get("n1") == {"id": "n1", "text": "intact on the server"}
    assert second.engines["notes"]["applied"] == 1
    assert b.client.store.failed_ids("notes") == []
    b.wire.sent.clear()
    b.client.sync()
    assert not any("ids=" in path for _, path in b.wire.sent)  # and then no more


@pytest.mark.parametrize("gone", ["the collection", "our record"])
def test_our_client_record_comes_back_when_it_is_gone_from_the_server(
    world: World, gone: str
) -> None:
    a, b = world.device("a"), world.device("b")
    a.client.sync()
    b.client.sync()
    own = a.client.engines[0]
    own_id = own.client_id  # type: ignore[attr-defined]
    assert own_id in world.svc.faults.records(world.fxa_uid, "clients")
    if gone == "the collection":
        world.svc.faults.delete_collection(world.fxa_uid, "clients")
    else:
        world.svc.faults.delete_record(world.fxa_uid, "clients", own_id)

    result = a.client.sync()  # nothing of ours changed, yet our record is uploaded again

    assert result.engines["clients"]["uploaded"] == 1
    assert own_id in world.svc.faults.records(world.fxa_uid, "clients")
    assert a.client.sync().requests == 1  # and then the one-request run again
