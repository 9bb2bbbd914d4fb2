"""Backoff: honoured, per node, persisted, capped (issue 5, item 2d)."""

from __future__ import annotations

import pytest

from beacon import BackoffError
from beacon.client._run import node_key
from beacon.client._transport import MAX_BACKOFF
from tests.client.sync_world import World, requests_of


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


def test_a_backoff_header_on_a_success_lets_the_run_finish_and_holds_the_next(
    world: World,
) -> None:
    a = world.device("a")
    a.client.sync()
    world.svc.faults.backoff_next(1, seconds=600, path_contains="info/collections")
    assert a.client.sync().outcome == "ok"
    requests_of(a)
    with pytest.raises(BackoffError) as info:
        a.client.sync()
    assert requests_of(a) == []
    assert info.value.until == pytest.approx(world.clock.now + 600)


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
