"""Backoff: honoured, per node, persisted, capped (issue 5, item 2d)."""

from __future__ import annotations

import pytest

from beacon import BackoffError, ServiceEndOfLife
from beacon.client._run import node_key
from beacon.client._transport import MAX_BACKOFF
from tests.client.sync_world import World, requests_of, tail


def test_storage_503_ends_the_run_and_the_window_sends_no_request(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.fail_next(1, path_contains="info/collections", status=503, retry_after=300)
    with pytest.raises(BackoffError) as info:
        a.client.sync()
    assert info.value.until == pytest.approx(world.clock.now + 300)
    assert a.client.last_result is not None
    assert a.client.last_result.states[-1] == "in_backoff"
    requests_of(a)
    world.clock.advance(299)
    a.client.close()
    restarted = world.device("a")  # persisted: a new process honours it too
    with pytest.raises(BackoffError) as again:
        restarted.client.sync()
    assert requests_of(restarted) == []
    assert again.value.until == pytest.approx(info.value.until)
    world.clock.advance(2)
    assert restarted.client.sync().outcome == "ok"


def test_a_backoff_header_on_a_success_ends_the_run_before_the_next_collection(
    world: World,
) -> None:
    a = world.device("a")
    a.client.sync()
    a.notes.put("n1", {"text": "waits for the next run"})
    world.svc.faults.backoff_next(1, seconds=600, path_contains="info/collections")
    requests_of(a)
    with pytest.raises(BackoffError) as info:
        a.client.sync()
    assert info.value.until == pytest.approx(world.clock.now + 600)
    assert [tail(p) for _, p in requests_of(a)] == ["info/collections"]  # no collection after
    with pytest.raises(BackoffError):
        a.client.sync()
    assert requests_of(a) == []  # the window holds the next run too
    world.clock.advance(601)
    assert a.client.sync().engines["notes"]["uploaded"] == 1


def test_a_backoff_header_during_one_collection_stops_the_run_after_it(world: World) -> None:
    a = world.device("a", engines=("notes", "bookmarks"))
    a.client.sync()
    a.notes.put("n1", {"text": "x"})
    world.svc.faults.backoff_next(1, seconds=300, path_contains="storage/notes")
    with pytest.raises(BackoffError):
        a.client.sync()
    result = a.client.last_result
    assert result is not None
    assert result.engines["notes"]["state"] == "ok"  # the collection in progress finished
    assert result.engines["bookmarks"]["state"] == "pending"  # the next one did not start
    assert "in_backoff" in result.states


def test_the_token_servers_x_backoff_on_a_success_holds_the_next_token_request(
    world: World,
) -> None:
    a = world.device("a")
    world.svc.faults.backoff_next(1, seconds=7200, header="X-Backoff", path_contains="1.0/sync")
    assert a.client.sync().outcome == "ok"  # the token it sent is good for this run
    world.clock.advance(4000)  # the token has expired: a new one is due, not within 7,200 s
    requests_of(a)
    with pytest.raises(BackoffError):
        a.client.sync()
    assert requests_of(a) == []


def test_a_far_future_retry_after_is_capped(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.fail_next(1, path_contains="info/collections", status=503, retry_after=10**9)
    with pytest.raises(BackoffError) as info:
        a.client.sync()
    assert info.value.until <= world.clock.now + MAX_BACKOFF


def test_backoff_is_kept_per_node_and_dropped_with_the_old_node(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.backoff_next(1, seconds=600, path_contains="info/collections")
    with pytest.raises(BackoffError):
        a.client.sync()
    store = a.client.store
    old = store.node_assignment()
    assert old is not None
    assert store.backoff_until(node_key(old.api_endpoint)) == pytest.approx(world.clock.now + 600)
    world.svc.faults.move_user(world.fxa_uid)
    world.clock.advance(601)
    result = a.client.sync()  # 401 from the old node, a token for the new one
    assert "leaving_old_node" in result.states
    new = store.node_assignment()
    assert new is not None
    assert node_key(new.api_endpoint) != node_key(old.api_endpoint)
    # docs/anchors.md P12: the old node's window is forgotten with the node; the new one has none.
    assert store.backoff_until(node_key(old.api_endpoint)) is None
    assert store.backoff_until(node_key(new.api_endpoint)) is None


def test_a_soft_end_of_life_alert_is_in_the_result_and_the_run_carries_on(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.alert_next(1, code="soft-eol", path_contains="info/collections")

    result = a.client.sync()

    assert result.outcome == "ok"
    assert result.alerts == (
        {
            "code": "soft-eol",
            "message": "This service will soon be discontinued.",
            "url": "https://support.mozilla.org/",
        },
    )
    assert a.client.sync().alerts == ()  # an alert belongs to the run that saw it


def test_a_hard_end_of_life_513_is_a_typed_error_with_the_alert(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.alert_next(1, code="hard-eol", path_contains="info/collections")

    with pytest.raises(ServiceEndOfLife) as retired:
        a.client.sync()

    assert retired.value.status == 513
    assert retired.value.alert is not None
    assert retired.value.alert["code"] == "hard-eol"
