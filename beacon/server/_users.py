"""Token-server user records: which uid and node an FxA account currently has
(docs/protocol.md §1.4).

Contract (every function runs inside the caller's :meth:`Database.transaction`):

* At most one *current* row per FxA uid (``replaced_at IS NULL``); replaced rows remember
  client states used before (rule 3: stale states are refused).
* :func:`allocate` creates the first row on the least-loaded node (ties → lowest node number).
* :func:`replace` retires the current row and makes a new one (new uid, so empty storage) —
  used for a valid client-state change and for node reassignment (:func:`move`). The new
  store starts with a timestamp above the old one, so timestamps never go backwards for an
  account and a cached info/collections timestamp cannot yield a stale 304.
* The retired row's ``(node, uid)`` is retired on its storage node too (``_node_records``):
  its tokens are refused there from then on. Revoking and expiring tokens is
  :func:`void_tokens`, which writes the same node records.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from beacon.server import _node_records, _store

_COLUMNS = "uid, fxa_uid, node, generation, keys_changed_at, client_state, replaced_at"


@dataclass(frozen=True)
class UserRecord:
    """One row of the token server's users table."""

    uid: int
    fxa_uid: str
    node: int
    generation: int
    keys_changed_at: int
    client_state: str
    replaced: bool


def _record(row: tuple[object, ...]) -> UserRecord:
    return UserRecord(
        uid=int(row[0]),  # type: ignore[call-overload]
        fxa_uid=str(row[1]),
        node=int(row[2]),  # type: ignore[call-overload]
        generation=int(row[3]),  # type: ignore[call-overload]
        keys_changed_at=int(row[4]),  # type: ignore[call-overload]
        client_state=str(row[5]),
        replaced=row[6] is not None,
    )


def current(conn: sqlite3.Connection, fxa_uid: str) -> UserRecord | None:
    """The account's current user row, if it ever asked for a token."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE fxa_uid = ? AND replaced_at IS NULL", (fxa_uid,)
    ).fetchone()
    return None if row is None else _record(row)


def by_uid(conn: sqlite3.Connection, uid: int) -> UserRecord | None:
    """The row for storage uid ``uid`` (current or replaced)."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE uid = ?", (uid,)).fetchone()
    return None if row is None else _record(row)


def previous_states(conn: sqlite3.Connection, fxa_uid: str) -> set[str]:
    """Client states of replaced rows (for rule 3 of §1.4)."""
    rows = conn.execute(
        "SELECT client_state FROM users WHERE fxa_uid = ? AND replaced_at IS NOT NULL",
        (fxa_uid,),
    ).fetchall()
    return {str(row[0]) for row in rows}


def allocate(
    conn: sqlite3.Connection,
    *,
    fxa_uid: str,
    nodes: int,
    generation: int,
    keys_changed_at: int,
    client_state: str,
    now: float,
) -> UserRecord:
    """First row for an account, on the least-loaded node."""
    counts = dict(
        conn.execute(
            "SELECT node, COUNT(*) FROM users WHERE replaced_at IS NULL GROUP BY node"
        ).fetchall()
    )
    node = min(range(1, nodes + 1), key=lambda n: (counts.get(n, 0), n))
    return _insert(conn, fxa_uid, node, generation, keys_changed_at, client_state, now)


def _insert(
    conn: sqlite3.Connection,
    fxa_uid: str,
    node: int,
    generation: int,
    keys_changed_at: int,
    client_state: str,
    now: float,
) -> UserRecord:
    cursor = conn.execute(
        "INSERT INTO users (fxa_uid, node, generation, keys_changed_at, client_state,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (fxa_uid, node, generation, keys_changed_at, client_state, now),
    )
    uid = cursor.lastrowid
    assert uid is not None
    record = by_uid(conn, uid)
    assert record is not None
    return record


def replace(
    conn: sqlite3.Connection,
    old: UserRecord,
    *,
    node: int,
    generation: int,
    keys_changed_at: int,
    client_state: str,
    now: float,
    now_ms: int,
) -> UserRecord:
    """Retire ``old`` and start a new uid (empty storage) on ``node``."""
    conn.execute("UPDATE users SET replaced_at = ? WHERE uid = ?", (now, old.uid))
    _node_records.retire(conn, old.node, old.uid, now)
    new = _insert(conn, old.fxa_uid, node, generation, keys_changed_at, client_state, now)
    row = conn.execute(
        "SELECT modified FROM stores WHERE node = ? AND uid = ?", (old.node, old.uid)
    ).fetchone()
    if row is not None:
        # Keep timestamps moving forward for the account (see the module docstring).
        conn.execute(
            "INSERT INTO stores (node, uid, modified) VALUES (?, ?, ?)",
            (new.node, new.uid, max(now_ms, int(row[0]) + 10)),
        )
    # The old uid's data is unreachable from now on; drop it (real nodes purge it later).
    _store.delete_all(conn, old.node, old.uid)
    conn.execute("DELETE FROM stores WHERE node = ? AND uid = ?", (old.node, old.uid))
    return new


def update_in_place(
    conn: sqlite3.Connection, user: UserRecord, *, generation: int, keys_changed_at: int
) -> None:
    """Same client state: raise generation / keys_changed_at to the newest seen."""
    conn.execute(
        "UPDATE users SET generation = MAX(generation, ?), keys_changed_at ="
        " MAX(keys_changed_at, ?) WHERE uid = ?",
        (generation, keys_changed_at, user.uid),
    )


def void_tokens(
    conn: sqlite3.Connection, user: UserRecord, *, now: float, max_duration: float, revoke: bool
) -> None:
    """Every token issued so far for the user's uid counts as revoked (or expired)."""
    _node_records.void_tokens(
        conn, user.node, user.uid, now=now, max_duration=max_duration, revoke=revoke
    )
