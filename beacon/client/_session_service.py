"""The session chart's service (statecharts/session.yaml): the seed note's machine.

Contract (docs/seed-note.md; docs/anchors.md §2.3, §3.2, §4, §8;
docs/protocol.md §4.3, §4.4, §4.8):

* ``check_account`` reads only: a backoff window of the assigned node (the token server's is
  the token chart's business: a valid token needs no token server), or the minimum wait after
  a run that ended in a second 401 (desktop ``lastSyncReassigned``, docs/anchors.md §4 item 9),
  refuses the run with no request; a kB whose fingerprint differs from the stored one is
  ``kb_changed``: the chart keeps it on probation and ``forget_key_state`` runs only once the
  token server and crypto/keys have accepted it (docs/seed-note.md, Persistence: discard keys,
  meta/global and per-collection state).
* ``fetch_info_collections`` is the first storage request of every run, with
  X-If-Modified-Since when a previous i/c is known (304 → ``not_modified``).
* meta/global and crypto/keys caches are reused only on **exact** timestamp equality with i/c
  (docs/anchors.md §3.2 ``WithPreviousState``, §8). A storage version newer than 5 stops the run
  before any write; an older one, a missing meta/global or missing keys lead to one fresh start per
  run (its actions are in ``_fresh_start``). Keys that do not verify under kB are a trust
  error, never a wipe (docs/anchors.md P8, P11).
* A new global syncID resets every engine and refetches keys; changed collection keys reset the
  engines whose bundle changed (all of them when the default changed: docs/anchors.md §2.5
  ``addLocalCommandsFromKeys``, §4 item 6); engine syncIDs are compared per collection by the
  collection chart.
* A 401 is never read as missing data: it is the ``unauthorized`` outcome, which the chart
  routes to ``invalidated`` (drop the token, run again once; the chart counts).
* ``obtain_token`` runs the token chart and ``sync_engine`` the collection chart for the
  engine ``next_engine`` chose (clients first); their outcomes are those charts' finals.
* Errors travel with the outcomes that stand for them (``beacon.charts.outcome``).
* Every write to local state happens in one store transaction per action.

The helpers without a chart mark (:attr:`SessionService.storage`, :meth:`~SessionService.fail`,
:meth:`~SessionService.reset_engines`, :meth:`~SessionService.remember_configuration`) are
shared with :class:`~._fresh_start.FreshStartService`.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from beacon._crypto import CollectionKeys
from beacon._errors import (
    AuthenticationError,
    BeaconError,
    ConflictError,
    KeyMismatchError,
    ProtocolViolation,
    SetupRaceError,
    make_error,
)
from beacon.charts import Outcome, action, guard, outcome, run_child
from beacon.client._collection_service import CollectionService
from beacon.client._engines import Engine
from beacon.client._run import Run, backoff_error, failure, node_key
from beacon.client._session_rules import (
    AUTH_FAILURE_BACKOFF,
    MAX_AUTH_FAILURE_BACKOFF,
    account_outcome,
    auth_failure_until,
    auth_failure_wait,
    cache_current,
    meta_global_outcome,
    refusal_holds,
    window_open,
)
from beacon.client._setup import plan_adoption, read_meta_global
from beacon.client._storage import StorageClient
from beacon.client._token_service import TokenService

# The wait after a refused run is decided in _session_rules; its names stay importable here.
__all__ = [
    "AUTH_FAILURE_BACKOFF",
    "MAX_AUTH_FAILURE_BACKOFF",
    "SessionService",
    "auth_failure_wait",
]

_AUTH_FAILED_AT = "auth_failed_at"
_AUTH_FAILURES = "auth_failures"


class SessionService:
    """Actions and guards of the session chart, over one :class:`~._run.Run`.

    Args:
        run: the run's working set.
        engines: the engines, clients first.
        token_server_url: the token server (backoff key for the token server).
    """

    def __init__(self, run: Run, *, engines: Sequence[Engine], token_server_url: str) -> None:
        self.run = run
        self._engines = list(engines)
        self._server = token_server_url
        self._storage: StorageClient | None = None
        # The engine pass from Ready: which engine runs next, and those that failed in it.
        self._cursor = 0
        self._current: Engine | None = None
        self._engine_errors: dict[str, BaseException] = {}
        self._unauthorized: AuthenticationError | None = None  # the 401 that invalidated
        self._backoff_until: float | None = None  # a success asked us to back off
        self._fetched_meta: dict[str, Any] | None = None
        self._fetched_meta_modified = 0.0
        # The engine configuration a fresh start rebuilds meta/global from (docs/anchors.md P1,
        # P13): kept in memory when the caches that hold it are dropped (node or kB change, wipe).
        self.previous_meta: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"SessionService(engines={[e.name for e in self._engines]!r})"

    # -- helpers ---------------------------------------------------------------------------

    @property
    def storage(self) -> StorageClient:
        """The storage client for the current token (rebuilt when the token changes)."""
        token = self.run.token
        if token is None:  # pragma: no cover - the chart only reaches storage with a token
            raise RuntimeError("no token: the session chart is out of order")
        if self._storage is None or self._storage.token is not token:
            self._storage = StorageClient(
                self.run.transport, token, on_backoff=self._remember_backoff
            )
        return self._storage

    def _remember_backoff(self, until: float) -> None:
        """Any response asking for backoff, success or not: keep it for this node (§3.9); the
        run itself stops after the collection in progress (``asked_to_back_off``)."""
        node = self.run.node
        if node is not None:
            self.run.store.set_backoff_until(node, until)
        if until > self.run.clock():
            self._backoff_until = max(until, self._backoff_until or 0.0)

    def fail(self, exc: BeaconError) -> Outcome:
        """The outcome for an I/O error; backoff windows are kept for the current node."""
        if isinstance(exc, AuthenticationError):
            self._unauthorized = exc
        return failure(self.run, exc, backoff_key=self.run.node)

    @property
    def local_engines(self) -> dict[str, int]:
        """The engines this client syncs: name → engine version (for meta/global)."""
        return {e.name: e.version for e in self._engines}

    def remember_configuration(self) -> None:
        """Keep the last adopted meta/global before a drop of the caches holding it."""
        if self.run.meta_global is not None:
            self.previous_meta = self.run.meta_global
            return
        cached = self.run.store.meta_global()
        if cached is not None:
            try:
                record = json.loads(cached.value)
            except ValueError:
                return
            if isinstance(record, dict):
                self.previous_meta = record

    def reset_engines(self, names: Sequence[str] | None = None) -> None:
        """Reset engines (all when ``names`` is None): their syncID and last fetch go."""
        for engine in self._engines:
            if names is None or engine.name in names:
                self.run.store.reset_collection(engine.name)
                engine.reset()
                self.run.counts(engine.name).reset = True

    # -- Married ----------------------------------------------------------------------------

    @action("ok", "kb_changed", "backoff")
    def check_account(self) -> Outcome:
        """Refuse the run inside a backoff window (no request); notice a new kB."""
        run, store = self.run, self.run.store
        assignment = store.node_assignment()
        node_until = (
            store.backoff_until(node_key(assignment.api_endpoint))
            if assignment is not None
            else None
        )
        auth_until = None
        if refusal_holds(store.auth_failed(), store.refused_credentials(), run.credentials):
            failed_at, failures = store.counter(_AUTH_FAILED_AT), store.counter(_AUTH_FAILURES)
            auth_until = auth_failure_until(failed_at, failures)
        return account_outcome(
            now=run.clock(),
            node_until=node_until,
            auth_until=auth_until,
            stored_kb=store.kb_fingerprint(),
            client_state=run.client_state,
        )

    @action("ok")
    def forget_key_state(self) -> str:
        """A new kB, proven: drop the old kB's caches and collection state; reset engines.

        Entered only after the token server accepted the new key id and crypto/keys decrypted
        under the new kB, so a mistyped kB destroys nothing; the new token is kept.
        """
        self.remember_configuration()
        with self.run.store.transaction():
            self.run.store.adopt_kb_fingerprint(self.run.client_state, keep_token=True)
            self.run.store.settle_records_key(self.run.root)  # the old kB's wrap goes now
            self.reset_engines()
        return "ok"

    @action(
        "ok", "node_reassigned", "unauthorized", "backoff", "network_error", "failed",
        chart="token", max_steps=50,
    )  # fmt: skip
    def obtain_token(self) -> Outcome:
        """Run the token chart; its final state is this action's outcome."""
        store = self.run.store
        if store.kb_fingerprint() is None:  # a first run: nothing of an older kB to protect
            store.adopt_kb_fingerprint(self.run.client_state)
        result = run_child([TokenService(self.run, token_server_url=self._server)])
        if isinstance(result.error, AuthenticationError):
            self._unauthorized = result.error
        return outcome(result.final_state, result.error)

    @action("ok")
    def forget_node_state(self) -> str:
        """Node reassignment: the old node's caches and every collection's state go."""
        run = self.run
        token = run.token
        if token is None:  # pragma: no cover - entered only after a token arrived
            raise RuntimeError("node reassignment without a token")
        old = run.store.node_assignment()
        self.remember_configuration()
        with run.store.transaction():
            if old is not None:  # docs/anchors.md P12: the old node's backoff goes with it
                run.store.set_backoff_until(node_key(old.api_endpoint), None)
            run.store.drop_node_scoped()
            run.store.set_node_assignment(token.api_endpoint, token.uid)
            self.reset_engines()
        return "ok"

    # -- Initial Assigned -----------------------------------------------------------------------

    @action("ok", "not_modified", "unauthorized", "backoff", "network_error", "failed")
    def fetch_info_collections(self) -> str:
        """GET info/collections, with X-If-Modified-Since when a previous one is cached."""
        store = self.run.store
        # Every pass from Initial Assigned syncs every engine again, clients first.
        self._cursor, self._current, self._engine_errors = 0, None, {}
        cached = store.info_collections()
        try:
            result = self.storage.info_collections(
                if_modified_since=cached.timestamp if cached is not None else None
            )
        except BeaconError as exc:
            return self.fail(exc)
        if result is None and cached is not None:
            self.run.info = dict(cached.value)
            return "not_modified"
        if result is None:  # pragma: no cover - a 304 is only possible with the header
            raise ProtocolViolation("info/collections answered 304 to an unconditional GET")
        self.run.info = dict(result.collections)
        store.set_info_collections(result.collections, timestamp=result.last_modified)
        return "ok"

    @guard
    def meta_global_current(self) -> bool:
        """A cached meta/global whose timestamp equals i/c's ``meta`` exactly."""
        cached = self.run.store.meta_global()
        return cache_current(
            self.run.info, "meta", cached.timestamp if cached is not None else None
        )

    @guard
    def keys_current(self) -> bool:
        """Cached keys whose timestamp equals i/c's ``crypto`` exactly."""
        cached = self.run.store.crypto_keys(self.run.root)
        return cache_current(
            self.run.info, "crypto", cached.timestamp if cached is not None else None
        )

    # -- meta/global -----------------------------------------------------------------------------

    @action(
        "ok", "not_found", "outdated", "too_new_error",
        "unauthorized", "backoff", "network_error", "failed",
    )  # fmt: skip
    def fetch_meta_global(self) -> Outcome:
        """GET meta/global and check its storage version; nothing is adopted yet."""
        try:
            bso = self.storage.get_record("meta", "global")
        except BeaconError as exc:
            return self.fail(exc)
        if bso is None:
            return outcome("not_found")
        record = read_meta_global(bso.payload)  # any device may write it: one bounded parse
        verdict = meta_global_outcome(record)
        if verdict == "ok":
            self._fetched_meta = record
            self._fetched_meta_modified = bso.modified or 0.0
        return verdict

    @action("ok", "conflict", "unauthorized", "backoff", "network_error", "failed")
    def resolve_meta_global(self) -> Outcome:
        """Adopt meta/global: syncIDs, the declined merge, our engines; upload a fix-up."""
        run, store = self.run, self.run.store
        if self._fetched_meta is not None:
            record, modified = self._fetched_meta, self._fetched_meta_modified
        else:
            cached = store.meta_global()
            if cached is None:  # pragma: no cover - the guard saw it a moment ago
                raise RuntimeError("meta/global cache vanished")
            record, modified = json.loads(cached.value), cached.timestamp
        plan = plan_adoption(
            record,
            global_sync_id=store.global_sync_id(),
            local_declined=store.declined_engines(),
            local_engines=self.local_engines,
            user_enabled=run.user_enabled,
            user_disabled=run.user_disabled,
            listed=set(run.info or {}),
            rng=run.rng,
        )
        fixed = plan.record
        if plan.upload:
            try:
                modified = self.storage.put_record(
                    "meta", "global", json.dumps(fixed), if_unmodified_since=modified
                )
            except ConflictError as exc:
                race = SetupRaceError("another client changed meta/global while we did")
                race.__cause__ = exc
                return outcome("conflict", race)
            except BeaconError as exc:
                return self.fail(exc)
        for name in plan.wipe:
            try:
                self.storage.delete_collection(name)
            except BeaconError as exc:
                return self.fail(exc)
        run.user_changes_applied = True
        with store.transaction():
            if plan.drop_keys:
                store.set_crypto_keys(None)
            if plan.reset_all:
                self.reset_engines()
                store.set_global_sync_id(fixed["syncID"])
            for name in plan.local_resets:
                self.reset_engines([name])
            store.set_meta_global(json.dumps(fixed), timestamp=modified)
            store.set_engine_config(enabled=sorted(fixed["engines"]), declined=plan.declined)
        run.meta_global = fixed
        run.meta_global_modified = modified
        self._fetched_meta = None
        return outcome("ok")

    # -- crypto/keys -----------------------------------------------------------------------------

    @action("ok", "not_found", "key_mismatch", "unauthorized", "backoff", "network_error", "failed")
    def fetch_crypto_keys(self) -> Outcome:
        """GET crypto/keys, verify under kB, reset the engines whose key changed."""
        run, store = self.run, self.run.store
        try:
            bso = self.storage.get_record("crypto", "keys")
        except BeaconError as exc:
            return self.fail(exc)
        if bso is None:
            return outcome("not_found")
        try:
            keys = CollectionKeys.decrypt(run.root, bso.payload)
        except KeyMismatchError as exc:
            return outcome("key_mismatch", exc)
        except BeaconError as exc:
            return self.fail(exc)
        old = store.crypto_keys(run.root)
        with store.transaction():
            if old is not None:
                names = [e.name for e in self._engines]
                self.reset_engines(sorted(old.value.changed_collections(keys, names)))
            store.set_crypto_keys(keys, timestamp=bso.modified or 0.0, root=run.root)
        run.keys = keys
        return outcome("ok")

    # -- Ready -----------------------------------------------------------------------------------

    @action("engine", "done")
    def next_engine(self) -> Outcome:
        """Choose the next engine of this pass (clients first), or say the pass is done."""
        run = self.run
        if self._cursor == 0:
            cached = run.store.crypto_keys(run.root)
            if cached is not None:
                run.keys = cached.value
        if self._cursor < len(self._engines):
            self._current = self._engines[self._cursor]
            self._cursor += 1
            until = self._backoff_until
            waiting = backoff_error("the storage node", until) if until is not None else None
            return outcome("engine", waiting)  # asked_to_back_off decides where that leads
        self._current = None
        first = next(iter(self._engine_errors.values()), None)
        return outcome("done", first)  # engines_failed decides where that leads

    @guard
    def asked_to_back_off(self) -> bool:
        """Whether a response of this run (a success too) asked us to back off."""
        return window_open(self._backoff_until, self.run.clock())

    @guard
    def engines_failed(self) -> bool:
        """Whether an engine of this pass ended in a failure."""
        return bool(self._engine_errors)

    @action(
        "ok", "declined", "not_in_meta_global", "engine_too_new",
        "unauthorized", "backoff", "network_error", "failed", "conflicted",
        chart="collection", max_steps=100_000,
    )  # fmt: skip
    def sync_engine(self) -> Outcome:
        """Run the collection chart for the engine ``next_engine`` chose."""
        engine = self._current
        if engine is None:  # pragma: no cover - the chart enters this only after `engine`
            raise RuntimeError("sync_engine without an engine: the session chart is out of order")
        result = run_child([CollectionService(self.run, engine, self.storage)])
        self.run.counts(engine.name).state = result.final_state
        if result.failed:
            failed = result.error or make_error(
                result.role.error or BeaconError, f"{engine.name}: ended in {result.final_state}"
            )
            self._engine_errors[engine.name] = failed
            if isinstance(failed, AuthenticationError):
                self._unauthorized = failed
        return outcome(result.final_state, result.error)

    @action("ok")
    def finish_run(self) -> str:
        """Every engine synced: a mark left by an earlier run's second 401 goes."""
        with self.run.store.transaction():
            self.run.store.set_auth_failed(False)
            self.run.store.set_counter(_AUTH_FAILURES, 0)
        return "ok"

    # -- Invalidation ----------------------------------------------------------------------------

    @action("ok")
    def drop_token(self) -> str:
        """A 401 from storage: forget the token (the chart counts how often)."""
        run, store = self.run, self.run.store
        run.token = None
        self._storage = None
        with store.transaction():
            store.clear_token()
        return "ok"

    @action("ok")
    def mark_auth_failed(self) -> Outcome:
        """Refused for good this run (the token server, or storage twice): the next run waits
        :func:`auth_failure_wait` first, longer each time, until a run succeeds."""
        store = self.run.store
        with store.transaction():
            store.set_auth_failed(True)
            store.set_counter(_AUTH_FAILED_AT, int(self.run.clock()))
            store.set_counter(_AUTH_FAILURES, store.counter(_AUTH_FAILURES) + 1)
            store.set_refused_credentials(self.run.credentials)
        return outcome("ok", self._unauthorized)
