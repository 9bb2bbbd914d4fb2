"""What a storage node remembers about each of its uids, so standard tokens can be refused.

A storage node accepts any tokenlib token the master secret signs (docs/protocol.md §1.7) and keeps
data by the token's uid, as syncstorage-rs does; the token carries no claim beyond the
standard ones. Revocation and node moves therefore live on the node, in one row per
``(node, uid)`` that the token server and the admin API write:

* ``retired_at``: the uid left this node (node reassignment) or was replaced (a new client
  state): every token for it is refused (401).
* ``void_through`` / ``expired_through``: tokens whose ``expires`` is at or before this time
  are revoked (refused everywhere) / expired (info/collections still allowed, §2.4). A token
  server caps lifetimes at ``max_duration``, so "every token issued before T" is "every token
  expiring by T + max_duration"; the token server's own tokens count too (``issued_through``).
* ``issued_through``: the latest ``expires`` the embedded token server minted for the uid.
  After a revocation it mints with ``expires`` past :func:`mint_floor`, so a new token always
  outlives the revocation even when the clock did not move.

Every function runs inside the caller's :meth:`Database.transaction`; the table is in ``_db``.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeRecord:
    """One uid as its storage node knows it."""

    retired: bool = False
    void_through: float = 0.0
    expired_through: float = 0.0
    issued_through: float = 0.0


_NONE = NodeRecord()


def get(conn: sqlite3.Connection, node: int, uid: int) -> NodeRecord:
    row = conn.execute(
        "SELECT retired_at, void_through, expired_through, issued_through FROM node_users"
        " WHERE node = ? AND uid = ?",
        (node, uid),
    ).fetchone()
    if row is None:
        return _NONE
    return NodeRecord(row[0] is not None, float(row[1]), float(row[2]), float(row[3]))


def _ensure(conn: sqlite3.Connection, node: int, uid: int) -> None:
    conn.execute("INSERT OR IGNORE INTO node_users (node, uid) VALUES (?, ?)", (node, uid))


def retire(conn: sqlite3.Connection, node: int, uid: int, now: float) -> None:
    """The uid left the node: refuse every token for it from now on."""
    _ensure(conn, node, uid)
    conn.execute(
        "UPDATE node_users SET retired_at = COALESCE(retired_at, ?) WHERE node = ? AND uid = ?",
        (now, node, uid),
    )


def void_tokens(
    conn: sqlite3.Connection,
    node: int,
    uid: int,
    *,
    now: float,
    max_duration: float,
    revoke: bool,
) -> None:
    """Every token issued for the uid until ``now`` is revoked (or only expired)."""
    _ensure(conn, node, uid)
    column = "void_through" if revoke else "expired_through"
    conn.execute(
        f"UPDATE node_users SET {column} = MAX({column}, issued_through, ?)"
        " WHERE node = ? AND uid = ?",
        (now + max_duration, node, uid),
    )


def mint_floor(conn: sqlite3.Connection, node: int, uid: int) -> float:
    """A new token for the uid must expire after this time (0: no constraint)."""
    record = get(conn, node, uid)
    return max(record.void_through, record.expired_through)


def issued(conn: sqlite3.Connection, node: int, uid: int, expires: float) -> None:
    """The token server minted a token for the uid expiring at ``expires``."""
    _ensure(conn, node, uid)
    conn.execute(
        "UPDATE node_users SET issued_through = MAX(issued_through, ?) WHERE node = ? AND uid = ?",
        (expires, node, uid),
    )
