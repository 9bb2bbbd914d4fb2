"""Storage-node data operations on SQLite (docs/protocol.md §3), without HTTP.

Contract (every function runs inside the caller's :meth:`Database.transaction`; ``node``/``uid``
name one user's store; timestamps are integer milliseconds, multiples of 10):

* Three levels of last-modified (§3.3): store ≥ collection ≥ BSO. :func:`write_time` allocates
  a write timestamp ``T = max(now, store + 10 ms)``, so timestamps only move forward per user
  and one write shares one ``T`` (:func:`touch` stamps the collection and the store).
* Items handed to :func:`apply_items` are validated dicts (see ``_bso``): ``id`` plus any of
  ``payload``/``sortindex``/``ttl``, where ``None`` resets a field (§3.2 partial update). A new
  or expired BSO gets defaults; updating only ``ttl`` keeps ``modified``; TTLs count from ``T``.
* Expired BSOs (``expiry <= now``) are invisible to every read (§3.2).
* Pagination is stable across pages for every sort. Offsets are opaque tokens (§3.5): for
  the orders with a unique key (id; modified then id, either way) the token is the last row's
  key, ``<modified>.<base64url(id)>``, so a page costs the same however deep it is (an SQL
  ``OFFSET`` re-reads every earlier row); for ``sort=index`` it is a position (``<n>``), and a
  plain position is accepted for every order.
* Batches (§3.6) hold validated items until commit; a committed batch row is deleted and
  AUTOINCREMENT never reuses its id, so it cannot be resurrected.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

BATCH_LIFETIME_MS = 2 * 3600 * 1000

_ORDER = {
    None: "id ASC",
    "oldest": "modified ASC, id ASC",
    "newest": "modified DESC, id DESC",
    "index": "sortindex IS NULL, sortindex DESC, id ASC",
}


# Keyset continuation for the orders with a unique key: rows strictly after the last one.
_AFTER = {
    None: "id > :after_id",
    "oldest": "(modified, id) > (:after_modified, :after_id)",
    "newest": "(modified, id) < (:after_modified, :after_id)",
}


class Offset(NamedTuple):
    """Where a page starts: a position, or just after a row's (modified, id) key."""

    position: int = 0
    after: tuple[int, str] | None = None


def parse_offset(token: str | None, sort: str | None) -> Offset | None:
    """The offset a token from :func:`query_bsos` names, or None when it is not one."""
    if token is None or token == "":
        return _START
    if token.isascii() and token.isdigit() and len(token) <= 12:
        return Offset(position=int(token))
    modified, dot, encoded = token.partition(".")
    if not dot or sort not in _AFTER or not (modified.isascii() and modified.isdigit()):
        return None
    if len(modified) > 15:  # ms timestamps have 13 digits; SQLite integers end at 2**63
        return None
    try:
        padded = encoded + "=" * (-len(encoded) % 4)
        bso_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return Offset(after=(int(modified), bso_id)) if bso_id else None


_START = Offset()


def _token(row: BsoRow) -> str:
    encoded = base64.urlsafe_b64encode(row.id.encode("ascii")).rstrip(b"=").decode("ascii")
    return f"{row.modified}.{encoded}"


class BsoRow(NamedTuple):
    """A visible BSO as stored (a tuple: rows are built by the thousand)."""

    id: str
    modified: int
    payload: str
    sortindex: int | None


def store_modified(conn: sqlite3.Connection, node: int, uid: int) -> int:
    row = conn.execute(
        "SELECT modified FROM stores WHERE node = ? AND uid = ?", (node, uid)
    ).fetchone()
    return 0 if row is None else int(row[0])


def collection_modified(conn: sqlite3.Connection, node: int, uid: int, name: str) -> int:
    row = conn.execute(
        "SELECT modified FROM collections WHERE node = ? AND uid = ? AND name = ?",
        (node, uid, name),
    ).fetchone()
    return 0 if row is None else int(row[0])


def collection_exists(conn: sqlite3.Connection, node: int, uid: int, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM collections WHERE node = ? AND uid = ? AND name = ?", (node, uid, name)
    ).fetchone()
    return row is not None


def write_time(conn: sqlite3.Connection, node: int, uid: int, now: int) -> int:
    """The timestamp of the next write: strictly after everything the user has (§3.3)."""
    return max(now, store_modified(conn, node, uid) + 10)


