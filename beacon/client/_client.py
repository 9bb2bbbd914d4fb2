"""``SyncClient``: the library's front door to one Firefox Sync 1.5 account.

Contract: ``sync()`` runs the session chart (statecharts/session.yaml), whose ``assigning``
state runs the token chart and whose ``syncing_engine`` state runs the collection chart once
per engine (clients first); one run gives one JSON trace tree. The session chart's final state
decides the result, as the chart declares it (``donedata`` roles): a ``success`` returns a
:class:`SyncResult`; a ``failure`` raises the error its outcome carried when it is of the
declared class (``BackoffError`` with ``until``, ``AuthenticationError``, ...), else a new one
of that class. Observers given to the client see every step of every chart of a run.
The result of the last run, also a failed one, stays readable as :attr:`SyncClient.last_result`.

Example (against the embedded service, in-process; ``tests/client/test_sync_example.py`` runs
it)::

    >>> import tempfile
    >>> from beacon import EmbeddedService, RecordEngine, SyncClient
    >>> svc = EmbeddedService()
    >>> account = svc.create_account()
    >>> notes = RecordEngine("notes")
    >>> state = tempfile.TemporaryDirectory()
    >>> client = SyncClient(svc.token_server_url, account.access_token, kb=bytes(32),
    ...                     keys_changed_at=account.keys_changed_at, state_path=state.name,
    ...                     engines=[notes], transport=svc.transport())
    >>> notes.put("n1", {"text": "hello"})
    >>> result = client.sync()
    >>> result.outcome, result.engines["notes"]["uploaded"]
    ('ok', 1)
    >>> client.sync().requests          # nothing changed, token still valid: info/collections
    1
    >>> client.close(); svc.close(); state.cleanup()
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from beacon._crypto import KeyBundle, SyncKey
from beacon._errors import BeaconError, UsageError, make_error
from beacon._protocol import valid_collection
from beacon.charts import Chart, RunResult, Step, Trace, bind, load_chart
from beacon.client._engines import ClientsEngine, Engine, RecordEngine, StoreBound
from beacon.client._fresh_start import FreshStartService
from beacon.client._run import Run, credentials_fingerprint
from beacon.client._session_service import SessionService
from beacon.client._store import Store
from beacon.client._tokenclient import TokenClient, normalize_token_server_url
from beacon.client._transport import Transport

if TYPE_CHECKING:  # the models load pydantic: on first parse, not at import
    from beacon._models import InfoConfiguration

__all__ = ["STATE_FILE", "SyncClient", "SyncResult", "state_file"]

#: The SQLite file inside a state directory.
STATE_FILE = "beacon-sync.sqlite3"

_CHARTS: dict[str, Chart] = {}


def _chart(name: str) -> Chart:
    if name not in _CHARTS:
        _CHARTS[name] = load_chart(name)
    return _CHARTS[name]


@dataclass(frozen=True)
class SyncResult:
    """What one ``sync()`` did.

    Attributes:
        outcome: ``"ok"`` after a complete run, else the session chart's final state.
        engines: per engine, its counts (``state``, ``downloaded``, ``applied``,
            ``uploaded``, ``failed``, ``reset``, ``failed_ids``).
        trace: the run's JSON trace tree (names and outcomes only, never secrets).
        requests: HTTP requests sent during the run.
        states: states entered, in order; nested charts' states as ``chart:state``.
        alerts: the servers' X-Weave-Alert messages seen during the run (``code``, e.g.
            ``soft-eol``, ``message``, ``url``): the operator asks the user to upgrade.
    """

    outcome: str
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict, repr=False)
    requests: int = 0
    states: tuple[str, ...] = ()
    alerts: tuple[dict[str, str], ...] = ()


def _states_entered(trace: Trace, prefix: str = "") -> list[str]:
    out: list[str] = []
    for step in trace.steps:
        out.extend(prefix + s for s in step.entered)
        for record in step.actions:
            for child in record.children:
                out.extend(_states_entered(child, f"{child.chart}:"))
    return out


class SyncClient:
    """A Firefox Sync 1.5 client for one account, with its state in one SQLite file.

    Args:
        token_server_url: the token server (a base URL or one ending in ``1.0/sync/1.5``).
        access_token: an FxA OAuth access token with the oldsync scope, or a callable returning
            a fresh one (called before every token request; a 401 from the token server calls
            it once more before giving up).
        kb: the account's 32-byte sync key kB (or None, with ``ksync`` and ``kid``).
        keys_changed_at: when kB last changed, milliseconds (for X-KeyID; None with ``kid``).
        state_path: a directory (the file ``beacon-sync.sqlite3`` is created in it, owner-only)
            or a path ending in ``.sqlite3``/``.sqlite``/``.db``.
        engines: engines to sync, or collection names (each becomes a
            :class:`~beacon.RecordEngine`). The clients engine always runs first; pass a
            :class:`~beacon.ClientsEngine` to choose its name and type.
        transport: an ``httpx.BaseTransport`` (e.g. ``EmbeddedService.transport()``).
        clock: POSIX seconds (injected for tests).
        rng: randomness for syncIDs, keys and IVs.
        client_name: our device name in the clients collection.
        fxa_device_id: our Firefox Accounts device id, written as ``fxaDeviceId`` in our
            clients record so other devices can match the two (``beacon.fxa`` passes it).
        ksync, kid: instead of kB, the scoped key an OAuth code flow hands out (the JWK's
            ``k``, 64 bytes, and ``kid``, which is the X-KeyID): credentials from
            application-services or Firefox's own flow work as they are.
        observers: functions called with every step (:class:`beacon.charts.Step`) of every
            chart a run goes through (session, token, collection), e.g. to draw progress,
            inject faults or stop a run at a given transition (an exception they raise ends
            the run and propagates out of :meth:`sync`).
        previous_kb: after a password reset, the kB before it: the local records (sealed at
            rest under a key only kB opens) are carried over to the new kB.

    The state file is opened (created, owner-only) by the constructor, and the engines that
    keep their records in it are attached, so local edits can be made before the first sync.
    One client runs one sync at a time, from one thread; two clients must not share a state
    file at the same time.

    Raises:
        UsageError: bad kB, keys_changed_at, URL or engine list, or a state file that is not
            beacon's.
    """

    def __init__(
        self,
        token_server_url: str,
        access_token: str | Callable[[], str],
        kb: bytes | None,
        keys_changed_at: int | None,
        state_path: str | os.PathLike[str],
        engines: Sequence[Engine | str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
        client_name: str = "beacon",
        observers: Sequence[Callable[[Step], object]] = (),
        previous_kb: bytes | None = None,
        ksync: bytes | None = None,
        kid: str | None = None,
        fxa_device_id: str | None = None,
    ) -> None:
        sync_key = SyncKey.of(kb=kb, keys_changed_at=keys_changed_at, ksync=ksync, kid=kid)
        if not callable(access_token) and not (isinstance(access_token, str) and access_token):
            raise UsageError("access_token must be a non-empty string or a callable")
        self._url = normalize_token_server_url(token_server_url)
        self._access_token = access_token
        self._key_id = sync_key.key_id
        self._client_state = sync_key.client_state
        self._root = sync_key.root
        self._previous_root = None if previous_kb is None else KeyBundle.from_kb(previous_kb)
        self._path = state_file(Path(state_path))
        self._engines = _engine_list(
            engines, client_name=client_name, clock=clock, fxa_device_id=fxa_device_id
        )
        self._http = Transport(transport=transport, clock=clock)
        self._clock = clock
        self._rng = rng
        self._store: Store | None = None
        self._limits: dict[str, InfoConfiguration] = {}
        self._pending_declined: dict[str, bool] = {}
        self._observers: list[Callable[[Step], object]] = list(observers)
        self.last_result: SyncResult | None = None
        self._open()  # now: engines can take local edits before the first sync

    def __repr__(self) -> str:
        return f"SyncClient({self._url!r}, engines={[e.name for e in self._engines]!r})"

    @property
    def engines(self) -> tuple[Engine, ...]:
        """The engines, in sync order (clients first)."""
        return tuple(self._engines)

    @property
    def store(self) -> Store:
        """The account's local store."""
        return self._open()

    def _open(self) -> Store:
        if self._store is None:
            store = Store(self._path)
            try:
                store.unlock_records(self._root, previous=self._previous_root)
            except BaseException:
                store.close()
                raise
            self._store = store
            for engine in self._engines:
                if isinstance(engine, StoreBound):
                    engine.attach(self._store)
        return self._store

    def _access(self) -> str:
        token = self._access_token() if callable(self._access_token) else self._access_token
        if not isinstance(token, str) or not token:
            raise UsageError("the access-token callable returned no token")
        return token

    def add_observer(self, fn: Callable[[Step], object]) -> None:
        """Call ``fn(step)`` after every step of every chart of every later run."""
        self._observers.append(fn)

    def sync(self) -> SyncResult:
        """Run one sync: token, session setup, every engine.

        Returns:
            the result of a complete run.

        Raises:
            BeaconError: the subclass naming why the run stopped (see the module docstring).
        """
        store = self.store
        before = self._http.request_count
        self._http.alerts = []  # the alerts of this run
        run = Run(
            store=store,
            transport=self._http,
            token_client=TokenClient(
                self._http,
                self._url,
                # X-Backoff on a success too: the next token request waits (recall_token).
                on_backoff=lambda until: store.set_backoff_until(self._url, until),
            ),
            client_state=self._client_state,
            root=self._root,
            key_id=self._key_id,
            access_token=self._access,
            refreshable=callable(self._access_token),
            refresh=getattr(self._access_token, "refresh", None),
            credentials=credentials_fingerprint(
                self._key_id, None if callable(self._access_token) else self._access_token
            ),
            clock=self._clock,
            rng=self._rng,
            limits=self._limits,
            user_enabled=frozenset(n for n, d in self._pending_declined.items() if not d),
            user_disabled=frozenset(n for n, d in self._pending_declined.items() if d),
        )
        for engine in self._engines:
            run.counts(engine.name)
        session = SessionService(run, engines=self._engines, token_server_url=self._url)
        machine = bind(
            _chart("session"),
            [session, FreshStartService(session)],
            clock=self._clock,
            observers=self._observers,
        )
        try:
            outcome = machine.run(max_steps=1000)
        finally:
            if run.user_changes_applied:
                self._pending_declined.clear()
            self.last_result = SyncResult(
                outcome=machine.final_state or "interrupted",
                engines={name: c.to_json() for name, c in run.engine_results.items()},
                trace=machine.trace.to_json(),
                requests=self._http.request_count - before,
                states=tuple(_states_entered(machine.trace)),
                alerts=tuple(self._http.alerts),
            )
        if outcome.failed:
            raise _error_of(outcome)
        self.last_result = dataclasses.replace(self.last_result, outcome="ok")
        return self.last_result

    def decline(self, name: str) -> None:
        """Decline an engine for every device of the account, from the next sync on.

        The next sync writes it into meta/global's ``declined`` list (removing its ``engines``
        entry), deletes its data from the server and resets it here; other devices stop
        syncing it (docs/anchors.md §3.3, §4 item 12). The change is kept in memory
        until a sync has applied it.
        """
        self._pending_declined[_declinable(name)] = True

    def undecline(self, name: str) -> None:
        """Take an engine off the declined list from the next sync on (it gets a new syncID)."""
        self._pending_declined[_declinable(name)] = False

    def disconnect(self) -> None:
        """Forget everything about the account locally: state, caches, records, client ID."""
        self.store.clear()
        for engine in self._engines:
            engine.reset()
        self._pending_declined.clear()
        self._limits.clear()
        self.last_result = None

    def close(self) -> None:
        """Close the state file and the HTTP connections."""
        if self._store is not None:
            self._store.close()
            self._store = None
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_of(result: RunResult) -> BaseException:
    """The error a failure final stands for: the one its outcome carried, if of the declared
    class (it has the context: ``until``, ``status``...), else a new one of that class."""
    declared = result.role.error or BeaconError
    if isinstance(result.error, declared):
        return result.error
    doc = (declared.__doc__ or "").strip().splitlines()
    reason = f": {doc[0].rstrip('.')}" if doc else ""
    error = make_error(declared, f"the sync run ended in {result.final_state!r}{reason}")
    if result.error is not None:
        error.__cause__ = result.error
    return error


