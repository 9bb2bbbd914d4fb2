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
* Each BSO is stored with its ``wire`` form (``_bso.wire_json``: what a GET answers for it),
  rendered when it is written, so :func:`list_wire` reads a page as stored bytes.
* :func:`apply_items` reads the rows it updates in a few ``IN (...)`` queries and writes each
  distinct id once, so its statements and rows touched are linear in the items.
* Batches (§3.6) live in ``_batches``; deleting a collection or a store drops its batches.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from beacon.server._batches import drop_batches
from beacon.server._bso import key_of, payload_of, wire_json

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
    """The offset a token from :func:`list_wire` or :func:`list_ids` names, or None when it is
    not one."""
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


def _token(modified: int, bso_id: str) -> str:
    encoded = base64.urlsafe_b64encode(bso_id.encode("ascii")).rstrip(b"=").decode("ascii")
    return f"{modified}.{encoded}"


class BsoRow(NamedTuple):
    """A visible BSO as stored: its fields and its ``wire`` form."""

    id: str
    modified: int
    sortindex: int | None
    wire: bytes

    @property
    def payload(self) -> str:
        return payload_of(self.wire)


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
        "SELECT collection, SUM(bytes) FROM bsos WHERE node = ?"
        " AND uid = ? AND (expiry IS NULL OR expiry > ?) GROUP BY collection"
        " ORDER BY collection",
        (node, uid, now),
    ).fetchall()
    return {str(name): int(size or 0) for name, size in rows}


_ROW = "id, modified, sortindex, wire"


def get_bso(
    conn: sqlite3.Connection, node: int, uid: int, name: str, bso_id: str, now: int
) -> BsoRow | None:
    row = conn.execute(
        f"SELECT {_ROW} FROM bsos WHERE node = ? AND uid = ?"
        " AND collection = ? AND id = ? AND (expiry IS NULL OR expiry > ?)",
        (node, uid, name, bso_id, now),
    ).fetchone()
    return None if row is None else BsoRow._make(row)


def records(conn: sqlite3.Connection, node: int, uid: int, name: str, now: int) -> list[BsoRow]:
    """Every visible BSO of a collection, by id."""
    rows = conn.execute(
        f"SELECT {_ROW} FROM bsos WHERE node = ? AND uid = ? AND collection = ?"
        " AND (expiry IS NULL OR expiry > ?) ORDER BY id",
        (node, uid, name, now),
    )
    return [BsoRow._make(row) for row in rows]


class Query(NamedTuple):
    """Which BSOs a listing selects, in which order, from where (§3.5)."""

    ids: Sequence[str] | None = None
    newer: int | None = None
    older: int | None = None
    sort: str | None = None
    limit: int | None = None
    offset: Offset = _START


def _listing(
    conn: sqlite3.Connection, column: str, node: int, uid: int, name: str, now: int, query: Query
) -> tuple[list[Any], bool]:
    """``column`` of the matching BSOs in a stable order (at most ``limit``), and whether more
    remain (§3.5). One column only: a page's 500 rows cost less without their keys."""
    where = [
        "node = :node",
        "uid = :uid",
        "collection = :name",
        "(expiry IS NULL OR expiry > :now)",
    ]
    params: dict[str, Any] = {"node": node, "uid": uid, "name": name, "now": now}
    if query.ids is not None:
        marks = [f":id{i}" for i in range(len(query.ids))]
        where.append(f"id IN ({','.join(marks)})")
        params.update({mark[1:]: value for mark, value in zip(marks, query.ids, strict=True)})
    newer, older, after = query.newer, query.older, query.offset.after
    # A keyset offset and a time bound on the same side are one lower (or upper) bound: keep
    # the tighter one alone, so SQLite ranges over (modified, id) instead of scanning every
    # row after ``newer`` (a whole collection uploaded in one batch shares one ``modified``).
    if after is not None and query.sort == "oldest" and newer is not None:
        newer, after = (None, after) if after[0] > newer else (newer, None)
    if after is not None and query.sort == "newest" and older is not None:
        older, after = (None, after) if after[0] < older else (older, None)
    if newer is not None:
        where.append("modified > :newer")
        params["newer"] = newer
    if older is not None:
        where.append("modified < :older")
        params["older"] = older
    if after is not None:
        where.append(_AFTER[query.sort])
        params["after_modified"], params["after_id"] = after
    limit = query.limit
    params["limit"] = -1 if limit is None else limit + 1
    params["position"] = query.offset.position
    sql = (
        f"SELECT {column} FROM bsos WHERE "
        + " AND ".join(where)
        + f" ORDER BY {_ORDER[query.sort]} LIMIT :limit OFFSET :position"
    )
    values = [row[0] for row in conn.execute(sql, params)]
    if limit is None or len(values) <= limit:
        return values, False
    del values[limit:]
    return values, True


def _next(query: Query, key: tuple[int, str]) -> str:
    """The offset token after a page whose last row has ``key`` (modified, id)."""
    if query.sort in _AFTER:
        return _token(*key)
    assert query.limit is not None
    return str(query.offset.position + query.limit)


def list_wire(
    conn: sqlite3.Connection, node: int, uid: int, name: str, now: int, query: Query
) -> tuple[list[bytes], str | None]:
    """The wire form of each matching BSO, and the next offset token if more remain."""
    wires, more = _listing(conn, "wire", node, uid, name, now, query)
    return wires, _next(query, key_of(wires[-1])) if more else None


