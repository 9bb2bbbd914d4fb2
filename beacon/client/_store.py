"""The local store: one SQLite file per account holding everything a run must remember.

Contract:

1. **One file, owner-only.** :class:`Store` creates the file with mode 0600 (``O_EXCL``)
   before SQLite writes a byte, its parent directory with 0700 when missing, and tightens an
   existing file's mode to 0600. SQLite's journal inherits the file's mode.
2. **Transactional.** Every setter runs in a transaction; ``with store.transaction():`` groups
   several into one (nested blocks become savepoints). An exception inside the block rolls it
   all back. Rollback journal, ``synchronous=FULL``: a kill at any moment leaves the last
   committed state.
3. **Recognisable.** The file carries an ``application_id`` and a schema version
   (``user_version``). A file that is not SQLite, another application's database, or a newer
   schema raises :class:`~beacon.UsageError` on open and is not modified. (Items 1-3 are
   implemented in :mod:`._sqlite`.)
4. **Secrets at rest.** The token's ``id``/``key`` and the cached crypto/keys are stored only
   encrypted under the caller's kB-derived :class:`~beacon._crypto.KeyBundle` (the Sync
   record envelope, docs/protocol.md §4.2); record payloads are sealed under a data key
   wrapped the same way (:meth:`unlock_records`, :mod:`._sealed`). kB itself is never
   stored: only its fingerprint (``client_state(kb)``, which the token server sees
   anyway). A secret that no longer decrypts (another kB) reads as absent.
5. What it holds is the seed note's "Persistence" list (docs/seed-note.md):

   ============================  ==============================================================
   client ID / name              :meth:`client_id` (generated once, stable), :meth:`client_name`
   kB fingerprint                :meth:`kb_fingerprint`, :meth:`adopt_kb_fingerprint`
   token                         :meth:`token` / :meth:`set_token` (id/key encrypted)
   node assignment               :meth:`node_assignment` (api_endpoint, uid)
   global syncID                 :meth:`global_sync_id`
   meta/global + i/c timestamp   :meth:`meta_global` (payload JSON text)
   crypto/keys + i/c timestamp   :meth:`crypto_keys` (encrypted)
   last info/collections         :meth:`info_collections` (+ its X-Last-Modified, for 304s)
   enabled / declined engines    :meth:`enabled_engines`, :meth:`declined_engines`
   per-collection state          :meth:`collection_state` (syncID, last fetch)
   backoff per node              :meth:`backoff_until`
   "auth failed" flag            :meth:`auth_failed`
   counters, chart snapshot      :meth:`counter`, :meth:`snapshot`
   ============================  ==============================================================

6. Bulk operations: :meth:`drop_node_scoped` (node reassignment), :meth:`drop_kb_scoped` (kB
   change), :meth:`reset_collection` (one engine), :meth:`clear` (disconnect: everything).

The ``records`` table belongs to :mod:`beacon.client._engines`, which reaches it through
:attr:`Store.connection` inside :meth:`Store.transaction`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from beacon._crypto import CollectionKeys, KeyBundle, decrypt_record, encrypt_record
from beacon._errors import BeaconError, UsageError
from beacon._protocol import new_sync_id
from beacon.client._sealed import SETTING as _RECORDS_KEY
from beacon.client._sealed import Seal, settle, unlock
from beacon.client._sqlite import APPLICATION_ID, SCHEMA_VERSION, StateFile
from beacon.client._tokenclient import Token

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "Cached",
    "CollectionState",
    "NodeAssignment",
    "Store",
    "new_guid",
]

# Settings dropped on node reassignment: everything that describes the old node's storage.
_NODE_SCOPED = ("global_sync_id", "meta_global", "crypto_keys", "info_collections")
# Settings dropped when kB changes: the node-scoped ones plus the token and assignment.
_KB_SCOPED = (*_NODE_SCOPED, "token", "node_assignment")

T = TypeVar("T")


@dataclass(frozen=True)
class Cached(Generic[T]):
    """A cached server object and the timestamp it came with (for exact-equality reuse)."""

    value: T
    timestamp: float


@dataclass(frozen=True)
class CollectionState:
    """Per-collection sync state: the engine syncID last adopted and the last-fetch time."""

    name: str
    sync_id: str | None = None
    last_fetch: float | None = None


@dataclass(frozen=True)
class NodeAssignment:
    """Where this account's storage lives; a change is a node reassignment."""

    api_endpoint: str
    uid: int


#: A Sync GUID for a new record (the protocol's syncID shape, docs/protocol.md §4.5).
new_guid = new_sync_id