def _declinable(name: str) -> str:
    if not valid_collection(name):
        raise UsageError(f"not an engine name: {name!r}")
    if name in ("clients", "meta", "crypto"):
        raise UsageError(f"{name!r} cannot be declined")
    return name


def state_file(path: Path) -> Path:
    """The SQLite file of a state path: the path itself when it names a database file, else
    :data:`STATE_FILE` inside it (the directory form)."""
    if path.suffix in (".sqlite3", ".sqlite", ".db"):
        return path
    return path / STATE_FILE


def _engine_list(
    engines: Sequence[Engine | str] | None,
    *,
    client_name: str,
    clock: Callable[[], float],
    fxa_device_id: str | None = None,
) -> list[Engine]:
    out: list[Engine] = []
    for item in engines or ():
        engine: Engine = RecordEngine(item, clock=clock) if isinstance(item, str) else item
        if not isinstance(engine, Engine):
            raise UsageError(f"not an engine: {item!r}")
        if any(e.name == engine.name for e in out):
            raise UsageError(f"engine {engine.name!r} given twice")
        out.append(engine)
    if not any(e.name == "clients" for e in out):
        out.insert(0, ClientsEngine(client_name, clock=clock, fxa_device_id=fxa_device_id))
    out.sort(key=lambda e: e.name != "clients")  # stable: clients first, the rest as given
    if isinstance(out[0], ClientsEngine):
        out[0].bind_engines(out)  # other clients' commands (resetEngine, wipeAll...) reach them
    return out
