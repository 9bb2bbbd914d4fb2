"""The store's ``records`` table, one collection at a time: the SQL both engines share.

Each row is a JSON cleartext (or a tombstone), the server's ``modified`` for it, the local edit
time, a ``changed`` flag (outgoing), a change counter that lets ``mark_uploaded`` tell an
edit made during an upload from the one that was uploaded, and the *base*: the content last
agreed with a server (applied from it or uploaded to it; :func:`content` of the row), which
lets an engine tell a real local edit from a row that is outgoing only because of a reset.

Payloads and bases are sealed at rest (:mod:`._sealed`): this module seals what it writes and
opens what it reads, so the engines see only text. A base equal to the payload (every row
applied from a server or uploaded to it) is stored as a marker, not as a second sealed copy:
each record is stored once. Local edits that keep the row's server view and base
(:meth:`Records.edit`, :meth:`Records.edit_many`) are one upsert each, with no read first, so
many of them go to SQLite as one ``executemany``; a page of remote records is read with one
query (:meth:`Records.rows`) and written with one ``executemany`` (:meth:`Records.write_many`).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from beacon._errors import UsageError
from beacon.client._engine_api import RECORD_ID
from beacon.client._sealed import SAME_AS_PAYLOAD
from beacon.client._store import Store

__all__ = ["TOMBSTONE", "Records", "Row", "Write", "check_record_id", "content", "dumps"]

#: The content of a deleted record. Live content is a JSON object's text, so never equal to it.
TOMBSTONE = "tombstone"


def content(payload: str | None, deleted: bool) -> str | None:
    """What a row or record holds, comparable across both: its payload text or TOMBSTONE."""
    return TOMBSTONE if deleted else payload


class Row:
    """One row of the store's ``records`` table for a collection (``row``: the columns of
    ``_COLUMNS``, of which the payload and the base are given opened)."""

    __slots__ = (
        "base",
        "change_counter",
        "changed",
        "deleted",
        "local_modified",
        "payload",
        "server_modified",
    )

    def __init__(self, row: Sequence[Any], payload: str | None, base: str | None) -> None:
        self.payload = payload
        self.deleted = bool(row[1])
        self.server_modified: float | None = row[2]
        self.local_modified: float = row[3]
        self.changed = bool(row[4])
        self.change_counter: int = row[5]
        self.base = base

    @property
    def content(self) -> str | None:
        return content(self.payload, self.deleted)


def dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def check_record_id(record_id: str) -> str:
    # Printable ASCII, 1-64 chars, and no ',' (a-s; ``ids=`` is comma-separated, §3.2).
    if not isinstance(record_id, str) or not RECORD_ID.match(record_id) or "," in record_id:
        raise UsageError("a record id is 1-64 printable ASCII characters without ','")
    return record_id


_COLUMNS = "payload, deleted, server_modified, local_modified, changed, change_counter, base"

# A local edit: the server's view (server_modified) and the base stay as they are (a base that
# was "the payload" keeps the payload being replaced). A deletion of a row already deleted
# everywhere (a tombstone not outgoing) changes nothing.
_EDIT = (
    "INSERT INTO records (collection, id, payload, deleted, server_modified, local_modified,"
    " changed, change_counter, base) VALUES (?, ?, ?, ?, NULL, ?, 1, 1, NULL)"
    " ON CONFLICT (collection, id) DO UPDATE SET payload = excluded.payload,"
    " deleted = excluded.deleted, local_modified = excluded.local_modified, changed = 1,"
    " change_counter = change_counter + 1,"
    f" base = CASE WHEN records.base = '{SAME_AS_PAYLOAD}' THEN records.payload"
    " ELSE records.base END"
    " WHERE NOT (excluded.deleted = 1 AND records.deleted = 1 AND records.changed = 0)"
)

_WRITE = (
    "INSERT INTO records (collection, id, payload, deleted, server_modified,"
    " local_modified, changed, change_counter, base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (collection, id) DO UPDATE SET payload = excluded.payload,"
    " deleted = excluded.deleted, server_modified = excluded.server_modified,"
    " local_modified = excluded.local_modified, changed = excluded.changed,"
    " change_counter = change_counter + excluded.change_counter, base = excluded.base"
)

#: Ids per ``IN (...)`` query: under SQLite's oldest limit of 999 bound parameters.
_IDS_PER_QUERY = 500


class Write(NamedTuple):
    """One upsert of :meth:`Records.write_many` (see :meth:`Records.write`)."""

    record_id: str
    payload: str | None
    deleted: bool
    server_modified: float | None
    local_modified: float
    changed: bool
    bump: bool
    base: str | None


class Records:
    """The ``records`` table of one collection: the SQL both engines share."""

    def __init__(self, collection: str) -> None:
        self.collection = collection
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise UsageError(f"engine {self.collection!r} is not attached to a store yet")
        return self._store

    def attach(self, store: Store) -> None:
        self._store = store

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement in the store's open transaction (or its own); all rows."""
        return self.store.execute(statement, params)

    def _row(self, record_id: str, raw: Sequence[Any]) -> Row:
        seal = self.store.seal
        payload = seal.open(self.collection, record_id, raw[0])
        base = (
            payload if raw[6] == SAME_AS_PAYLOAD else seal.open(self.collection, record_id, raw[6])
        )
        return Row(raw, payload, base)

    def rows(self, record_ids: Iterable[str]) -> dict[str, Row]:
        """The rows of these ids that exist, by id: one query per 500 ids."""
        wanted = list(dict.fromkeys(record_ids))
        found: dict[str, Row] = {}
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            for raw in self.sql(
                f"SELECT id, {_COLUMNS} FROM records WHERE collection = ? AND id IN ({marks})",
                (self.collection, *chunk),
            ):
                found[raw[0]] = self._row(raw[0], raw[1:])
        return found

    def row(self, record_id: str) -> Row | None:
        rows = self.sql(
            f"SELECT {_COLUMNS} FROM records WHERE collection = ? AND id = ?",
            (self.collection, record_id),
        )
        return self._row(record_id, rows[0]) if rows else None

    def edit(self, record_id: str, payload: str | None, local_modified: float) -> None:
        """A local edit (``payload`` None: a deletion), see ``_EDIT``."""
        self.edit_many([(record_id, payload)], local_modified)

    def edit_many(self, edits: Iterable[tuple[str, str | None]], local_modified: float) -> None:
        """Many local edits in one statement (in the caller's transaction, or its own)."""
        seal = self.store.seal
        collection = self.collection
        rows = [
            (collection, i, seal.seal(collection, i, p), int(p is None), local_modified)
            for i, p in edits
        ]
        self.store.execute_many(_EDIT, rows)

    def write(
        self,
        record_id: str,
        *,
        payload: str | None,
        deleted: bool,
        server_modified: float | None,
        local_modified: float,
        changed: bool,
        bump: bool,
        base: str | None = None,
    ) -> None:
        """Upsert a row; ``bump`` increments the change counter (a local edit)."""
        self.write_many(
            [
                Write(
                    record_id,
                    payload,
                    deleted,
                    server_modified,
                    local_modified,
                    changed,
                    bump,
                    base,
                )
            ]
        )

    def write_many(self, writes: Iterable[Write]) -> None:
        """Many upserts in one ``executemany`` (in the caller's transaction, or its own)."""
        seal = self.store.seal
        collection = self.collection
        rows = [
            (
                collection,
                w.record_id,
                seal.seal(collection, w.record_id, w.payload),
                int(w.deleted),
                w.server_modified,
                w.local_modified,
                int(w.changed),
                int(w.bump),
                SAME_AS_PAYLOAD
                if w.base is not None and w.base == w.payload
                else seal.seal(collection, w.record_id, w.base),
            )
            for w in writes
        ]
        self.store.execute_many(_WRITE, rows)

    def changed_rows(self) -> list[tuple[str, Row]]:
        rows = self.sql(
            f"SELECT id, {_COLUMNS} FROM records WHERE collection = ? AND changed = 1 ORDER BY id",
            (self.collection,),
        )
        return [(r[0], self._row(r[0], r[1:])) for r in rows]

    def changed_page(self, after: str, limit: int) -> list[tuple[str, Row]]:
        """Up to ``limit`` outgoing rows with ids after ``after``, in id order: one page.

        Through the ``records_outgoing`` partial index (:mod:`._sqlite`): a page costs what
        it holds, whatever the size of the collection.
        """
        rows = self.sql(
            f"SELECT id, {_COLUMNS} FROM records WHERE collection = ? AND changed = 1"
            " AND id > ? ORDER BY id LIMIT ?",
            (self.collection, after, limit),
        )
        return [(r[0], self._row(r[0], r[1:])) for r in rows]

    def live(self) -> list[tuple[str, str | None]]:
        seal = self.store.seal
        rows = self.sql(
            "SELECT id, payload FROM records WHERE collection = ? AND deleted = 0 ORDER BY id",
            (self.collection,),
        )
        return [(i, seal.open(self.collection, i, p)) for i, p in rows]

    def mark_uploaded(
        self, ids: Iterable[str], server_modified: float, pending: Mapping[str, int]
    ) -> None:
        # Only an edit unchanged since outgoing() returned it counts as uploaded; what was
        # uploaded is now the content agreed with the server.
        rows = [
            (server_modified, self.collection, record_id, pending[record_id])
            for record_id in ids
            if record_id in pending
        ]
        self.store.execute_many(
            "UPDATE records SET changed = 0, server_modified = ?,"
            f" base = CASE WHEN deleted = 1 THEN '{TOMBSTONE}'"
            f" WHEN payload IS NULL THEN NULL ELSE '{SAME_AS_PAYLOAD}' END"
            " WHERE collection = ? AND id = ? AND change_counter = ?",
            rows,
        )

    def mark_outgoing(self, record_id: str | None = None) -> None:
        """Forget what the server holds of one record, or of all of them: each becomes
        outgoing again (a reset, or a record the server lost)."""
        where, params = ("", ()) if record_id is None else (" AND id = ?", (record_id,))
        self.sql(
            "UPDATE records SET changed = 1, server_modified = NULL,"
            f" change_counter = change_counter + 1 WHERE collection = ?{where}",
            (self.collection, *params),
        )

    def delete_all(self, *, where: str = "", params: Sequence[Any] = ()) -> None:
        self.sql(f"DELETE FROM records WHERE collection = ? {where}", (self.collection, *params))
