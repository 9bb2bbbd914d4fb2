"""A generic engine over the local store: JSON records by id, last writer wins."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from beacon._errors import UsageError
from beacon.client._engine_api import (
    COLLECTION,
    RESERVED,
    ApplyCounts,
    IncomingRecord,
    OutgoingRecord,
)
from beacon.client._records import Records, Row, Write, check_record_id, content, dumps
from beacon.client._store import Store

__all__ = ["EDITED", "RecordEngine"]

#: The cleartext field carrying a record's edit time (POSIX seconds) between devices.
EDITED = "_edited"


def _edit_time(record: IncomingRecord) -> float:
    """When the record was edited: its carried ``_edited``, else the server's ``modified``."""
    edited = record.cleartext.get(EDITED)
    if isinstance(edited, int | float) and not isinstance(edited, bool) and edited > 0:
        return float(edited)
    return record.modified


#: A remote record ready to be decided: the record, its content's text (None: a deletion) and
#: its edit time.
_Prepared = tuple[IncomingRecord, str | None, float]


def _prepare(record: IncomingRecord) -> _Prepared | None:
    """The record's stored text and edit time, or None when it cannot be applied."""
    try:
        check_record_id(record.id)
        if record.cleartext.get("id", record.id) != record.id:
            return None
        edited = _edit_time(record)
        fields = {k: v for k, v in record.cleartext.items() if k != EDITED}
        payload = None if record.deleted else dumps({**fields, "id": record.id})
    except (UsageError, TypeError, ValueError, AttributeError):
        return None
    return record, payload, edited


def _written(write: Write, before: Row | None) -> Row:
    """The row as ``write`` leaves it, for a later record of the same page."""
    counter = (before.change_counter if before is not None else 0) + int(write.bump)
    raw = (
        None,
        write.deleted,
        write.server_modified,
        write.local_modified,
        write.changed,
        counter,
    )
    return Row(raw, write.payload, write.base)


def _local_wins(row: Row, incoming: str | None, edited: float) -> bool:
    """Three-way reconcile of a pending local row against a different remote record.

    When the server still holds our base, only we changed the record. Otherwise the later
    edit wins, by edit time; a tie goes to the remote copy.
    """
    if incoming == row.base:
        return True
    return row.local_modified > edited


