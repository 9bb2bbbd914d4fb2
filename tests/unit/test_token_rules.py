"""The token chart's decisions as pure functions (beacon/client/_token_rules.py): whether a
persisted token is reused, what a 401 leaves without a refresh, whether a token points at the
persisted node. The integration paths are in tests/client/test_sync_token.py."""

from __future__ import annotations

from beacon import AuthenticationError, BackoffError
from beacon.client._store import NodeAssignment
from beacon.client._token_rules import recall_outcome, refresh_outcome, same_destination
from beacon.client._tokenclient import TOKEN_SAFETY_MARGIN, Token

NOW = 1_700_000_000.0
ENDPOINT = "https://node.test/1.5/7"


def _token(*, fetched_at: float = NOW, uid: int = 7, endpoint: str = ENDPOINT) -> Token:
    return Token("hawk-id", "hawk-key", uid, endpoint, 3600, "h" * 32, fetched_at)


def test_a_valid_persisted_token_is_fresh_even_inside_a_backoff_window() -> None:
    verdict = recall_outcome(_token(), now=NOW + 10, backoff_until=NOW + 600)
    assert verdict == "fresh"
    assert verdict.error is None


def test_a_token_past_its_safety_margin_is_expired() -> None:
    expiry = NOW + 3600 - TOKEN_SAFETY_MARGIN
    assert recall_outcome(_token(), now=expiry - 1, backoff_until=None) == "fresh"
    assert recall_outcome(_token(), now=expiry, backoff_until=None) == "expired"


def test_no_token_is_missing() -> None:
    verdict = recall_outcome(None, now=NOW, backoff_until=None)
    assert verdict == "missing"
    assert verdict.error is None


def test_the_token_servers_window_refuses_a_fetch_until_it_ends() -> None:
    expired = _token(fetched_at=NOW - 7200)
    verdict = recall_outcome(expired, now=NOW, backoff_until=NOW + 30)
    assert verdict == "backoff"
    assert isinstance(verdict.error, BackoffError)
    assert verdict.error.until == NOW + 30
    assert str(verdict.error) == (
        f"the token server asked to back off until {NOW + 30:.0f} (epoch seconds)"
    )
    assert recall_outcome(None, now=NOW, backoff_until=NOW + 30) == "backoff"
    # At the window's end (and after) the fetch goes ahead.
    assert recall_outcome(expired, now=NOW, backoff_until=NOW) == "expired"
    assert recall_outcome(None, now=NOW, backoff_until=NOW - 1) == "missing"


def test_a_callable_source_is_asked_again_and_a_fixed_string_ends_with_the_401() -> None:
    refused = AuthenticationError("storage token refused")
    asked_again = refresh_outcome(refreshable=True, refused=refused)
    assert asked_again == "ok"
    assert asked_again.error is None
    fixed = refresh_outcome(refreshable=False, refused=refused)
    assert fixed == "failed"
    assert fixed.error is refused


def test_a_first_token_or_the_same_uid_and_endpoint_is_the_same_node() -> None:
    token = _token()
    assert same_destination(None, token)
    assert same_destination(NodeAssignment(ENDPOINT, 7), token)


def test_another_uid_or_endpoint_is_a_node_reassignment() -> None:
    token = _token()
    assert not same_destination(NodeAssignment(ENDPOINT, 8), token)
    assert not same_destination(NodeAssignment("https://other.test/1.5/7", 7), token)
