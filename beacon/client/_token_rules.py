"""What the token chart's inputs mean: a persisted token, a refusal, a token's destination.

Contract: pure functions over plain values (no store, no token server); the token service reads
what they need, calls them and acts on the outcome they name, one of the calling action's
declared outcomes (statecharts/token.yaml decides where it leads). docs/protocol.md §1,
docs/anchors.md §3.6 ``TokenProvider``, §4 item 10, P15.
"""

from __future__ import annotations

from beacon._errors import AuthenticationError
from beacon.charts import Outcome, outcome
from beacon.client._run import backoff_error
from beacon.client._store import NodeAssignment
from beacon.client._tokenclient import Token

__all__ = ["recall_outcome", "refresh_outcome", "same_destination"]


def recall_outcome(token: Token | None, *, now: float, backoff_until: float | None) -> Outcome:
    """``recall_token``'s outcome: ``fresh`` for a persisted token still valid at ``now``;
    otherwise ``backoff`` (carrying the window) while the token server's window runs, so no
    request goes out; else ``missing`` (no token) or ``expired``."""
    if token is not None and token.is_valid(now):
        return outcome("fresh")
    if backoff_until is not None and backoff_until > now:
        return outcome("backoff", backoff_error("the token server", backoff_until))
    return outcome("missing" if token is None else "expired")


def refresh_outcome(*, refreshable: bool, refused: AuthenticationError | None) -> Outcome:
    """What a 401 leaves when the access-token source has no ``refresh()``: ``ok`` when it is
    a callable asked again by the next fetch (it may answer a new token), else ``failed``
    with the 401 that led here (a fixed string has nothing new, docs/anchors.md P15)."""
    return outcome("ok") if refreshable else outcome("failed", refused)


def same_destination(previous: NodeAssignment | None, token: Token) -> bool:
    """Whether ``token`` points where the persisted assignment does (iOS ``sameDestination``):
    the same uid and api_endpoint, or no assignment yet (the first token sets it)."""
    return previous is None or (previous.uid, previous.api_endpoint) == (
        token.uid,
        token.api_endpoint,
    )