class Store(StateFile):
    """The account's state: the seed note's Persistence list as typed, transactional accessors.

    Args:
        path: the file; created with mode 0600 if missing.

    Raises:
        UsageError: the file is not SQLite, is corrupt, belongs to another application, or
            has a newer schema; the file is left as it was.
    """

    _seal: Seal | None = None

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- records at rest ----------------------------------------------------------------------

    def unlock_records(self, root: KeyBundle, *, previous: KeyBundle | None = None) -> None:
        """Open the records' data key under ``root`` (``previous``: the kB before a password
        reset); the records tables are unusable until then. See :mod:`._sealed`."""
        self._seal = unlock(self, root, previous=previous)

    def settle_records_key(self, root: KeyBundle) -> None:
        """The kB ``root`` comes from is proven: the records' key stays wrapped under it only."""
        settle(self, root)

    def execute_many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement over many parameter rows, in the open transaction or its own."""
        with self.transaction():
            try:
                self.connection.executemany(statement, rows)
            except sqlite3.Error as exc:
                raise UsageError(
                    f"the state file {str(self.path)!r} failed: {type(exc).__name__}: {exc}"
                ) from None

    @property
    def seal(self) -> Seal:
        """What seals and opens record values (after :meth:`unlock_records`)."""
        if self._seal is None:
            raise UsageError("the store's records are locked: call unlock_records(root) first")
        return self._seal

    # -- identity and kB ----------------------------------------------------------------------

    def client_id(self, *, rng: Callable[[int], bytes] = os.urandom) -> str:
        """Our client record id: generated once (a 12-char GUID), stable until :meth:`clear`."""
        with self.transaction():
            current = self._get("client_id")
            if isinstance(current, str):
                return current
            new = new_guid(rng)
            self._put("client_id", new)
            return new

    def client_name(self) -> str | None:
        """Our device name, or None when never set."""
        value = self._get("client_name")
        return value if isinstance(value, str) else None

    def set_client_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise UsageError("a client name must be a non-empty string")
        self._put("client_name", name)

    def kb_fingerprint(self) -> str | None:
        """The fingerprint of the kB this state belongs to (``client_state(kb)``), or None."""
        value = self._get("kb_fingerprint")
        return value if isinstance(value, str) else None

    def adopt_kb_fingerprint(self, fingerprint: str, *, keep_token: bool = False) -> bool:
        """Record the current kB's fingerprint. If a different one was stored, drop everything
        kB-scoped first (:meth:`drop_kb_scoped`; with ``keep_token``, only what
        :meth:`drop_node_scoped` drops: the token and node were obtained with the new kB) and
        return True; otherwise return False."""
        with self.transaction():
            current = self.kb_fingerprint()
            changed = current is not None and current != fingerprint
            if changed and keep_token:
                self.drop_node_scoped()
            elif changed:
                self.drop_kb_scoped()
            self._put("kb_fingerprint", fingerprint)
            return changed

    # -- token and node -----------------------------------------------------------------------

    def token(self, root: KeyBundle) -> Token | None:
        """The persisted token, or None (absent, or its secrets do not decrypt under root)."""
        data = self._get("token")
        if not isinstance(data, dict):
            return None
        try:
            secret = decrypt_record(root, data["secret"])
            return Token(
                id=str(secret["id"]),
                key=str(secret["key"]),
                uid=int(data["uid"]),
                api_endpoint=str(data["api_endpoint"]),
                duration=int(data["duration"]),
                hashed_fxa_uid=str(data["hashed_fxa_uid"]),
                fetched_at=float(data["fetched_at"]),
                node_type=data.get("node_type"),
                server_offset=float(data.get("server_offset", 0.0)),
            )
        except (BeaconError, KeyError, TypeError, ValueError):
            return None

    def set_token(self, token: Token, *, root: KeyBundle) -> None:
        """Persist a token, its ``id`` and ``key`` encrypted under ``root``. The node
        assignment is separate: compare, then :meth:`set_node_assignment`."""
        self._put(
            "token",
            {
                "secret": encrypt_record(root, {"id": token.id, "key": token.key}),
                "uid": token.uid,
                "api_endpoint": token.api_endpoint,
                "duration": token.duration,
                "hashed_fxa_uid": token.hashed_fxa_uid,
                "fetched_at": token.fetched_at,
                "node_type": token.node_type,
                "server_offset": token.server_offset,
            },
        )

    def clear_token(self) -> None:
        """Forget the token (after a 401); the node assignment stays for comparison."""
        self._put("token", None)

    def node_assignment(self) -> NodeAssignment | None:
        """The last adopted (api_endpoint, uid), or None."""
        data = self._get("node_assignment")
        if not isinstance(data, dict):
            return None
        try:
            return NodeAssignment(str(data["api_endpoint"]), int(data["uid"]))
        except (KeyError, TypeError, ValueError):
            return None

    def set_node_assignment(self, api_endpoint: str, uid: int) -> None:
        self._put("node_assignment", {"api_endpoint": api_endpoint, "uid": uid})

    # -- session caches -------------------------------------------------------------------------

    def global_sync_id(self) -> str | None:
        """The global syncID of the last adopted meta/global."""
        value = self._get("global_sync_id")
        return value if isinstance(value, str) else None

    def set_global_sync_id(self, sync_id: str | None) -> None:
        self._put("global_sync_id", sync_id)

    def meta_global(self) -> Cached[str] | None:
        """The cached meta/global payload (JSON text) and the i/c ``meta`` timestamp."""
        return _cached_text(self._get("meta_global"))

    def set_meta_global(self, payload: str | None, *, timestamp: float = 0.0) -> None:
        """Cache meta/global's payload with its timestamp; None forgets it."""
        value = None if payload is None else {"value": payload, "timestamp": float(timestamp)}
        self._put("meta_global", value)

    def crypto_keys(self, root: KeyBundle) -> Cached[CollectionKeys] | None:
        """The cached crypto/keys and the i/c ``crypto`` timestamp; None if absent or if they
        do not decrypt under ``root``."""
        cached = _cached_text(self._get("crypto_keys"))
        if cached is None:
            return None
        try:
            keys = CollectionKeys.decrypt(root, cached.value)
        except BeaconError:
            return None
        return Cached(keys, cached.timestamp)

    def set_crypto_keys(
        self,
        keys: CollectionKeys | None,
        *,
        timestamp: float = 0.0,
        root: KeyBundle | None = None,
    ) -> None:
        """Cache keys encrypted under ``root`` (required unless ``keys`` is None: forget)."""
        if keys is None:
            self._put("crypto_keys", None)
            return
        if root is None:
            raise UsageError("caching keys needs the root bundle to encrypt them")
        self._put("crypto_keys", {"value": keys.encrypt(root), "timestamp": float(timestamp)})

    def info_collections(self) -> Cached[dict[str, float]] | None:
        """The last info/collections and its X-Last-Modified (for X-If-Modified-Since)."""
        data = self._get("info_collections")
        if not isinstance(data, dict) or not isinstance(data.get("value"), dict):
            return None
        try:
            value = {str(k): float(v) for k, v in data["value"].items()}
            return Cached(value, float(data["timestamp"]))
        except (KeyError, TypeError, ValueError):
            return None

    def set_info_collections(
        self, collections: Mapping[str, float] | None, *, timestamp: float = 0.0
    ) -> None:
        """Remember info/collections and its X-Last-Modified; None forgets it."""
        value = (
            None
            if collections is None
            else {"value": {k: float(v) for k, v in collections.items()}, "timestamp": timestamp}
        )
        self._put("info_collections", value)

    def enabled_engines(self) -> frozenset[str] | None:
        """Engines enabled in the last adopted meta/global; None = never synced."""
        return _names(self._get("enabled_engines"))

    def declined_engines(self) -> frozenset[str] | None:
        """Declined engines; None = unknown (never synced), distinct from empty."""
        return _names(self._get("declined_engines"))

    def set_engine_config(self, *, enabled: Iterable[str], declined: Iterable[str]) -> None:
        """Record the engine lists of the meta/global just adopted (kept in lockstep)."""
        with self.transaction():
            self._put("enabled_engines", sorted(set(enabled)))
            self._put("declined_engines", sorted(set(declined)))

    # -- per collection ----------------------------------------------------------------------

    def collection_state(self, name: str) -> CollectionState:
        """The collection's syncID and last fetch (both None when never synced)."""
        rows = self._sql("SELECT sync_id, last_fetch FROM collections WHERE name = ?", (name,))
        if not rows:
            return CollectionState(name)
        return CollectionState(name, rows[0][0], rows[0][1])

    def collection_states(self) -> dict[str, CollectionState]:
        rows = self._sql("SELECT name, sync_id, last_fetch FROM collections ORDER BY name")
        return {name: CollectionState(name, sid, last) for name, sid, last in rows}

    def set_collection_sync_id(self, name: str, sync_id: str) -> bool:
        """Adopt an engine syncID; a different one drops the last-fetch time (docs/seed-note.md,
        "Persistence"). Returns True when it changed (including from unknown)."""
        with self.transaction():
            current = self.collection_state(name)
            if current.sync_id == sync_id:
                return False
            self._sql(
                "INSERT INTO collections (name, sync_id, last_fetch) VALUES (?, ?, NULL)"
                " ON CONFLICT (name) DO UPDATE SET sync_id = excluded.sync_id, last_fetch = NULL",
                (name, sync_id),
            )
            return True

    def set_last_fetch(self, name: str, timestamp: float) -> None:
        """Move the collection's high-water mark (only after the download was fully applied)."""
        self._sql(
            "INSERT INTO collections (name, last_fetch) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET last_fetch = excluded.last_fetch",
            (name, float(timestamp)),
        )

    def reset_collection(self, name: str) -> None:
        """Forget the collection's syncID, last-fetch time and failed ids (docs/anchors.md
        P6); the engine resets its own records."""
        with self.transaction():
            self._sql("DELETE FROM collections WHERE name = ?", (name,))
            self._put(f"failed_ids:{name}", None)

    def failed_ids(self, name: str) -> list[str]:
        """Ids of the collection's records that failed verification: fetched again next run
        (as Firefox desktop keeps ``previousFailed``), so an intact copy is not missed."""
        value = self._get(f"failed_ids:{name}")
        return [i for i in value if isinstance(i, str)] if isinstance(value, list) else []

    def set_failed_ids(self, name: str, ids: Iterable[str]) -> None:
        kept = sorted(set(ids))
        self._put(f"failed_ids:{name}", kept or None)

    # -- signalling ------------------------------------------------------------------------------

    def backoff_until(self, node: str) -> float | None:
        """When the node's backoff ends (epoch seconds), or None."""
        rows = self._sql("SELECT until FROM backoff WHERE node = ?", (node,))
        return float(rows[0][0]) if rows else None

    def set_backoff_until(self, node: str, until: float | None) -> None:
        """Keep the later of the stored and the new time; None clears the node's backoff. The
        caller bounds ``until`` (the transport caps it at ``MAX_BACKOFF``)."""
        if until is None:
            self._sql("DELETE FROM backoff WHERE node = ?", (node,))
            return
        self._sql(
            "INSERT INTO backoff (node, until) VALUES (?, ?)"
            " ON CONFLICT (node) DO UPDATE SET until = max(until, excluded.until)",
            (node, float(until)),
        )

    def auth_failed(self) -> bool:
        """True when the last run ended on a second 401 in a row (wait a minimum backoff)."""
        return self._get("auth_failed") is True

    def set_auth_failed(self, failed: bool) -> None:
        self._put("auth_failed", True if failed else None)

    def refused_credentials(self) -> str | None:
        """The fingerprint of the credentials the last refused run used (never the secrets)."""
        value = self._get("refused_credentials")
        return value if isinstance(value, str) else None

    def set_refused_credentials(self, fingerprint: str | None) -> None:
        self._put("refused_credentials", fingerprint)

    def counter(self, name: str) -> int:
        """A persisted counter (0 when never set)."""
        value = self._get(f"counter:{name}")
        return value if isinstance(value, int) else 0

    def set_counter(self, name: str, value: int) -> None:
        self._put(f"counter:{name}", int(value) if value else None)

    def snapshot(self) -> bytes | None:
        """The saved chart snapshot blob, or None."""
        value = self._get("snapshot")
        return value if isinstance(value, bytes) else None

    def set_snapshot(self, blob: bytes | None) -> None:
        if blob is not None and not isinstance(blob, bytes):
            raise UsageError("a snapshot is bytes")
        self._put("snapshot", blob)

    # -- bulk ------------------------------------------------------------------------------------

    def drop_node_scoped(self) -> None:
        """Node reassignment: forget the global syncID, meta/global, keys, info/collections and
        every collection's syncID and last fetch. Keeps the token, the node assignment (set the
        new one), the engine configuration, the client ID, backoff (per node) and records."""
        with self.transaction():
            self._drop(_NODE_SCOPED)
            self._sql("DELETE FROM collections")

    def drop_kb_scoped(self) -> None:
        """kB change: :meth:`drop_node_scoped` plus the token and the node assignment."""
        with self.transaction():
            self._drop(_KB_SCOPED)
            self._sql("DELETE FROM collections")

    def clear(self) -> None:
        """Disconnect: delete everything (settings, collections, backoff, records) but the
        wrapped records key, which opens only under kB and keeps an open store usable."""
        with self.transaction():
            for table in ("collections", "backoff", "records"):
                self._sql(f"DELETE FROM {table}")
            self._sql("DELETE FROM settings WHERE key != ?", (_RECORDS_KEY,))


def _cached_text(data: Any) -> Cached[str] | None:
    if not isinstance(data, dict) or not isinstance(data.get("value"), str):
        return None
    try:
        return Cached(data["value"], float(data["timestamp"]))
    except (KeyError, TypeError, ValueError):
        return None


def _names(value: Any) -> frozenset[str] | None:
    if not isinstance(value, list):
        return None
    return frozenset(str(v) for v in value)