class RecordEngine:
    """A generic engine over the store's ``records`` table: JSON objects by id.

    Local edits (:meth:`put`, :meth:`delete`) are tracked and uploaded; remote records are
    reconciled three ways against the base (the content last agreed with a server): when the
    server still holds the base, only we changed the record and our version wins; otherwise
    **last writer wins** on the *edit time*. Each uploaded cleartext carries its edit time in
    the reserved field ``_edited`` (inside the encrypted payload): a server's ``modified``
    cannot order edits, since a device re-uploading old content after a reset or a wipe gets
    a fresh one (the model campaign found both ways an edit was lost to such a re-upload).
    Records from clients that do not carry ``_edited`` are timed by the server's ``modified``.
    A tie goes to the remote copy, so devices converge. A deletion is a tombstone that is
    uploaded and kept, and a remote copy older (by server time) than what we already hold is
    ignored, so a replayed download cannot resurrect a deleted record. Edits made while a sync
    runs stay outgoing: :meth:`mark_uploaded` clears only an edit unchanged since
    :meth:`outgoing` returned it. ``_edited`` never reaches :meth:`get` or :meth:`records`.
    Many local edits go in one transaction (one disk write) through :meth:`put_many`,
    :meth:`delete_many` or ``with engine.transaction():``; payloads are sealed at rest.

    Args:
        name: the collection name (``^[a-zA-Z0-9._-]{1,32}$``, docs/protocol.md §3.1).
        version: the engine version for meta/global.
        store: the account store, or None to be attached later by ``SyncClient``.
        clock: POSIX seconds for local edit times.
        ttl: a TTL (seconds) for uploaded records, or None.
    """

    def __init__(
        self,
        name: str,
        *,
        version: int = 1,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        ttl: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not COLLECTION.match(name):
            raise UsageError(f"not a valid collection name: {name!r}")
        if name in RESERVED:
            raise UsageError(f"{name!r} is a reserved collection")
        self.name = name
        self.version = version
        self._records = Records(name)
        self._clock = clock
        self._ttl = ttl
        self._pending: dict[str, int] = {}
        if store is not None:
            self.attach(store)

    def __repr__(self) -> str:
        return f"RecordEngine({self.name!r}, version={self.version})"

    def attach(self, store: Store) -> None:
        """Keep records in ``store`` (called by ``SyncClient`` when not given at construction)."""
        self._records.attach(store)

    # -- the local API -------------------------------------------------------------------------

    def put(self, id: str, record: Mapping[str, Any]) -> None:
        """Create or replace a record (a JSON object; its ``id`` field is set to ``id``)."""
        self._records.edit(id, self._payload(id, record), self._clock())

    def delete(self, id: str) -> None:
        """Delete a record: a tombstone ``{"id": id, "deleted": true}`` is uploaded."""
        self._records.edit(check_record_id(id), None, self._clock())

    def put_many(self, records: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Create or replace many records, ``(id, record)`` pairs, in one transaction: all of
        them or, on any bad one (:class:`~beacon.UsageError`), none. Returns how many."""
        payloads = [(id, self._payload(id, record)) for id, record in records]
        self._records.edit_many(payloads, self._clock())
        return len(payloads)

    def delete_many(self, ids: Iterable[str]) -> int:
        """Delete many records in one transaction; returns how many ids were given."""
        edits = [(check_record_id(id), None) for id in ids]
        self._records.edit_many(edits, self._clock())
        return len(edits)

    @contextmanager
    def transaction(self) -> Iterator[RecordEngine]:
        """Group local edits: ``with notes.transaction(): notes.put(...); notes.delete(...)``
        commits them together (one disk write) or, when the block raises, not at all."""
        with self._records.store.transaction():
            yield self

    def _payload(self, id: str, record: Mapping[str, Any]) -> str:
        check_record_id(id)
        if not isinstance(record, Mapping):
            raise UsageError("a record is a JSON object (a mapping)")
        value = {**record, "id": id}
        if value.get("deleted") is True:
            raise UsageError("use delete() to delete a record")
        if EDITED in value:
            raise UsageError(f"{EDITED!r} is reserved for the record's edit time")
        try:
            return dumps(value)
        except (TypeError, ValueError):
            raise UsageError("a record must be JSON-serialisable") from None

    def get(self, id: str) -> dict[str, Any] | None:
        """A live record, or None (absent or deleted)."""
        row = self._records.row(check_record_id(id))
        if row is None or row.deleted or row.payload is None:
            return None
        value: dict[str, Any] = json.loads(row.payload)
        return value

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """All live records, by id."""
        for record_id, payload in self._records.live():
            if payload is not None:
                yield record_id, json.loads(payload)

    # -- the Engine Protocol ---------------------------------------------------------------------

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        """Apply remote records, last writer wins (see the class docstring); idempotent.

        One query reads the rows the records meet and one ``executemany`` writes the page;
        a record met twice is decided against what the first one wrote, as one by one.
        """
        with self._records.store.transaction():
            prepared = [_prepare(record) for record in records]
            rows = self._records.rows(p[0].id for p in prepared if p is not None)
            writes: list[Write] = []
            outcomes = [self._decide(p, rows, writes) for p in prepared]
            self._records.write_many(writes)
            return ApplyCounts.of(outcomes)

    def _decide(self, prepared: _Prepared | None, rows: dict[str, Row], writes: list[Write]) -> str:
        """The outcome of one record; its write (if any) goes to ``writes`` and ``rows``."""
        if prepared is None:
            return "failed"
        record, payload, edited = prepared
        row = rows.get(record.id)
        incoming = content(payload, record.deleted)
        if row is not None:
            if row.server_modified is not None and record.modified < row.server_modified:
                return "reconciled"  # older than what we hold: a replay, never a resurrection
            if row.content == incoming or (row.changed and _local_wins(row, incoming, edited)):
                # Same content (only the server time moves), or our pending edit stays outgoing.
                same = row.content == incoming
                write = Write(
                    record.id,
                    payload=row.payload,
                    deleted=row.deleted,
                    server_modified=record.modified,
                    local_modified=row.local_modified,
                    changed=row.changed and not same,
                    bump=False,
                    base=incoming if same else row.base,
                )
                writes.append(write)
                rows[record.id] = _written(write, row)
                return "reconciled"
        write = Write(
            record.id,
            payload=payload,
            deleted=record.deleted,
            server_modified=record.modified,
            local_modified=edited,
            changed=False,
            bump=True,  # a remote write supersedes any edit outgoing() already returned
            base=incoming,
        )
        writes.append(write)
        rows[record.id] = _written(write, row)
        return "applied"

    def outgoing(self) -> list[OutgoingRecord]:
        """Every changed record (tombstones for deletions), in id order."""
        return self._outgoing(self._records.changed_rows())

    def outgoing_pages(self, size: int) -> Iterator[list[OutgoingRecord]]:
        """The changed records a page of at most ``size`` at a time, in id order.

        For uploads that hold one page in memory, whatever the number of changes: mark each
        page's uploaded ids (:meth:`mark_uploaded`) before taking the next; a page replaces
        what the previous one left pending. Ids that fail stay outgoing for the next run.
        """
        if type(self).outgoing is not RecordEngine.outgoing:  # a subclass chose its records
            yield self.outgoing()
            return
        after = ""
        while rows := self._records.changed_page(after, size):
            after = rows[-1][0]
            yield self._outgoing(rows)

    def _outgoing(self, rows: Iterable[tuple[str, Row]]) -> list[OutgoingRecord]:
        out: list[OutgoingRecord] = []
        pending: dict[str, int] = {}
        for record_id, row in rows:
            cleartext: dict[str, Any]
            if row.deleted or row.payload is None:
                cleartext = {"id": record_id, "deleted": True}
            else:
                cleartext = json.loads(row.payload)
            cleartext[EDITED] = row.local_modified
            pending[record_id] = row.change_counter
            out.append(OutgoingRecord(record_id, cleartext, ttl=self._ttl))
        self._pending = pending
        return out

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        """The server stored these ids: they are no longer outgoing (unless edited since)."""
        self._records.mark_uploaded(ids, server_modified, self._pending)

    def reset(self) -> None:
        """Forget what the server holds: every local record and tombstone becomes outgoing."""
        self._records.mark_outgoing()
        self._pending = {}

    def wipe_local(self) -> None:
        """Delete every local record of this collection, without uploading anything."""
        self._records.delete_all()
        self._pending = {}