def touch(conn: sqlite3.Connection, node: int, uid: int, name: str | None, when: int) -> None:
    """Stamp the collection (if any) and the store with ``when``."""
    if name is not None:
        conn.execute(
            "INSERT INTO collections (node, uid, name, modified) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (node, uid, name) DO UPDATE SET modified = excluded.modified",
            (node, uid, name, when),
        )
    conn.execute(
        "INSERT INTO stores (node, uid, modified) VALUES (?, ?, ?)"
        " ON CONFLICT (node, uid) DO UPDATE SET modified = excluded.modified",
        (node, uid, when),
    )


def info_collections(conn: sqlite3.Connection, node: int, uid: int) -> dict[str, int]:
    rows = conn.execute(
        "SELECT name, modified FROM collections WHERE node = ? AND uid = ? ORDER BY name",
        (node, uid),
    ).fetchall()
    return {str(name): int(modified) for name, modified in rows}


def collection_counts(conn: sqlite3.Connection, node: int, uid: int, now: int) -> dict[str, int]:
    rows = conn.execute(
        "SELECT collection, COUNT(*) FROM bsos WHERE node = ? AND uid = ?"
        " AND (expiry IS NULL OR expiry > ?) GROUP BY collection ORDER BY collection",
        (node, uid, now),
    ).fetchall()
    return {str(name): int(count) for name, count in rows}


def collection_usage(conn: sqlite3.Connection, node: int, uid: int, now: int) -> dict[str, int]:
    """Payload bytes per collection (UTF-8), visible records only."""
    rows = conn.execute(
        "SELECT collection, SUM(LENGTH(CAST(payload AS BLOB))) FROM bsos WHERE node = ?"
        " AND uid = ? AND (expiry IS NULL OR expiry > ?) GROUP BY collection"
        " ORDER BY collection",
        (node, uid, now),
    ).fetchall()
    return {str(name): int(size or 0) for name, size in rows}


def get_bso(
    conn: sqlite3.Connection, node: int, uid: int, name: str, bso_id: str, now: int
) -> BsoRow | None:
    row = conn.execute(
        "SELECT id, modified, payload, sortindex FROM bsos WHERE node = ? AND uid = ?"
        " AND collection = ? AND id = ? AND (expiry IS NULL OR expiry > ?)",
        (node, uid, name, bso_id, now),
    ).fetchone()
    return None if row is None else BsoRow(row[0], int(row[1]), row[2], row[3])


def query_bsos(
    conn: sqlite3.Connection,
    node: int,
    uid: int,
    name: str,
    *,
    now: int,
    ids: Sequence[str] | None = None,
    newer: int | None = None,
    older: int | None = None,
    sort: str | None = None,
    limit: int | None = None,
    offset: Offset = _START,
) -> tuple[list[BsoRow], str | None]:
    """Matching BSOs in a stable order and the next offset token if more remain (§3.5)."""
    where = [
        "node = :node",
        "uid = :uid",
        "collection = :name",
        "(expiry IS NULL OR expiry > :now)",
    ]
    params: dict[str, Any] = {"node": node, "uid": uid, "name": name, "now": now}
    if ids is not None:
        marks = [f":id{i}" for i in range(len(ids))]
        where.append(f"id IN ({','.join(marks)})")
        params.update({mark[1:]: value for mark, value in zip(marks, ids, strict=True)})
    if newer is not None:
        where.append("modified > :newer")
        params["newer"] = newer
    if older is not None:
        where.append("modified < :older")
        params["older"] = older
    if offset.after is not None:
        where.append(_AFTER[sort])
        params["after_modified"], params["after_id"] = offset.after
    params["limit"] = -1 if limit is None else limit + 1
    params["position"] = offset.position
    sql = (
        "SELECT id, modified, payload, sortindex FROM bsos WHERE "
        + " AND ".join(where)
        + f" ORDER BY {_ORDER[sort]} LIMIT :limit OFFSET :position"
    )
    rows = [BsoRow._make(r) for r in conn.execute(sql, params)]
    if limit is None or len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    if sort in _AFTER:
        return rows, _token(rows[-1])
    return rows, str(offset.position + limit)


def apply_items(
    conn: sqlite3.Connection,
    node: int,
    uid: int,
    name: str,
    items: Iterable[dict[str, Any]],
    *,
    when: int,
    now: int,
) -> None:
    """Upsert validated items with partial-update semantics at write time ``when`` (§3.2)."""
    for item in items:
        key = (node, uid, name, item["id"])
        row = conn.execute(
            "SELECT sortindex, payload, modified, expiry FROM bsos WHERE node = ? AND uid = ?"
            " AND collection = ? AND id = ?",
            key,
        ).fetchone()
        live = row is not None and (row[3] is None or row[3] > now)
        ttl_expiry = None if item.get("ttl") is None else when + int(item["ttl"]) * 1000
        if not live:
            sortindex = item.get("sortindex")
            payload = item.get("payload") or ""
            modified = when
            expiry = ttl_expiry
        else:
            assert row is not None
            sortindex = item["sortindex"] if "sortindex" in item else row[0]
            payload = (item["payload"] or "") if "payload" in item else row[1]
            changed = "payload" in item or "sortindex" in item
            modified = when if changed else int(row[2])
            expiry = ttl_expiry if "ttl" in item else row[3]
        conn.execute(
            "INSERT OR REPLACE INTO bsos (node, uid, collection, id, sortindex, payload,"
            " modified, expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, sortindex, payload, modified, expiry),
        )


