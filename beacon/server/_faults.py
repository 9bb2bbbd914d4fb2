"""Faults and inspection for tests: ``svc.faults``, also reachable over the admin API.

Every method targets a user by FxA uid (the account's *current* token-server user, i.e. the
uid and node of its last token) and works without HTTP. The faults:

``expire_tokens(fxa_uid)``
    Every token issued so far counts as expired: storage answers 401, except
    ``GET info/collections`` which still works with an expired token (§2.4).
``revoke_tokens(fxa_uid)``
    Every token issued so far is refused everywhere (401). New tokens work.
``move_user(fxa_uid, node=None) -> int``
    Node reassignment: the user gets a new uid on ``node`` (default: the next node); the old
    node answers 401, the token server hands out the new ``api_endpoint``, storage is empty.
``void_storage_tokens(node, uid, *, expire_only=False)`` / ``retire_storage_user(node, uid)``
    The same on one storage node for any uid, whichever token server minted its tokens (a
    syncstorage-rs token server sharing the master secret, say): every token issued so far
    for ``uid`` is revoked (or only expired) there; or ``uid`` left ``node`` for good.
``fail_next``, ``backoff_next``, ``alert_next``, ``clear``
    Injected answers (503 + ``Retry-After``, 401, Backoff headers, ``X-Weave-Alert`` and 513)
    for the next requests to the token server or the storage nodes, from the vocabulary
    ``beacon proxy`` shares: see :class:`beacon._injection.InjectedAnswers`.
``wipe_user(fxa_uid)`` / ``wipe_node(node)``
    Delete the user's (every user's on ``node``) collections and records, as a server-side
    data loss; timestamps keep moving forward.
``put_record(fxa_uid, collection, bso_id, payload, *, sortindex=None, ttl=None) -> float``
    Write a raw BSO as another device would (new timestamp for record, collection and store);
    returns its ``modified`` in seconds.
``delete_record(fxa_uid, collection, bso_id) -> bool``
``delete_collection(fxa_uid, collection) -> bool``
    Delete as another device would (e.g. meta/global, crypto/keys, or all of ``crypto``);
    False if there was nothing to delete.
``records(fxa_uid, collection) -> dict[str, dict]``
    Read-only view of the visible records (id → ``{"payload", "modified", "sortindex"}``).
``user(fxa_uid) -> dict | None``
    The current token-server record: uid, node, generation, keys_changed_at, client_state.
``request_log() -> list[LoggedRequest]`` / ``clear_request_log()``
    Requests served (method, path without query, status, clock time, injected or not).

``fxa``
    The Firefox Accounts stand-in's faults (``_fxa_faults``: unverified session, TOTP,
    password changed elsewhere, revoked sessions, expired access tokens, 429, email case).

Unknown users raise :class:`beacon.UsageError`; nothing here logs secrets.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from beacon._errors import UsageError
from beacon._injection import InjectedAnswers, LoggedRequest
from beacon.server import _node_records, _store, _users
from beacon.server._bso import valid_collection, valid_id
from beacon.server._core import Core
from beacon.server._fxa_faults import FxAFaults
from beacon.server._wire import now_ms


class Faults(InjectedAnswers):
    """See the module docstring for every fault."""

    def __init__(self, core: Core) -> None:
        super().__init__(core.pending)
        self._core = core
        #: The FxA stand-in's faults (``_fxa_faults``).
        self.fxa = FxAFaults(core.fxa)

    def __repr__(self) -> str:
        return "Faults(...)"

    def _user(self, conn: sqlite3.Connection, fxa_uid: str) -> _users.UserRecord:
        user = _users.current(conn, fxa_uid)
        if user is None:
            raise UsageError("no storage user for that account (it never fetched a token)")
        return user

    # -- tokens and nodes ---------------------------------------------------------------------

    def _void(self, fxa_uid: str, *, revoke: bool) -> None:
        core = self._core
        with core.db.transaction() as conn:
            user = self._user(conn, fxa_uid)
            _users.void_tokens(
                conn, user, now=core.clock(), max_duration=core.token_duration, revoke=revoke
            )

    def expire_tokens(self, fxa_uid: str) -> None:
        self._void(fxa_uid, revoke=False)

    def revoke_tokens(self, fxa_uid: str) -> None:
        self._void(fxa_uid, revoke=True)

    def move_user(self, fxa_uid: str, node: int | None = None) -> int:
        core = self._core
        with core.db.transaction() as conn:
            user = self._user(conn, fxa_uid)
            target = node if node is not None else user.node % core.nodes + 1
            if not 1 <= target <= core.nodes or target == user.node:
                raise UsageError(f"cannot move a user from node {user.node} to node {target}")
            _users.replace(
                conn,
                user,
                node=target,
                generation=user.generation,
                keys_changed_at=user.keys_changed_at,
                client_state=user.client_state,
                now=core.clock(),
                now_ms=now_ms(core.clock),
            )
        return target

    def _node(self, node: int, uid: int) -> None:
        if not (isinstance(node, int) and 1 <= node <= self._core.nodes):
            raise UsageError(f"there is no node {node}")
        if isinstance(uid, bool) or not isinstance(uid, int) or not 0 <= uid < 2**63:
            raise UsageError("a uid is a non-negative integer")

    def void_storage_tokens(self, node: int, uid: int, *, expire_only: bool = False) -> None:
        self._node(node, uid)
        core = self._core
        with core.db.transaction() as conn:
            _node_records.void_tokens(
                conn,
                node,
                uid,
                now=core.clock(),
                max_duration=core.token_duration,
                revoke=not expire_only,
            )

    def retire_storage_user(self, node: int, uid: int) -> None:
        self._node(node, uid)
        with self._core.db.transaction() as conn:
            _node_records.retire(conn, node, uid, self._core.clock())

    # -- data as another device or a failing server would change it --------------------------

    def wipe_user(self, fxa_uid: str) -> None:
        core = self._core
        with core.db.transaction() as conn:
            user = self._user(conn, fxa_uid)
            when = _store.write_time(conn, user.node, user.uid, now_ms(core.clock))
            _store.delete_all(conn, user.node, user.uid)
            _store.touch(conn, user.node, user.uid, None, when)

    def wipe_node(self, node: int) -> None:
        core = self._core
        if not 1 <= node <= core.nodes:
            raise UsageError(f"there is no node {node}")
        with core.db.transaction() as conn:
            uids = [
                int(r[0])
                for r in conn.execute("SELECT uid FROM stores WHERE node = ?", (node,)).fetchall()
            ]
            for uid in uids:
                when = _store.write_time(conn, node, uid, now_ms(core.clock))
                _store.delete_all(conn, node, uid)
                _store.touch(conn, node, uid, None, when)

    def put_record(
        self,
        fxa_uid: str,
        collection: str,
        bso_id: str,
        payload: str,
        *,
        sortindex: int | None = None,
        ttl: int | None = None,
    ) -> float:
        if not valid_collection(collection) or not valid_id(bso_id):
            raise UsageError("invalid collection name or record id")
        core = self._core
        item: dict[str, Any] = {"id": bso_id, "payload": payload, "sortindex": sortindex}
        if ttl is not None:
            item["ttl"] = ttl
        with core.db.transaction() as conn:
            user = self._user(conn, fxa_uid)
            now = now_ms(core.clock)
            when = _store.write_time(conn, user.node, user.uid, now)
            _store.apply_items(conn, user.node, user.uid, collection, [item], when=when, now=now)
            _store.touch(conn, user.node, user.uid, collection, when)
        return when / 1000

    def delete_record(self, fxa_uid: str, collection: str, bso_id: str) -> bool:
        core = self._core
        with core.db.transaction() as conn:
            user = self._user(conn, fxa_uid)
            now = now_ms(core.clock)
            if _store.get_bso(conn, user.node, user.uid, collection, bso_id, now) is None:
                return False
            when = _store.write_time(conn, user.node, user.uid, now)
            _store.delete_bso(conn, user.node, user.uid, collection, bso_id)
            _store.touch(conn, user.node, user.uid, collection, when)
        return True

    def delete_collection(self, fxa_uid: str, collection: str) -> bool:
        core = self._core
        with core.db.transaction() as conn:
            user = self._user(conn, fxa_uid)
            if not _store.collection_exists(conn, user.node, user.uid, collection):
                return False
            when = _store.write_time(conn, user.node, user.uid, now_ms(core.clock))
            _store.delete_collection(conn, user.node, user.uid, collection)
            _store.touch(conn, user.node, user.uid, None, when)
        return True

    # -- inspection -----------------------------------------------------------------------------

    def records(self, fxa_uid: str, collection: str) -> dict[str, dict[str, Any]]:
        core = self._core
        with core.db.transaction() as conn:
            user = self._user(conn, fxa_uid)
            rows = _store.records(conn, user.node, user.uid, collection, now_ms(core.clock))
        return {
            r.id: {"payload": r.payload, "modified": r.modified / 1000, "sortindex": r.sortindex}
            for r in rows
        }

    def user(self, fxa_uid: str) -> dict[str, Any] | None:
        with self._core.db.transaction() as conn:
            user = _users.current(conn, fxa_uid)
        if user is None:
            return None
        return {
            "uid": user.uid,
            "node": user.node,
            "generation": user.generation,
            "keys_changed_at": user.keys_changed_at,
            "client_state": user.client_state,
        }

    def request_log(self) -> list[LoggedRequest]:
        return self._core.log.entries()

    def clear_request_log(self) -> None:
        self._core.log.clear()
