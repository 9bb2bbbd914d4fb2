"""Known bugs planted into the client through test-only overrides (monkeypatch), so the
campaign can prove it finds them. Each override keeps the chart's contract (same actions,
same declared outcomes) and breaks one protocol rule, exactly as a plausible regression would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from beacon.charts import action, guard
from beacon.client._collection_service import CollectionService
from beacon.client._engine_api import ApplyCounts, IncomingRecord
from beacon.client._session_service import SessionService

Plant = Callable[[pytest.MonkeyPatch], None]


def token_kept_on_401(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invalidation (the chart counts it) keeps the refused token (memory and state file)."""

    @action("ok")
    def drop_token(self: SessionService) -> str:
        return "ok"

    monkeypatch.setattr(SessionService, "drop_token", drop_token)


def last_fetch_before_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last-fetch mark moves as soon as a page is downloaded; its records are applied only
    in the next transition (``advance_last_fetch``), so a crash in between leaves a gap."""
    download = CollectionService.download_page
    advance = CollectionService.advance_last_fetch

    @action("more", "done", "changed", "unauthorized", "backoff", "network_error", "failed")
    def download_page(self: CollectionService) -> str:
        stash: list[IncomingRecord] = self.__dict__.setdefault("_planted_stash", [])

        def later(records: Sequence[IncomingRecord]) -> ApplyCounts:
            stash.extend(records)
            return ApplyCounts()

        engine: Any = self._engine
        engine.apply_incoming = later
        try:
            outcome = download(self)
        finally:
            del engine.apply_incoming
        high = self._high_water
        if high is not None:
            self._run.store.set_last_fetch(self._name, high)
        return outcome

    @action("ok")
    def advance_last_fetch(self: CollectionService) -> str:
        stash: list[IncomingRecord] = self.__dict__.pop("_planted_stash", [])
        if stash:
            with self._run.store.transaction():
                self._engine.apply_incoming(stash)
        return advance(self)

    monkeypatch.setattr(CollectionService, "download_page", download_page)
    monkeypatch.setattr(CollectionService, "advance_last_fetch", advance_last_fetch)


def stale_keys_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached crypto/keys count as current whatever info/collections says about ``crypto``."""

    @guard
    def keys_current(self: SessionService) -> bool:
        return self.run.store.crypto_keys(self.run.root) is not None

    monkeypatch.setattr(SessionService, "keys_current", keys_current)


#: name -> (override, the invariants that may report it)
PLANTED: dict[str, tuple[Plant, frozenset[str]]] = {
    "token_kept_on_401": (token_kept_on_401, frozenset({"rejected_token"})),
    "last_fetch_before_apply": (
        last_fetch_before_apply,
        frozenset({"convergence", "no_lost_edit"}),
    ),
    "stale_keys_reused": (stale_keys_reused, frozenset({"upload_keys", "convergence"})),
}