def list_ids(
    conn: sqlite3.Connection, node: int, uid: int, name: str, now: int, query: Query
) -> tuple[list[str], str | None]:
    """The id of each matching BSO, and the next offset token if more remain."""
    ids, more = _listing(conn, "id", node, uid, name, now, query)
    if not more:
        return ids, None
    (modified,) = conn.execute(
        "SELECT modified FROM bsos WHERE node = ? AND uid = ? AND collection = ? AND id = ?",
        (node, uid, name, ids[-1]),
    ).fetchone()
    return ids, _next(query, (int(modified), ids[-1]))


class _Stored(NamedTuple):
    """A BSO's state while items are applied. ``payload`` is None while the stored row's
    ``wire`` is still right (then it need not be read: most updates replace the payload)."""

    sortindex: int | None
    modified: int
    expiry: int | None
    payload: str | None


_IN_CHUNK = 500  # ids per IN (...) lookup, well under SQLite's bound on parameters


def _existing(
    conn: sqlite3.Connection, node: int, uid: int, name: str, ids: Sequence[str]
) -> dict[str, _Stored]:
    """The stored rows of ``ids`` (live or expired), a few lookups for any number of ids."""
    found: dict[str, _Stored] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT id, sortindex, modified, expiry FROM bsos WHERE node = ? AND uid = ?"
            f" AND collection = ? AND id IN ({marks})",
            (node, uid, name, *chunk),
        )
        for bso_id, sortindex, modified, expiry in rows:
            found[bso_id] = _Stored(sortindex, modified, expiry, None)
    return found


def _merge(
    old: _Stored | None,
    item: dict[str, Any],
    stored_payload: Callable[[], str],
    *,
    when: int,
    now: int,
) -> _Stored:
    """One item applied to a BSO's state (§3.2): a new or expired BSO gets defaults; updating
    only ``ttl`` keeps ``modified``; TTLs count from ``when``. ``stored_payload`` reads the
    payload of the stored row, for an update that keeps it."""
    ttl_expiry = None if item.get("ttl") is None else when + int(item["ttl"]) * 1000
    if old is None or (old.expiry is not None and old.expiry <= now):
        return _Stored(item.get("sortindex"), when, ttl_expiry, item.get("payload") or "")
    expiry = ttl_expiry if "ttl" in item else old.expiry
    if "payload" not in item and "sortindex" not in item:
        return old._replace(expiry=expiry)
    sortindex = item.get("sortindex", old.sortindex)
    if "payload" in item:
        payload = item["payload"] or ""
    else:
        payload = old.payload if old.payload is not None else stored_payload()
    return _Stored(sortindex, when, expiry, payload)


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
    """Upsert validated items with partial-update semantics at write time ``when`` (§3.2).

    Items apply in order (a later item for an id sees what the earlier ones made of it);
    each id is written once, with its final state.
    """
    items = list(items)
    stored = _existing(conn, node, uid, name, list(dict.fromkeys(item["id"] for item in items)))
    states: dict[str, _Stored] = {}
    for item in items:
        bso_id = item["id"]

        def stored_payload(bso_id: str = bso_id) -> str:
            row = conn.execute(
                "SELECT wire FROM bsos WHERE node = ? AND uid = ? AND collection = ? AND id = ?",
                (node, uid, name, bso_id),
            ).fetchone()
            return payload_of(row[0])

        old = states.get(bso_id) or stored.get(bso_id)
        states[bso_id] = _merge(old, item, stored_payload, when=when, now=now)
    written, expiries = [], []
    for bso_id, state in states.items():
        if state.payload is None:  # the stored row's wire form stands; only its TTL moved
            expiries.append((state.expiry, node, uid, name, bso_id))
            continue
        wire = wire_json(bso_id, state.modified, state.payload, state.sortindex)
        size = len(state.payload.encode("utf-8"))
        written.append(
            (node, uid, name, bso_id, state.sortindex, state.modified, state.expiry, size, wire)
        )
    conn.executemany(
        "INSERT INTO bsos (node, uid, collection, id, sortindex, modified, expiry, bytes, wire)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node, uid, collection, id) DO UPDATE"
        " SET sortindex = excluded.sortindex, modified = excluded.modified,"
        " expiry = excluded.expiry, bytes = excluded.bytes, wire = excluded.wire",
        written,
    )
    conn.executemany(
        "UPDATE bsos SET expiry = ? WHERE node = ? AND uid = ? AND collection = ? AND id = ?",
        expiries,
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
    drop_batches(conn, "node = ? AND uid = ? AND collection = ?", (node, uid, name))


def delete_all(conn: sqlite3.Connection, node: int, uid: int) -> None:
    """Delete every collection and record; the store row keeps its high-water timestamp."""
    conn.execute("DELETE FROM bsos WHERE node = ? AND uid = ?", (node, uid))
    conn.execute("DELETE FROM collections WHERE node = ? AND uid = ?", (node, uid))
    drop_batches(conn, "node = ? AND uid = ?", (node, uid))


def used_bytes(conn: sqlite3.Connection, node: int, uid: int, now: int) -> int:
    return sum(collection_usage(conn, node, uid, now).values())
