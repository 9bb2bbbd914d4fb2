"""The session chart's service (statecharts/session.yaml): the seed note's machine.

Contract (seed/sync-state-machine-note.md; anchor-state-machines §2.3, §3.2, §4, §8;
sync15-protocol §4.3, §4.4, §4.8):

* ``check_account`` reads only: a backoff window of the assigned node (the token server's is
  the token chart's business: a valid token needs no token server), or the minimum wait after
  a run that ended in a second 401 (desktop ``lastSyncReassigned``, anchor §4 item 9), refuses
  the run with no request; a kB whose fingerprint differs from the stored one is
  ``kb_changed`` (seed note, Persistence: discard keys, meta/global and per-collection state).
* ``fetch_info_collections`` is the first storage request of every run, with
  X-If-Modified-Since when a previous i/c is known (304 → ``not_modified``).
* meta/global and crypto/keys caches are reused only on **exact** timestamp equality with i/c
  (anchor §3.2 ``WithPreviousState``, §8). A storage version newer than 5 stops the run before
  any write; an older one, a missing meta/global or missing keys lead to one fresh start per
  run (its actions are in ``_fresh_start``). Keys that do not verify under kB are a trust
  error, never a wipe (anchor §7 P8, P11).
* A new global syncID resets every engine and refetches keys; changed collection keys reset the
  engines whose bundle changed (all of them when the default changed: anchor §2.5
  ``addLocalCommandsFromKeys``, §4 item 6); engine syncIDs are compared per collection by the
  collection chart.
* A 401 is never read as missing data: it is the ``unauthorized`` outcome, which the chart
  routes to ``invalidated`` (drop the token, run again once).
* Every write to local state happens in one store transaction per action.

The helpers without a chart mark (:attr:`SessionService.storage`, :meth:`~SessionService.fail`,
:meth:`~SessionService.reset_engines`, :meth:`~SessionService.remember_configuration`) are
shared with :class:`~._fresh_start.FreshStartService`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from beacon._crypto import CollectionKeys, client_state
from beacon._errors import (
    BeaconError,
    ClientUpgradeRequired,
    ConflictError,
    KeyMismatchError,
    ProtocolViolation,
    SetupRaceError,
)
from beacon.charts import action, guard
from beacon.client._engines import Engine
from beacon.client._run import Run, backoff_error, failure, node_key
from beacon.client._setup import (
    STORAGE_VERSION,
    fixup_meta_global,
    merge_declined,
    read_meta_global,
)
from beacon.client._storage import StorageClient

__all__ = ["AUTH_FAILURE_BACKOFF", "SessionService"]

#: Seconds the next run waits after a run ended in a second 401 in a row (desktop's
#: MINIMUM_BACKOFF_INTERVAL is 15 minutes; anchor §4 item 9).
AUTH_FAILURE_BACKOFF = 15 * 60.0
_AUTH_FAILED_AT = "auth_failed_at"


class SessionService:
    """Actions and guards of the session chart, over one :class:`~._run.Run`.

    Args:
        run: the run's working set.
        engines: the engines, clients first.
        token_server_url: the token server (backoff key for the token server).
        obtain_token: runs the token chart and returns the session outcome it maps to.
        sync_engine: runs the collection chart for one engine and returns its final state.
    """

    def __init__(
        self,
        run: Run,
        *,
        engines: Sequence[Engine],
        token_server_url: str,
        obtain_token: Callable[[], str],
        sync_engine: Callable[[Engine], str],
    ) -> None:
        self.run = run
        self._engines = list(engines)
        self._server = token_server_url
        self._obtain_token = obtain_token
        self._sync_engine = sync_engine
        self._storage: StorageClient | None = None
        self._fetched_meta: dict[str, Any] | None = None
        self._fetched_meta_modified = 0.0
        # The engine configuration a fresh start rebuilds meta/global from (pitfalls P1, P13):
        # kept in memory when the caches that hold it are dropped (node or kB change, wipe).
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
        """Any response asking for backoff, success or not: keep it for this node (§3.9)."""
        node = self.run.node
        if node is not None:
            self.run.store.set_backoff_until(node, until)

    def fail(self, exc: BeaconError) -> str:
        """The outcome for an I/O error; backoff windows are kept for the current node."""
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
    def check_account(self) -> str:
        """Refuse the run inside a backoff window (no request); notice a new kB."""
        run, store = self.run, self.run.store
        now = run.clock()
        windows: list[tuple[str, float | None]] = []
        assignment = store.node_assignment()
        if assignment is not None:
            node = node_key(assignment.api_endpoint)
            windows.append(("the storage node", store.backoff_until(node)))
        if store.auth_failed():
            until = store.counter(_AUTH_FAILED_AT) + AUTH_FAILURE_BACKOFF
            windows.append(("the last run's authentication failure", until))
        for who, window in windows:
            if window is not None and window > now:
                run.error = backoff_error(who, window)
                return "backoff"
        stored = store.kb_fingerprint()
        if stored is not None and stored != client_state(run.kb):
            return "kb_changed"
        return "ok"

    @action("ok")
    def forget_key_state(self) -> str:
        """A new kB: drop cached keys, meta/global, token and collection state; reset engines."""
        self.remember_configuration()
        with self.run.store.transaction():
            self.run.store.adopt_kb_fingerprint(client_state(self.run.kb))
            self.reset_engines()
        self.run.token = None
        return "ok"

    @action("ok", "node_reassigned", "unauthorized", "backoff", "network_error", "failed")
    def obtain_token(self) -> str:
        """Run the token chart; its final state is this action's outcome."""
        with self.run.store.transaction():
            self.run.store.adopt_kb_fingerprint(client_state(self.run.kb))
        return self._obtain_token()

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
            if old is not None:  # pitfall P12: the old node's backoff goes with it
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
        info = self.run.info or {}
        return cached is not None and "meta" in info and info["meta"] == cached.timestamp

    @guard
    def keys_current(self) -> bool:
        """Cached keys whose timestamp equals i/c's ``crypto`` exactly."""
        cached = self.run.store.crypto_keys(self.run.root)
        info = self.run.info or {}
        return cached is not None and "crypto" in info and info["crypto"] == cached.timestamp

    # -- meta/global -----------------------------------------------------------------------------

    @action(
        "ok", "not_found", "outdated", "too_new_error",
        "unauthorized", "backoff", "network_error", "failed",
    )  # fmt: skip
    def fetch_meta_global(self) -> str:
        """GET meta/global and check its storage version; nothing is adopted yet."""
        try:
            bso = self.storage.get_record("meta", "global")
        except BeaconError as exc:
            return self.fail(exc)
        if bso is None:
            return "not_found"
        record = read_meta_global(bso.payload)  # any device may write it: one bounded parse
        if not isinstance(record, dict) or not isinstance(record.get("syncID"), str):
            return "outdated"  # desktop: no syncID or storageVersion → fresh start (§4 item 4)
        version = record.get("storageVersion")
        if not isinstance(version, int) or version < STORAGE_VERSION:
            return "outdated"
        if version > STORAGE_VERSION:
            self.run.error = ClientUpgradeRequired(
                f"meta/global has storage version {version}; this client speaks "
                f"{STORAGE_VERSION} and will not write to it",
                storage_version=version,
            )
            return "too_new_error"
        self._fetched_meta = record
        self._fetched_meta_modified = bso.modified or 0.0
        return "ok"

    @action("ok", "conflict", "unauthorized", "backoff", "network_error", "failed")
    def resolve_meta_global(self) -> str:
        """Adopt meta/global: syncIDs, the declined merge, our engines; upload a fix-up."""
        run, store = self.run, self.run.store
        if self._fetched_meta is not None:
            record, modified = self._fetched_meta, self._fetched_meta_modified
        else:
            cached = store.meta_global()
            if cached is None:  # pragma: no cover - the guard saw it a moment ago
                raise RuntimeError("meta/global cache vanished")
            record, modified = json.loads(cached.value), cached.timestamp
        remote_declined = [n for n in record.get("declined") or [] if isinstance(n, str)]
        local = store.declined_engines()
        merge = merge_declined(
            remote_declined, local, user_enabled=run.user_enabled, user_disabled=run.user_disabled
        )
        fixed, changed = fixup_meta_global(
            record, declined=merge.declined, local_engines=self.local_engines, rng=run.rng
        )
        if changed:
            try:
                modified = self.storage.put_record(
                    "meta", "global", json.dumps(fixed), if_unmodified_since=modified
                )
            except ConflictError as exc:
                run.error = SetupRaceError("another client changed meta/global while we did")
                run.error.__cause__ = exc
                return "conflict"
            except BeaconError as exc:
                return self.fail(exc)
        # The data of an engine the user just declined leaves the server (anchor §3.3).
        for name in sorted(run.user_disabled & set(run.info or {})):
            try:
                self.storage.delete_collection(name)
            except BeaconError as exc:
                return self.fail(exc)
        run.user_changes_applied = True
        with store.transaction():
            if store.global_sync_id() != fixed["syncID"]:
                # A new global syncID: every engine resets and keys are fetched again
                # (anchor §2.3 ResolveMetaGlobalContent, §4 item 4.5).
                if store.global_sync_id() is not None:
                    store.set_crypto_keys(None)
                self.reset_engines()
                store.set_global_sync_id(fixed["syncID"])
            for name in sorted(merge.local_resets):
                self.reset_engines([name])
            store.set_meta_global(json.dumps(fixed), timestamp=modified)
            store.set_engine_config(enabled=sorted(fixed["engines"]), declined=merge.declined)
        run.meta_global = fixed
        run.meta_global_modified = modified
        self._fetched_meta = None
        return "ok"

    # -- crypto/keys -----------------------------------------------------------------------------

    @action("ok", "not_found", "key_mismatch", "unauthorized", "backoff", "network_error", "failed")
    def fetch_crypto_keys(self) -> str:
        """GET crypto/keys, verify under kB, reset the engines whose key changed."""
        run, store = self.run, self.run.store
        try:
            bso = self.storage.get_record("crypto", "keys")
        except BeaconError as exc:
            return self.fail(exc)
        if bso is None:
            return "not_found"
        try:
            keys = CollectionKeys.decrypt(run.root, bso.payload)
        except KeyMismatchError as exc:
            run.error = exc
            return "key_mismatch"
        except BeaconError as exc:
            return self.fail(exc)
        old = store.crypto_keys(run.root)
        with store.transaction():
            if old is not None:
                names = [e.name for e in self._engines]
                self.reset_engines(sorted(old.value.changed_collections(keys, names)))
            store.set_crypto_keys(keys, timestamp=bso.modified or 0.0, root=run.root)
        run.keys = keys
        return "ok"

    # -- Ready -----------------------------------------------------------------------------------

    @action("ok", "unauthorized", "backoff", "network_error", "failed")
    def sync_engines(self) -> str:
        """Run the collection chart for each engine, clients first (anchor §3.5)."""
        run = self.run
        cached = run.store.crypto_keys(run.root)
        if cached is not None:
            run.keys = cached.value
        stop = {
            "unauthorized": "unauthorized",
            "in_backoff": "backoff",
            "unreachable": "network_error",
        }
        for engine in self._engines:
            final = self._sync_engine(engine)
            if final in stop:
                return stop[final]
        if run.engine_errors:
            run.error = next(iter(run.engine_errors.values()))
            return "failed"
        with run.store.transaction():
            run.store.set_auth_failed(False)
        return "ok"

    # -- Invalidation ----------------------------------------------------------------------------

    @action("ok")
    def drop_token(self) -> str:
        """A 401 from storage: forget the token; a second one in a run marks the account."""
        run, store = self.run, self.run.store
        run.invalidations += 1
        run.token = None
        self._storage = None
        with store.transaction():
            store.clear_token()
            if run.invalidations >= 2:
                store.set_auth_failed(True)
                store.set_counter(_AUTH_FAILED_AT, int(run.clock()))
        return "ok"
