"""The service's shared state: configuration, database, secrets and runtime fault queues.

Contract:

* :class:`Limits` holds the info/configuration values (docs/protocol.md §3.7; rs defaults) that the
  storage nodes enforce.
* :class:`Core` is built once per :class:`~beacon.server.EmbeddedService`; the HTTP layer,
  the admin API and ``svc.faults`` all act on it. Its repr shows no secrets.
* ``pending`` is the :class:`~beacon._injection.FaultQueue` of injected answers and headers
  (the vocabulary ``beacon proxy`` shares).
* ``log`` is the :class:`~beacon._injection.RequestLog` of the last requests (method, path
  without query, status, clock time, whether the answer was injected), shared with the proxy.
* :class:`WriteLocks` gives each storage user one non-blocking write lock: a write that finds
  it taken is answered 503 + ``Retry-After`` as Mozilla answers a conflicting write (§3.10).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from beacon._injection import FaultQueue, RequestLog
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
        master_secrets: Sequence[str] = (),
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
        # Tokens are minted with the first secret and verified against each (rotation); with
        # none given, one is generated and kept in the database.
        self.master_secrets = tuple(master_secrets) or (db.secret("master_secret"),)
        self.metrics_secret = db.secret("metrics_secret")
        self.accounts = Accounts(db, secret=db.secret("oauth_secret"), clock=clock, rng=rng)
        self.fxa = FxA(db, self.accounts, clock=clock, rng=rng)
        self.gate = HawkGate(db, secrets=self.master_secrets, clock=clock, skew=hawk_skew)
        self.pending = FaultQueue()
        self.log = RequestLog()
        self.write_locks = WriteLocks()

    def __repr__(self) -> str:
        return f"Core(nodes={self.nodes}, db={self.db!r})"
