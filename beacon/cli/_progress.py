"""A sync's progress on stderr (records, requests, rate), observed from the outside.

Nothing in the client is edited for it: the requests are counted by an ``httpx`` transport
wrapped around the real one (the one ``SyncClient`` would make itself), and the records by
engines that report what they applied and what the server stored. The bar appears only
when the run lasts more than a second, only on a terminal, never under ``--json``/``-q``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from beacon.client import ApplyCounts, IncomingRecord, RecordEngine

__all__ = ["CountingTransport", "ProgressEngine", "SyncProgress"]

#: A run shorter than this shows no bar at all.
DELAY = 1.0


class SyncProgress:
    """Counts records and requests; draws them once the run has lasted :data:`DELAY`."""

    def __init__(self, *, enabled: bool, console: Console | None = None) -> None:
        self.records = 0
        self.requests = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._console = console or Console(stderr=True)
        self._enabled = enabled and self._console.is_terminal
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._timer: threading.Timer | None = None
        self._closed = False

    def __enter__(self) -> SyncProgress:
        self._started = time.monotonic()
        if self._enabled:
            self._timer = threading.Timer(DELAY, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closed = True  # a timer that fired just now must not start a bar
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def _show(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("syncing"),
                TextColumn("{task.fields[records]:>8,} records"),
                TextColumn("{task.fields[requests]:>5,} requests"),
                TextColumn("{task.fields[rate]:>8,.0f} records/s"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            fields: dict[str, Any] = self._fields()
            self._task = self._bar.add_task("sync", total=None, **fields)
            self._bar.start()

    def _fields(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return {"records": self.records, "requests": self.requests, "rate": self.records / elapsed}

    def _update(self) -> None:
        with self._lock:
            if self._bar is not None and self._task is not None:
                fields: dict[str, Any] = self._fields()
                self._bar.update(self._task, **fields)

    def add_records(self, count: int) -> None:
        self.records += count
        self._update()

    def add_request(self) -> None:
        self.requests += 1
        self._update()


class CountingTransport(httpx.BaseTransport):
    """An ``httpx`` transport that tells :class:`SyncProgress` about every request."""

    def __init__(self, progress: SyncProgress, inner: httpx.BaseTransport | None = None) -> None:
        self._progress = progress
        self._inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._progress.add_request()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class ProgressEngine(RecordEngine):
    """A :class:`RecordEngine` that reports the records it applies and uploads."""

    def __init__(self, name: str, progress: SyncProgress) -> None:
        super().__init__(name)
        self._progress = progress

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        counts = super().apply_incoming(records)
        self._progress.add_records(len(records))
        return counts

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        ids = list(ids)
        super().mark_uploaded(ids, server_modified)
        self._progress.add_records(len(ids))
