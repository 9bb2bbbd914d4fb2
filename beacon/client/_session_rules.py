"""What the session chart's inputs mean: backoff windows, the account check, cache freshness,
a fetched meta/global's storage version.

Contract: pure functions over plain values (no store, no transport, no clock of their own); the
session service reads what they need, calls them and acts on the outcome they name, which is
always one of the calling action's declared outcomes (statecharts/session.yaml decides where
it leads). docs/anchors.md §4 item 9 (the wait after a second 401), §3.2 and §8 (caches reused
only on exact timestamp equality), docs/protocol.md §4.3 and §4.8 (storage versions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beacon._errors import ClientUpgradeRequired
from beacon._protocol import STORAGE_VERSION
from beacon.charts import Outcome, outcome
from beacon.client._run import backoff_error

__all__ = [
    "AUTH_FAILURE_BACKOFF",
    "MAX_AUTH_FAILURE_BACKOFF",
    "account_outcome",
    "auth_failure_until",
    "auth_failure_wait",
    "cache_current",
    "meta_global_outcome",
    "refusal_holds",
    "window_open",
]

#: Seconds the next run waits after a run ended in a second 401 in a row (desktop's
#: MINIMUM_BACKOFF_INTERVAL is 15 minutes; docs/anchors.md §4 item 9).
AUTH_FAILURE_BACKOFF = 15 * 60.0
#: The wait doubles with every run that ends refused again, up to this many seconds.
MAX_AUTH_FAILURE_BACKOFF = 24 * 3600.0


def window_open(until: float | None, now: float) -> bool:
    """Whether a backoff window ending at ``until`` (None: no window) still runs at ``now``."""
    return until is not None and until > now


def auth_failure_wait(failures: int) -> float:
    """Seconds the next run waits after ``failures`` refused runs in a row (15 min, doubling)."""
    doubled = AUTH_FAILURE_BACKOFF * float(2 ** min(max(failures - 1, 0), 16))
    return min(doubled, MAX_AUTH_FAILURE_BACKOFF)


def auth_failure_until(failed_at: float, failures: int) -> float:
    """When the wait after the last refused run ends (it began when that run was refused)."""
    return failed_at + auth_failure_wait(failures)


def refusal_holds(marked: bool, refused: str | None, credentials: str) -> bool:
    """Whether a remembered refusal holds back a run with ``credentials``: only the
    credentials that were refused wait, not new ones (another kB, another access token)."""
    return marked and refused == credentials


def account_outcome(
    *,
    now: float,
    node_until: float | None,
    auth_until: float | None,
    stored_kb: str | None,
    client_state: str,
) -> Outcome:
    """``check_account``'s outcome: ``backoff`` (carrying the window) while the storage node's
    window or the wait after a refused run runs, checked in that order; ``kb_changed`` when
    a kB fingerprint is stored and differs from this run's; else ``ok``."""
    windows = (
        ("the storage node", node_until),
        ("the last run's authentication failure", auth_until),
    )
    for who, until in windows:
        if until is not None and until > now:
            return outcome("backoff", backoff_error(who, until))
    if stored_kb is not None and stored_kb != client_state:
        return outcome("kb_changed")
    return outcome("ok")


def cache_current(info: Mapping[str, float] | None, collection: str, cached: float | None) -> bool:
    """Whether a cache of ``collection`` taken at ``cached`` (None: no cache) is current: its
    timestamp equals info/collections' exactly (docs/anchors.md §3.2, §8; never "newer")."""
    listed = info or {}
    return cached is not None and collection in listed and listed[collection] == cached


def meta_global_outcome(record: Mapping[str, Any] | None) -> Outcome:
    """What a fetched meta/global (parsed; None: unusable) means for ``fetch_meta_global``:
    ``outdated`` (a fresh start: no syncID, no or an older storage version), ``too_new_error``
    (a newer storage version: never written to) or ``ok``."""
    if record is None or not isinstance(record.get("syncID"), str):
        # desktop: no syncID or storageVersion → fresh start (docs/anchors.md §4 item 4)
        return outcome("outdated")
    version = record.get("storageVersion")
    if not isinstance(version, int) or version < STORAGE_VERSION:
        return outcome("outdated")
    if version > STORAGE_VERSION:
        error = ClientUpgradeRequired(
            f"meta/global has storage version {version}; this client speaks "
            f"{STORAGE_VERSION} and will not write to it",
            storage_version=version,
        )
        return outcome("too_new_error", error)
    return outcome("ok")
