"""The token chart and node reassignment against the embedded service (issue 5, item 2a)."""

from __future__ import annotations

import pytest

from beacon import AuthenticationError, BackoffError
from tests.client.sync_world import World, requests_of, tail

TOKEN = ("GET", "/1.0/sync/1.5")


def test_a_token_is_reused_while_valid_and_fetched_again_when_expired(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    requests_of(a)
    world.clock.advance(1800)
    result = a.client.sync()
    assert TOKEN not in requests_of(a)
    assert "token:no_token" in result.states
    assert "token:fetching" not in result.states
    world.clock.advance(3600)  # past the 3600 s duration (less the safety margin)
    result = a.client.sync()
    assert requests_of(a)[0] == TOKEN
    assert "token:token_expired" in result.states


def test_a_token_server_401_asks_the_callback_once_more(world: World) -> None:
    calls: list[int] = []

    def access_token() -> str:
        calls.append(1)
        return "not-a-valid-token" if len(calls) == 1 else world.account.access_token

    a = world.device("a", access_token=access_token)
    result = a.client.sync()
    assert result.outcome == "ok"
    assert len(calls) == 2
    assert "token:refreshing_credentials" in result.states


def test_a_token_server_401_with_a_fixed_token_is_an_authentication_error(world: World) -> None:
    a = world.device("a", access_token="not-a-valid-token")
    with pytest.raises(AuthenticationError):
        a.client.sync()
    assert requests_of(a) == [TOKEN]  # nothing to refresh: no second attempt


def test_a_token_server_that_keeps_refusing_fails_after_one_refresh(world: World) -> None:
    calls: list[int] = []

    def access_token() -> str:
        calls.append(1)
        return "still-not-valid"

    a = world.device("a", access_token=access_token)
    with pytest.raises(AuthenticationError):
        a.client.sync()
    assert requests_of(a) == [TOKEN, TOKEN]
    assert len(calls) == 2


def test_token_server_503_is_a_backoff_and_the_next_run_sends_nothing(world: World) -> None:
    a = world.device("a")
    world.svc.faults.fail_next(1, path_contains="/1.0/sync/1.5", status=503, retry_after=120)
    with pytest.raises(BackoffError) as info:
        a.client.sync()
    assert info.value.until == pytest.approx(world.clock.now + 120)
    requests_of(a)
    world.clock.advance(60)
    with pytest.raises(BackoffError) as again:
        a.client.sync()
    assert requests_of(a) == []  # no hammering
    assert again.value.until == pytest.approx(info.value.until)
    world.clock.advance(61)
    assert a.client.sync().outcome == "ok"


def test_node_reassignment_is_recovered_within_one_run(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "survives the move"})
    a.client.sync()
    old = world.svc.faults.user(world.fxa_uid)
    world.svc.faults.move_user(world.fxa_uid)
    requests_of(a)
    result = a.client.sync()
    assert result.outcome == "ok"
    # The old node said 401; a new token pointed elsewhere; the empty node was set up again.
    assert "invalidated" in result.states
    assert "leaving_old_node" in result.states
    assert "fresh_start" in result.states
    new = world.svc.faults.user(world.fxa_uid)
    assert old is not None
    assert new is not None
    assert old["node"] != new["node"]
    assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"n1"}
    sent = [(m, tail(p)) for m, p in requests_of(a)]
    assert sent.count(TOKEN) == 1


def test_a_device_arriving_after_the_move_adopts_the_new_node(world: World) -> None:
    a, b = world.device("a"), world.device("b")
    a.client.sync()
    b.client.sync()
    world.svc.faults.move_user(world.fxa_uid)
    a.notes.put("n1", {"text": "written after the move"})
    a.client.sync()  # a sets the new node up
    result = b.client.sync()
    assert "leaving_old_node" in result.states
    assert "fresh_start" not in result.states  # adopted what a uploaded
    assert result.engines["notes"]["reset"] is True
    assert b.notes.get("n1") == {"id": "n1", "text": "written after the move"}