def delete_bso(conn: sqlite3.Connection, node: int, uid: int, name: str, bso_id: str) -> None:
    conn.execute(
        "DELETE FROM bsos WHERE node = ? AND uid = ? AND collection = ? AND id = ?",
        (node, uid, name, bso_id),
    )


def delete_ids(
    conn: sqlite3.Connection, node: int, uid: int, name: str, ids: Sequence[str]
) -> None:
    conn.executemany(
        "DELETE FROM bsos WHERE node = ? AND uid = ? AND collection = ? AND id = ?",
        [(node, uid, name, bso_id) for bso_id in ids],
    )


def delete_collection(conn: sqlite3.Connection, node: int, uid: int, name: str) -> None:
    for table, column in (("bsos", "collection"), ("collections", "name")):
        conn.execute(
            f"DELETE FROM {table} WHERE node = ? AND uid = ? AND {column} = ?",
            (node, uid, name),
        )
    _drop_batches(conn, "node = ? AND uid = ? AND collection = ?", (node, uid, name))


def delete_all(conn: sqlite3.Connection, node: int, uid: int) -> None:
    """Delete every collection and record; the store row keeps its high-water timestamp."""
    conn.execute("DELETE FROM bsos WHERE node = ? AND uid = ?", (node, uid))
    conn.execute("DELETE FROM collections WHERE node = ? AND uid = ?", (node, uid))
    _drop_batches(conn, "node = ? AND uid = ?", (node, uid))


def _drop_batches(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> None:
    conn.execute(
        f"DELETE FROM batch_items WHERE batch IN (SELECT id FROM batches WHERE {where})", params
    )
    conn.execute(f"DELETE FROM batches WHERE {where}", params)


def used_bytes(conn: sqlite3.Connection, node: int, uid: int, now: int) -> int:
    return sum(collection_usage(conn, node, uid, now).values())


# -- batches (§3.6) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchInfo:
    id: int
    records: int
    bytes: int


def create_batch(conn: sqlite3.Connection, node: int, uid: int, name: str, now: int) -> int:
    cursor = conn.execute(
        "INSERT INTO batches (node, uid, collection, created) VALUES (?, ?, ?, ?)",
        (node, uid, name, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def find_batch(
    conn: sqlite3.Connection, node: int, uid: int, name: str, batch_id: int, now: int
) -> BatchInfo | None:
    """The open batch ``batch_id`` of this user and collection, unless expired."""
    row = conn.execute(
        "SELECT created FROM batches WHERE id = ? AND node = ? AND uid = ? AND collection = ?",
        (batch_id, node, uid, name),
    ).fetchone()
    if row is None or int(row[0]) + BATCH_LIFETIME_MS <= now:
        return None
    records, size = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM batch_items WHERE batch = ?",
        (batch_id,),
    ).fetchone()
    return BatchInfo(batch_id, int(records), int(size))


def append_batch(
    conn: sqlite3.Connection, batch_id: int, items: Sequence[tuple[dict[str, Any], int]]
) -> None:
    """Append (item, payload bytes) pairs in order."""
    row = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM batch_items WHERE batch = ?", (batch_id,)
    ).fetchone()
    start = int(row[0]) + 1
    conn.executemany(
        "INSERT INTO batch_items (batch, seq, id, fields, bytes) VALUES (?, ?, ?, ?, ?)",
        [
            (batch_id, start + i, item["id"], json.dumps(item), size)
            for i, (item, size) in enumerate(items)
        ],
    )


def take_batch(conn: sqlite3.Connection, batch_id: int) -> list[dict[str, Any]]:
    """The batch's items in order; the batch is gone afterwards."""
    rows = conn.execute(
        "SELECT fields FROM batch_items WHERE batch = ? ORDER BY seq", (batch_id,)
    ).fetchall()
    conn.execute("DELETE FROM batch_items WHERE batch = ?", (batch_id,))
    conn.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
    return [json.loads(row[0]) for row in rows]
