"""The service's shared state: configuration, database, secrets and runtime fault queues.

Contract:

* :class:`Limits` holds the info/configuration values (protocol §3.7; rs defaults) that the
  storage nodes enforce.
* :class:`Core` is built once per :class:`~beacon.server.EmbeddedService`; the HTTP layer,
  the admin API and ``svc.faults`` all act on it. Its repr shows no secrets.
* :class:`FaultQueue` holds injected errors and backoff headers, consumed by requests in
  arrival order (each rule counts down; ``path_contains`` restricts which requests match).
* :class:`RequestLog` keeps the last requests (method, path without query, status, clock time,
  whether the answer was injected); never headers, bodies or query strings.
* :class:`WriteLocks` gives each storage user one non-blocking write lock: a write that finds
  it taken is answered 503 + ``Retry-After`` as Mozilla answers a conflicting write (§3.10).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from beacon._models import InfoConfiguration
from beacon.server._accounts import Accounts
from beacon.server._auth import HawkGate
from beacon.server._db import Database
from beacon.server._fxa import FxA

# One table of §3.7 defaults: the wire model's, which clients fall back on too.
_DEFAULTS = InfoConfiguration()


@dataclass(frozen=True)
class Limits:
    """Storage limits advertised in info/configuration and enforced (§3.6, §3.7)."""

    max_request_bytes: int = _DEFAULTS.max_request_bytes
    max_post_records: int = _DEFAULTS.max_post_records
    max_post_bytes: int = _DEFAULTS.max_post_bytes
    max_total_records: int = _DEFAULTS.max_total_records
    max_total_bytes: int = _DEFAULTS.max_total_bytes
    max_record_payload_bytes: int = _DEFAULTS.max_record_payload_bytes

    def as_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class LoggedRequest:
    """One entry of the request log."""

    method: str
    path: str
    status: int
    time: float
    injected: bool = False


@dataclass
class _Rule:
    remaining: int
    path_contains: str | None
    status: int = 503
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FaultQueue:
    """Injected 5xx answers and backoff headers for the next requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[_Rule] = []
        self._backoffs: list[_Rule] = []

    def add_error(
        self, count: int, *, path_contains: str | None, status: int, retry_after: int | None
    ) -> None:
        with self._lock:
            self._errors.append(_Rule(count, path_contains, status, retry_after))

    def add_headers(
        self, count: int, *, path_contains: str | None, headers: dict[str, str]
    ) -> None:
        with self._lock:
            self._backoffs.append(_Rule(count, path_contains, headers=headers))

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()
            self._backoffs.clear()

    @staticmethod
    def _take(rules: list[_Rule], path: str) -> _Rule | None:
        for rule in rules:
            if rule.path_contains is None or rule.path_contains in path:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
                return rule
        return None

    def take_error(self, path: str) -> _Rule | None:
        with self._lock:
            return self._take(self._errors, path) if self._errors else None

    def take_headers(self, path: str) -> dict[str, str]:
        with self._lock:
            rule = self._take(self._backoffs, path) if self._backoffs else None
        return {} if rule is None else dict(rule.headers)


class RequestLog:
    """The last ``size`` requests, oldest first."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class WriteLocks:
    """One lock per storage uid; see the module docstring."""

    def __init__(self) -> None:
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, uid: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(uid, threading.Lock())

    @contextmanager
    def try_hold(self, uid: int) -> Iterator[bool]:
        """Yield True while holding the lock, False (not held) if another write has it."""
        lock = self._lock(uid)
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()


class Core:
    """Everything a request handler needs; built by ``EmbeddedService``."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Callable[[], float],
        nodes: int,
        rng: Callable[[int], bytes] = os.urandom,
        master_secret: str | None = None,
        admin_secret: str | None = None,
        limits: Limits | None = None,
        token_duration: int = 3600,
        hawk_skew: float = 60.0,
        quota_bytes: int | None = None,
        public_url: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.rng = rng
        self.nodes = nodes
        self.limits = limits or Limits()
        self.token_duration = token_duration
        self.quota_bytes = quota_bytes
        self.public_url = public_url.rstrip("/") if public_url else None
        self.admin_secret = admin_secret
        self.master_secret = master_secret or db.secret("master_secret")
        self.metrics_secret = db.secret("metrics_secret")
        self.accounts = Accounts(db, secret=db.secret("oauth_secret"), clock=clock, rng=rng)
        self.fxa = FxA(db, self.accounts, clock=clock, rng=rng)
        self.gate = HawkGate(db, master_secret=self.master_secret, clock=clock, skew=hawk_skew)
        self.pending = FaultQueue()
        self.log = RequestLog()
        self.write_locks = WriteLocks()

    def __repr__(self) -> str:
        return f"Core(nodes={self.nodes}, db={self.db!r})"
