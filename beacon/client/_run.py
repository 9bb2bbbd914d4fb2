"""What one sync run shares between the three charts' services, and failures as outcomes.

Contract: a :class:`Run` lives for one ``SyncClient.sync()`` call. The services read and write
it; nothing in it is persisted by itself (persistence goes through the :class:`~._store.Store`,
in transactions). :func:`failure` turns a beacon error raised by the I/O layer into the chart
outcome that names it (``unauthorized``, ``backoff``, ``network_error``, ``failed``), carrying
the error with the outcome (:func:`beacon.charts.outcome`), so that ``SyncClient`` raises it
when the run ends in the final state that outcome leads to. Only
:class:`~beacon.BeaconError` is turned into an outcome: anything else is a bug and propagates
(the engine runs with ``catch_errors_as_events`` off).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beacon._crypto import CollectionKeys, KeyBundle
from beacon._errors import (
    AuthenticationError,
    BackoffError,
    BeaconError,
    TransportError,
)
from beacon._protocol import node_of
from beacon.charts import Outcome, outcome
from beacon.client._store import Store
from beacon.client._tokenclient import Token, TokenClient
from beacon.client._transport import Transport

if TYPE_CHECKING:  # the models load pydantic: on first parse, not at import
    from beacon._models import InfoConfiguration

__all__ = [
    "EngineCounts",
    "Run",
    "backoff_error",
    "credentials_fingerprint",
    "failure",
    "node_key",
]

Clock = Callable[[], float]
Rng = Callable[[int], bytes]


@dataclass
class EngineCounts:
    """What one engine did in one run (``SyncResult.engines`` values, as dicts)."""

    state: str = "pending"
    downloaded: int = 0
    applied: int = 0
    uploaded: int = 0
    failed: int = 0
    reset: bool = False
    failed_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The counts as a JSON-able dict (record ids are not secrets; payloads never appear)."""
        return {
            "state": self.state,
            "downloaded": self.downloaded,
            "applied": self.applied,
            "uploaded": self.uploaded,
            "failed": self.failed,
            "reset": self.reset,
            "failed_ids": list(self.failed_ids[:20]),
        }


@dataclass
class Run:
    """The working set of one sync run."""

    store: Store
    transport: Transport
    token_client: TokenClient
    client_state: str
    """The kB (or kSync) fingerprint: X-Client-State, what the store compares."""
    root: KeyBundle = field(repr=False)
    key_id: str
    access_token: Callable[[], str]
    refreshable: bool = False
    refresh: Callable[[], object] | None = None
    """The access-token source's ``refresh()``, when it has one (a signed-in account)."""
    credentials: str = ""
    """Which key id and access token this run uses (:func:`credentials_fingerprint`)."""
    clock: Clock = time.time
    rng: Rng = os.urandom
    token: Token | None = None
    new_assignment: bool = False
    info: Mapping[str, float] | None = None
    meta_global: dict[str, Any] | None = None
    meta_global_modified: float | None = None
    keys: CollectionKeys | None = None
    engine_results: dict[str, EngineCounts] = field(default_factory=dict)
    user_enabled: frozenset[str] = frozenset()
    """Engines the user undeclined since the last adopted meta/global (docs/anchors.md §3.3)."""
    user_disabled: frozenset[str] = frozenset()
    """Engines the user declined since then."""
    user_changes_applied: bool = False
    limits: dict[str, InfoConfiguration] = field(default_factory=dict)
    """info/configuration per node, kept by the client between runs (fetched on first upload)."""

    def counts(self, engine: str) -> EngineCounts:
        """The engine's counts for this run (created on first use)."""
        return self.engine_results.setdefault(engine, EngineCounts())

    @property
    def node(self) -> str | None:
        """The node of the token in use, for per-node backoff."""
        return node_key(self.token.api_endpoint) if self.token is not None else None


def failure(run: Run, exc: BeaconError, *, backoff_key: str | None = None) -> Outcome:
    """The outcome naming ``exc``, carrying it; backoff windows are persisted.

    ``backoff_key`` is where a :class:`~beacon.BackoffError` window is kept: a node URL for
    storage, the token server URL for the token server (docs/anchors.md P12: backoff is per server).
    """
    if isinstance(exc, AuthenticationError):
        return outcome("unauthorized", exc)
    if isinstance(exc, BackoffError):
        if backoff_key is not None:
            run.store.set_backoff_until(backoff_key, exc.until)
        return outcome("backoff", exc)
    if isinstance(exc, TransportError):
        return outcome("network_error", exc)
    return outcome("failed", exc)


def credentials_fingerprint(key_id: str, access_token: str | None) -> str:
    """Which credentials a run used, without them: 16 bytes of SHA-256, hex (a callable token
    counts by the key id alone). A refusal remembered for them does not hold back others."""
    digest = hashlib.sha256(f"{key_id}\n{access_token or ''}".encode()).hexdigest()
    return digest[:32]


def backoff_error(who: str, until: float) -> BackoffError:
    """The error for a run refused because a backoff window is still running (no request)."""
    return BackoffError(f"{who} asked to back off until {until:.0f} (epoch seconds)", until=until)


#: The storage node of an ``api_endpoint`` (the key of per-node backoff).
node_key = node_of
