"""The session chart's decisions as pure functions (beacon/client/_session_rules.py): what a
backoff window, a remembered refusal, a stored kB fingerprint, a cache timestamp and a fetched
meta/global's storage version mean. The integration paths are in tests/client."""

from __future__ import annotations

import pytest

from beacon import BackoffError, ClientUpgradeRequired
from beacon.charts import Outcome
from beacon.client._session_rules import (
    AUTH_FAILURE_BACKOFF,
    MAX_AUTH_FAILURE_BACKOFF,
    account_outcome,
    auth_failure_until,
    auth_failure_wait,
    cache_current,
    meta_global_outcome,
    refusal_holds,
    window_open,
)

NOW = 1_700_000_000.0


def _account(
    *,
    node_until: float | None = None,
    auth_until: float | None = None,
    stored_kb: str | None = None,
) -> Outcome:
    return account_outcome(
        now=NOW,
        node_until=node_until,
        auth_until=auth_until,
        stored_kb=stored_kb,
        client_state="kb-1",
    )


def test_a_backoff_window_is_over_at_the_instant_it_ends() -> None:
    assert window_open(NOW + 1, NOW)
    assert not window_open(NOW, NOW)
    assert not window_open(NOW - 1, NOW)
    assert not window_open(None, NOW)


def test_the_run_at_the_end_of_a_window_is_not_refused() -> None:
    assert _account(node_until=NOW) == "ok"
    assert _account(auth_until=NOW) == "ok"


@pytest.mark.parametrize(
    ("window", "who"),
    [("node", "the storage node"), ("auth", "the last run's authentication failure")],
)
def test_a_refused_run_names_the_window_and_its_end(window: str, who: str) -> None:
    until = NOW + 60
    result = _account(node_until=until) if window == "node" else _account(auth_until=until)
    assert result == "backoff"
    error = result.error
    assert isinstance(error, BackoffError)
    assert error.until == NOW + 60
    assert str(error) == f"{who} asked to back off until {NOW + 60:.0f} (epoch seconds)"


def test_the_storage_nodes_window_is_named_first_when_both_run() -> None:
    result = _account(node_until=NOW + 10, auth_until=NOW + 20)
    assert isinstance(result.error, BackoffError)
    assert str(result.error).startswith("the storage node ")
    assert result.error.until == NOW + 10


def test_a_running_window_wins_over_a_changed_kb() -> None:
    assert _account(auth_until=NOW + 1, stored_kb="kb-0") == "backoff"


def test_a_different_stored_kb_is_a_kb_change_and_none_stored_is_not() -> None:
    changed = _account(stored_kb="kb-0")
    assert changed == "kb_changed"
    assert changed.error is None
    assert _account(stored_kb="kb-1") == "ok"
    assert _account(stored_kb=None) == "ok"


def test_the_wait_after_a_refusal_doubles_from_fifteen_minutes_up_to_a_day() -> None:
    assert auth_failure_wait(0) == AUTH_FAILURE_BACKOFF
    assert auth_failure_wait(1) == 15 * 60.0
    assert auth_failure_wait(2) == 30 * 60.0
    assert auth_failure_wait(3) == 60 * 60.0
    assert auth_failure_wait(7) == 16 * 3600.0
    assert auth_failure_wait(8) == MAX_AUTH_FAILURE_BACKOFF == 24 * 3600.0
    assert auth_failure_wait(10_000) == MAX_AUTH_FAILURE_BACKOFF


def test_the_wait_runs_from_the_refused_run() -> None:
    assert auth_failure_until(NOW, 1) == NOW + 15 * 60.0
    assert auth_failure_until(NOW, 2) == NOW + 30 * 60.0


def test_a_refusal_holds_back_only_the_refused_credentials() -> None:
    assert refusal_holds(True, "creds-a", "creds-a")
    assert not refusal_holds(True, "creds-a", "creds-b")
    assert not refusal_holds(True, None, "creds-a")
    assert not refusal_holds(False, "creds-a", "creds-a")


def test_a_cache_is_current_only_on_exact_timestamp_equality() -> None:
    info = {"meta": 10.5, "crypto": 11.0}
    assert cache_current(info, "meta", 10.5)
    assert not cache_current(info, "meta", 10.0)  # older
    assert not cache_current(info, "meta", 11.0)  # newer than i/c: not current either
    assert not cache_current(info, "meta", None)  # nothing cached
    assert not cache_current({"crypto": 10.5}, "meta", 10.5)  # i/c does not list it
    assert not cache_current(None, "meta", 10.5)
    assert cache_current(info, "crypto", 11.0)


def _meta(**fields: object) -> dict[str, object]:
    return {"syncID": "abcdefghijkl", "storageVersion": 5, "engines": {}, **fields}


def test_a_meta_global_of_storage_version_five_is_adopted() -> None:
    verdict = meta_global_outcome(_meta())
    assert verdict == "ok"
    assert verdict.error is None


@pytest.mark.parametrize(
    "record",
    [
        None,  # unusable payload
        {"storageVersion": 5},  # no syncID
        _meta(syncID=7),
        _meta(storageVersion=4),
        _meta(storageVersion="5"),
        _meta(storageVersion=None),
        {"syncID": "abcdefghijkl"},
    ],
)
def test_an_unusable_or_older_meta_global_means_a_fresh_start(
    record: dict[str, object] | None,
) -> None:
    assert meta_global_outcome(record) == "outdated"


def test_a_newer_storage_version_is_refused_naming_both_versions() -> None:
    verdict = meta_global_outcome(_meta(storageVersion=6))
    assert verdict == "too_new_error"
    error = verdict.error
    assert isinstance(error, ClientUpgradeRequired)
    assert error.storage_version == 6
    assert str(error) == (
        "meta/global has storage version 6; this client speaks 5 and will not write to it"
    )
