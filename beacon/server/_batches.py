"""Open batches of a storage node (docs/protocol.md §3.6) on SQLite, without HTTP.

Contract (every function runs inside the caller's :meth:`Database.transaction`):

* A batch holds validated items (see ``_bso``) in the order they were appended, until
  :func:`take_batch` hands them over for commit and deletes the batch. AUTOINCREMENT never
  reuses a batch id, so a committed batch cannot be resurrected.
* A batch expires :data:`BATCH_LIFETIME_MS` after it was created; :func:`find_batch` does not
  see an expired batch, nor another user's or collection's.
* Each batch row keeps the count and payload bytes of its items, so an append costs the same
  however big the batch has grown (recounting its items made building a batch quadratic).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BATCH_LIFETIME_MS = 2 * 3600 * 1000


@dataclass(frozen=True)
class BatchInfo:
    id: int
    records: int
    bytes: int


def create_batch(conn: sqlite3.Connection, node: int, uid: int, name: str, now: int) -> BatchInfo:
    cursor = conn.execute(
        "INSERT INTO batches (node, uid, collection, created) VALUES (?, ?, ?, ?)",
        (node, uid, name, now),
    )
    assert cursor.lastrowid is not None
    return BatchInfo(cursor.lastrowid, 0, 0)


def find_batch(
    conn: sqlite3.Connection, node: int, uid: int, name: str, batch_id: int, now: int
) -> BatchInfo | None:
    """The open batch ``batch_id`` of this user and collection, unless expired."""
    row = conn.execute(
        "SELECT created, records, bytes FROM batches WHERE id = ? AND node = ? AND uid = ?"
        " AND collection = ?",
        (batch_id, node, uid, name),
    ).fetchone()
    if row is None or int(row[0]) + BATCH_LIFETIME_MS <= now:
        return None
    return BatchInfo(batch_id, int(row[1]), int(row[2]))


def append_batch(
    conn: sqlite3.Connection, batch: BatchInfo, items: Sequence[tuple[dict[str, Any], int]]
) -> None:
    """Append (item, payload bytes) pairs in order, after the ``batch.records`` already in."""
    conn.executemany(
        "INSERT INTO batch_items (batch, seq, id, fields, bytes) VALUES (?, ?, ?, ?, ?)",
        [
            (batch.id, batch.records + 1 + i, item["id"], json.dumps(item), size)
            for i, (item, size) in enumerate(items)
        ],
    )
    conn.execute(
        "UPDATE batches SET records = records + ?, bytes = bytes + ? WHERE id = ?",
        (len(items), sum(size for _, size in items), batch.id),
    )


def take_batch(conn: sqlite3.Connection, batch_id: int) -> list[dict[str, Any]]:
    """The batch's items in order; the batch is gone afterwards."""
    rows = conn.execute(
        "SELECT fields FROM batch_items WHERE batch = ? ORDER BY seq", (batch_id,)
    ).fetchall()
    conn.execute("DELETE FROM batch_items WHERE batch = ?", (batch_id,))
    conn.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
    return [json.loads(row[0]) for row in rows]


def drop_batches(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> None:
    """Delete the batches matching ``where`` (a condition on ``batches``) and their items."""
    conn.execute(
        f"DELETE FROM batch_items WHERE batch IN (SELECT id FROM batches WHERE {where})", params
    )
    conn.execute(f"DELETE FROM batches WHERE {where}", params)
