"""``EmbeddedService``: the whole Sync 1.5 service (token server + N storage nodes) as one object.

Contract:

* ``EmbeddedService(data_dir=None, nodes=2, clock=time.time, admin_secret=None, ...)`` opens
  (or creates) ``<data_dir>/beacon-server.sqlite3``; ``data_dir=None`` keeps everything in
  memory. Secrets (token master secret, OAuth and metrics secrets) are generated once and
  kept in the database, so tokens and accounts survive a restart. A file an older beacon
  wrote is migrated on open; one a newer beacon wrote is a ``UsageError`` (see ``_db``).
  ``master_secret`` (one string, or several for rotation: tokens are minted with the first
  and verified against each) replaces the generated one, so a standard token server sharing
  it (syncstorage-rs, Mozilla's ``tokenlib``) mints tokens these storage nodes accept.
* ``clock`` (epoch seconds) drives every timestamp, TTL, token expiry and the Hawk skew check;
  ``rng`` every random choice (account uids, token salts).
* ``svc.app`` is the Starlette app; ``svc.transport()`` a new in-process sync httpx transport
  on it (base URL :data:`IN_PROCESS_URL`); ``svc.token_server_url`` the token endpoint URL
  for that transport; ``svc.serve(host, port=0)`` runs uvicorn on loopback in a thread and
  yields the base URL (the token endpoint is ``<base>/1.0/sync/1.5``).
* ``svc.create_account()``, ``svc.reset_password(fxa_uid)``, ``svc.account(fxa_uid)`` manage
  FxA stand-in accounts; ``svc.faults`` applies every fault from Python (see ``_faults``).
* ``close()`` (or the context manager) closes the database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette

from beacon._errors import UsageError
from beacon._serving import serve_in_thread
from beacon.server._accounts import Account
from beacon.server._app import build_app
from beacon.server._core import Core, Limits
from beacon.server._db import DB_FILENAME, Database
from beacon.server._faults import Faults
from beacon.server._fxa import FxA
from beacon.server._fxa_http import FXA_PREFIX
from beacon.server._inprocess import InProcessTransport

#: Base URL the in-process transport answers for (``.test`` is reserved, RFC 2606).
IN_PROCESS_URL = "http://beacon.test"
TOKEN_PATH = "/1.0/sync/1.5"


class EmbeddedService:
    """A Sync 1.5 token server and storage nodes on SQLite; see the module docstring."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        nodes: int = 2,
        clock: Callable[[], float] = time.time,
        admin_secret: str | None = None,
        *,
        master_secret: str | Sequence[str] | None = None,
        rng: Callable[[int], bytes] = os.urandom,
        limits: Limits | None = None,
        token_duration: int = 3600,
        hawk_skew: float = 60.0,
        quota_bytes: int | None = None,
        public_url: str | None = None,
        signup: bool = True,
    ) -> None:
        if nodes < 1:
            raise UsageError("an embedded service needs at least one storage node")
        if token_duration < 1:
            raise UsageError("token_duration must be at least one second")
        secrets = (master_secret,) if isinstance(master_secret, str) else tuple(master_secret or ())
        if not all(isinstance(s, str) and s for s in secrets):
            raise UsageError("master secrets must be non-empty strings")
        path: Path | None = None
        if data_dir is not None:
            directory = Path(data_dir)
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / DB_FILENAME
        self.data_dir = None if path is None else path.parent
        self._db = Database(path)
        self._core = Core(
            db=self._db,
            clock=clock,
            nodes=nodes,
            rng=rng,
            master_secrets=secrets,
            admin_secret=admin_secret,
            limits=limits,
            token_duration=token_duration,
            hawk_skew=hawk_skew,
            quota_bytes=quota_bytes,
            public_url=public_url,
        )
        self.nodes = nodes
        self.faults = Faults(self._core)
        self.app: Starlette = build_app(self._core, self.faults, signup=signup)
        self.token_server_url = IN_PROCESS_URL + TOKEN_PATH
        #: The FxA stand-in's auth server URL for the in-process transport (``/fxa``).
        self.auth_server_url = IN_PROCESS_URL + FXA_PREFIX

    def __repr__(self) -> str:
        where = str(self.data_dir) if self.data_dir else "memory"
        return f"EmbeddedService(nodes={self.nodes}, data={where})"

    def __enter__(self) -> EmbeddedService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def limits(self) -> Limits:
        return self._core.limits

    def transport(self) -> httpx.BaseTransport:
        """A new in-process transport (no sockets) for ``httpx.Client(transport=...)``."""
        return InProcessTransport(self.app)

    def client(self, **kwargs: object) -> httpx.Client:
        """An ``httpx.Client`` on the in-process transport, based at :data:`IN_PROCESS_URL`."""
        return httpx.Client(
            transport=self.transport(),
            base_url=IN_PROCESS_URL,
            **kwargs,  # type: ignore[arg-type]
        )

    def create_account(self, fxa_uid: str | None = None) -> Account:
        """A new FxA stand-in account with a signed access token (kB is the client's)."""
        return self._core.accounts.create(fxa_uid)

    @property
    def fxa(self) -> FxA:
        """The Firefox Accounts stand-in (accounts with passwords; ``create_account``)."""
        return self._core.fxa

    def account(self, fxa_uid: str) -> Account:
        """The account with a freshly issued access token; ``UsageError`` if unknown."""
        try:
            return self._core.accounts.get(fxa_uid)
        except KeyError:
            raise UsageError("unknown account") from None

    def reset_password(self, fxa_uid: str) -> Account:
        """Simulate a password reset: generation and keys_changed_at move on (see _accounts)."""
        try:
            return self._core.accounts.reset_password(fxa_uid)
        except KeyError:
            raise UsageError("unknown account") from None

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over HTTP with uvicorn in a background thread; yield ``http://host:port``.

        Every accepted socket has ``TCP_NODELAY`` (see ``beacon._serving``).
        """
        with serve_in_thread(self.app, host, port, name="beacon-server") as serving:
            yield serving.url

    def close(self) -> None:
        self._db.close()
