"""Engines: what a collection's records mean locally. The :class:`Engine` Protocol and two
engines on the local store: :class:`RecordEngine` (any collection) and :class:`ClientsEngine`.

The collection chart (association check → download → apply → upload, anchor §3.4) drives an
engine through this Protocol, shaped like application-services' ``SyncEngine``:

1. ``reset()`` when the collection's syncID (or the global syncID, or its key) changed, or on
   node reassignment: "I don't know what's on the server; treat the next sync as a first
   sync". Every local record becomes outgoing again. The store forgets the last fetch.
2. ``apply_incoming(records)`` once per downloaded page, with decrypted cleartexts in server
   order. It must be idempotent: after a crash the same records arrive again (the last-fetch
   time only moves once the whole download is applied).
3. ``outgoing()`` the local changes to upload, as cleartexts (the chart encrypts them).
4. ``mark_uploaded(ids, server_modified)`` after the server accepted those ids; ids that failed
   stay outgoing for the next run.

Engines never do network I/O, never see keys and never raise on a bad record: a record they
cannot use is counted as failed.

To plug in your own engine, implement these members (a ``typing.Protocol``, no base class)::

    class MyEngine:
        name = "bookmarks"; version = 2
        def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts: ...
        def outgoing(self) -> list[OutgoingRecord]: ...
        def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None: ...
        def reset(self) -> None: ...

An engine that keeps its records in beacon's store also implements :class:`StoreBound`;
``SyncClient`` calls ``attach(store)`` before the first run.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from beacon._errors import ProtocolViolation, UsageError
from beacon._models import ClientRecord, parse_model
from beacon.client._store import Store

__all__ = [
    "CLIENTS_TTL",
    "ApplyCounts",
    "ClientsEngine",
    "Engine",
    "IncomingRecord",
    "OutgoingRecord",
    "RecordEngine",
    "StoreBound",
]

#: Client records expire after 180 days (a-s CLIENTS_TTL, protocol §4.6).
CLIENTS_TTL = 15_552_000

_COLLECTION = re.compile(r"^[a-zA-Z0-9._-]{1,32}$")
_RECORD_ID = re.compile(r"^[ -~]{1,64}$")
# Collections the session machinery owns (protocol §3.1, §4.3-§4.6).
_RESERVED = frozenset({"meta", "crypto", "clients"})


@dataclass(frozen=True)
class IncomingRecord:
    """A downloaded, decrypted record.

    Attributes:
        id: the BSO id (the cleartext's ``id`` was checked against it).
        cleartext: the decrypted JSON object; a tombstone has ``"deleted": true``.
        modified: the server's ``modified`` time (seconds).
    """

    id: str
    cleartext: Mapping[str, Any] = field(repr=False)
    modified: float

    @property
    def deleted(self) -> bool:
        """True for a tombstone (protocol §4.2)."""
        return self.cleartext.get("deleted") is True


@dataclass(frozen=True)
class OutgoingRecord:
    """A local change to upload: a cleartext (a tombstone for deletions) and BSO options."""

    id: str
    cleartext: Mapping[str, Any] = field(repr=False)
    sortindex: int | None = None
    ttl: int | None = None


@dataclass(frozen=True)
class ApplyCounts:
    """What ``apply_incoming`` did: ``applied`` (remote version taken, including deletions),
    ``reconciled`` (local version kept or already equal), ``failed`` (unusable records)."""

    applied: int = 0
    reconciled: int = 0
    failed: int = 0

    def __add__(self, other: ApplyCounts) -> ApplyCounts:
        return ApplyCounts(
            self.applied + other.applied,
            self.reconciled + other.reconciled,
            self.failed + other.failed,
        )


@runtime_checkable
class Engine(Protocol):
    """The interface the collection chart drives (see the module docstring)."""

    @property
    def name(self) -> str:
        """The collection name, also the engine's key in meta/global ``engines``."""
        ...

    @property
    def version(self) -> int:
        """The engine version written into meta/global (protocol §4.7)."""
        ...

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        """Apply one page of remote records; idempotent."""
        ...

    def outgoing(self) -> list[OutgoingRecord]:
        """The local changes not yet uploaded."""
        ...

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        """The server stored these ids at ``server_modified``."""
        ...

    def reset(self) -> None:
        """Forget what the server has; every local record becomes outgoing."""
        ...


@runtime_checkable
class StoreBound(Protocol):
    """An engine that keeps its records in beacon's account store."""

    def attach(self, store: Store) -> None:
        """Use ``store`` from now on (called by ``SyncClient`` before a run)."""
        ...


class _Row:
    """One row of the store's ``records`` table for a collection."""

    __slots__ = (
        "change_counter",
        "changed",
        "deleted",
        "local_modified",
        "payload",
        "server_modified",
    )

    def __init__(self, row: Sequence[Any]) -> None:
        self.payload: str | None = row[0]
        self.deleted = bool(row[1])
        self.server_modified: float | None = row[2]
        self.local_modified: float = row[3]
        self.changed = bool(row[4])
        self.change_counter: int = row[5]


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _check_record_id(record_id: str) -> str:
    # Printable ASCII, 1-64 chars, and no ',' (a-s; ``ids=`` is comma-separated, §3.2).
    if not isinstance(record_id, str) or not _RECORD_ID.match(record_id) or "," in record_id:
        raise UsageError("a record id is 1-64 printable ASCII characters without ','")
    return record_id


class _Records:
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

    def _sql(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.store.transaction():
            try:
                return self.store.connection.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise UsageError(f"the records table failed: {type(exc).__name__}") from None

    def row(self, record_id: str) -> _Row | None:
        rows = self._sql(
            "SELECT payload, deleted, server_modified, local_modified, changed, change_counter"
            " FROM records WHERE collection = ? AND id = ?",
            (self.collection, record_id),
        )
        return _Row(rows[0]) if rows else None

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
    ) -> None:
        """Upsert a row; ``bump`` increments the change counter (a local edit)."""
        self._sql(
            "INSERT INTO records (collection, id, payload, deleted, server_modified,"
            " local_modified, changed, change_counter) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (collection, id) DO UPDATE SET payload = excluded.payload,"
            " deleted = excluded.deleted, server_modified = excluded.server_modified,"
            " local_modified = excluded.local_modified, changed = excluded.changed,"
            " change_counter = change_counter + excluded.change_counter",
            (
                self.collection,
                record_id,
                payload,
                int(deleted),
                server_modified,
                local_modified,
                int(changed),
                int(bump),
            ),
        )

    def changed_rows(self) -> list[tuple[str, _Row]]:
        rows = self._sql(
            "SELECT id, payload, deleted, server_modified, local_modified, changed, change_counter"
            " FROM records WHERE collection = ? AND changed = 1 ORDER BY id",
            (self.collection,),
        )
        return [(r[0], _Row(r[1:])) for r in rows]

    def live(self) -> list[tuple[str, str]]:
        return self._sql(
            "SELECT id, payload FROM records WHERE collection = ? AND deleted = 0 ORDER BY id",
            (self.collection,),
        )

    def mark_uploaded(
        self, ids: Iterable[str], server_modified: float, pending: Mapping[str, int]
    ) -> None:
        with self.store.transaction():
            for record_id in ids:
                counter = pending.get(record_id)
                if counter is None:
                    continue
                # Only an edit unchanged since outgoing() returned it counts as uploaded.
                self._sql(
                    "UPDATE records SET changed = 0, server_modified = ?"
                    " WHERE collection = ? AND id = ? AND change_counter = ?",
                    (server_modified, self.collection, record_id, counter),
                )

    def delete_all(self, *, where: str = "", params: Sequence[Any] = ()) -> None:
        self._sql(f"DELETE FROM records WHERE collection = ? {where}", (self.collection, *params))


class RecordEngine:
    """A generic engine over the store's ``records`` table: JSON objects by id.

    Local edits (:meth:`put`, :meth:`delete`) are tracked and uploaded; remote records are
    applied with **last writer wins** on modification time (a local edit's clock time against
    the server's ``modified``; a tie goes to the remote copy), so devices converge. A deletion
    is a tombstone that is uploaded and kept, and a remote copy older than what we already
    hold is ignored, so a replayed download cannot resurrect a deleted record. Edits made
    while a sync runs stay outgoing: :meth:`mark_uploaded` clears only an edit unchanged since
    :meth:`outgoing` returned it.

    Args:
        name: the collection name (``^[a-zA-Z0-9._-]{1,32}$``, protocol §3.1).
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
        if not isinstance(name, str) or not _COLLECTION.match(name):
            raise UsageError(f"not a valid collection name: {name!r}")
        if name in _RESERVED:
            raise UsageError(f"{name!r} is a reserved collection")
        self.name = name
        self.version = version
        self._records = _Records(name)
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
        _check_record_id(id)
        if not isinstance(record, Mapping):
            raise UsageError("a record is a JSON object (a mapping)")
        value = {**record, "id": id}
        if value.get("deleted") is True:
            raise UsageError("use delete() to delete a record")
        try:
            payload = _dumps(value)
        except (TypeError, ValueError):
            raise UsageError("a record must be JSON-serialisable") from None
        row = self._records.row(id)
        self._records.write(
            id,
            payload=payload,
            deleted=False,
            server_modified=row.server_modified if row else None,
            local_modified=self._clock(),
            changed=True,
            bump=True,
        )

    def delete(self, id: str) -> None:
        """Delete a record: a tombstone ``{"id": id, "deleted": true}`` is uploaded."""
        _check_record_id(id)
        row = self._records.row(id)
        if row is not None and row.deleted and not row.changed:
            return  # already deleted everywhere
        self._records.write(
            id,
            payload=None,
            deleted=True,
            server_modified=row.server_modified if row else None,
            local_modified=self._clock(),
            changed=True,
            bump=True,
        )

    def get(self, id: str) -> dict[str, Any] | None:
        """A live record, or None (absent or deleted)."""
        row = self._records.row(_check_record_id(id))
        if row is None or row.deleted or row.payload is None:
            return None
        value: dict[str, Any] = json.loads(row.payload)
        return value

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """All live records, by id."""
        for record_id, payload in self._records.live():
            yield record_id, json.loads(payload)

    # -- the Engine Protocol ---------------------------------------------------------------------

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        """Apply remote records, last writer wins (see the class docstring); idempotent."""
        applied = reconciled = failed = 0
        with self._records.store.transaction():
            for record in records:
                outcome = self._apply_one(record)
                applied += outcome == "applied"
                reconciled += outcome == "reconciled"
                failed += outcome == "failed"
        return ApplyCounts(applied, reconciled, failed)

    def _apply_one(self, record: IncomingRecord) -> str:
        try:
            _check_record_id(record.id)
            if record.cleartext.get("id", record.id) != record.id:
                return "failed"
            payload = None if record.deleted else _dumps({**record.cleartext, "id": record.id})
        except (UsageError, TypeError, ValueError, AttributeError):
            return "failed"
        row = self._records.row(record.id)
        if row is not None:
            if row.server_modified is not None and record.modified < row.server_modified:
                return "reconciled"  # older than what we hold: a replay, never a resurrection
            same = row.deleted == record.deleted and (record.deleted or row.payload == payload)
            if row.changed and not same and row.local_modified > record.modified:
                # Our pending edit is newer: keep it, it will overwrite the server's copy.
                return "reconciled"
            if same:
                self._records.write(
                    record.id,
                    payload=row.payload,
                    deleted=row.deleted,
                    server_modified=record.modified,
                    local_modified=row.local_modified,
                    changed=False,
                    bump=False,
                )
                return "reconciled"
        self._records.write(
            record.id,
            payload=payload,
            deleted=record.deleted,
            server_modified=record.modified,
            local_modified=record.modified,
            changed=False,
            bump=True,  # a remote write supersedes any edit outgoing() already returned
        )
        return "applied"

    def outgoing(self) -> list[OutgoingRecord]:
        """Every changed record (tombstones for deletions), in id order."""
        out: list[OutgoingRecord] = []
        pending: dict[str, int] = {}
        for record_id, row in self._records.changed_rows():
            cleartext: dict[str, Any]
            if row.deleted or row.payload is None:
                cleartext = {"id": record_id, "deleted": True}
            else:
                cleartext = json.loads(row.payload)
            pending[record_id] = row.change_counter
            out.append(OutgoingRecord(record_id, cleartext, ttl=self._ttl))
        self._pending = pending
        return out

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        """The server stored these ids: they are no longer outgoing (unless edited since)."""
        self._records.mark_uploaded(ids, server_modified, self._pending)

    def reset(self) -> None:
        """Forget what the server holds: every local record and tombstone becomes outgoing."""
        self._records._sql(
            "UPDATE records SET changed = 1, server_modified = NULL,"
            " change_counter = change_counter + 1 WHERE collection = ?",
            (self.name,),
        )
        self._pending = {}

    def wipe_local(self) -> None:
        """Delete every local record of this collection, without uploading anything."""
        self._records.delete_all()
        self._pending = {}


class ClientsEngine:
    """The ``clients`` collection (protocol §4.6): our own record and the other devices.

    Our record (id = the store's stable client ID, ``name``, ``type``, ``protocols: ["1.5"]``,
    ``commands: []``) is outgoing when it was never uploaded, when the server's copy differs
    from it (e.g. another client queued a command, or our name changed), after a reset (node
    reassignment, new syncID: the server may not have it), and when the last upload is older
    than half of its 180-day TTL. Other clients' records are kept in the store and listed by
    :meth:`clients`. Incoming commands are not executed.

    Args:
        client_name: our device name (persisted in the store).
        client_type: ``desktop``, ``mobile``, ``tablet``, ``vr`` or ``tv``.
        store: the account store, or None to be attached later.
        clock: POSIX seconds (for the re-upload before expiry).
    """

    name = "clients"
    version = 1

    def __init__(
        self,
        client_name: str = "beacon",
        *,
        client_type: str = "desktop",
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(client_name, str) or not client_name:
            raise UsageError("a client name must be a non-empty string")
        if client_type not in ("desktop", "mobile", "tablet", "vr", "tv"):
            raise UsageError(f"not a client type: {client_type!r}")
        self._client_name = client_name
        self._type = client_type
        self._clock = clock
        self._records = _Records(self.name)
        self._pending: dict[str, int] = {}
        if store is not None:
            self.attach(store)

    def __repr__(self) -> str:
        return f"ClientsEngine({self._client_name!r}, type={self._type!r})"

    def attach(self, store: Store) -> None:
        """Keep state in ``store``; persists our client name there."""
        self._records.attach(store)
        if store.client_name() != self._client_name:
            store.set_client_name(self._client_name)

    @property
    def client_id(self) -> str:
        """Our stable client ID (generated once by the store)."""
        return self._records.store.client_id()

    def own_record(self) -> dict[str, Any]:
        """The cleartext of our client record."""
        return {
            "id": self.client_id,
            "name": self._client_name,
            "type": self._type,
            "commands": [],
            "protocols": ["1.5"],
            "application": "beacon",
        }

    def clients(self) -> list[dict[str, Any]]:
        """The other clients' records, sorted by name then id."""
        own = self.client_id
        found = [json.loads(p) for i, p in self._records.live() if i != own and p is not None]
        return sorted(found, key=lambda r: (str(r.get("name", "")), str(r.get("id", ""))))

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        """Store other clients' records; compare ours with what we would upload."""
        applied = reconciled = failed = 0
        own = self.own_record()
        with self._records.store.transaction():
            for record in records:
                if record.id == own["id"]:
                    self._own_seen(record, own)
                    reconciled += 1
                    continue
                if record.deleted:
                    self._records.delete_all(where="AND id = ?", params=(record.id,))
                    applied += 1
                    continue
                try:
                    parse_model(ClientRecord, record.cleartext)
                    payload = _dumps({**record.cleartext, "id": record.id})
                except (ProtocolViolation, TypeError, ValueError):
                    failed += 1
                    continue
                self._records.write(
                    record.id,
                    payload=payload,
                    deleted=False,
                    server_modified=record.modified,
                    local_modified=record.modified,
                    changed=False,
                    bump=False,
                )
                applied += 1
        return ApplyCounts(applied, reconciled, failed)

    def _own_seen(self, record: IncomingRecord, own: Mapping[str, Any]) -> None:
        same = not record.deleted and _dumps(record.cleartext) == _dumps(own)
        self._records.write(
            record.id,
            payload=_dumps(own),
            deleted=False,
            server_modified=record.modified,
            local_modified=record.modified if same else self._clock(),
            changed=not same,
            bump=not same,
        )

    def outgoing(self) -> list[OutgoingRecord]:
        """Our record, when it needs uploading (see the class docstring); else nothing."""
        own = self.own_record()
        row = self._records.row(own["id"])
        stale = (
            row is None
            or row.changed
            or row.deleted
            or row.payload != _dumps(own)
            or row.server_modified is None
            or self._clock() - row.server_modified > CLIENTS_TTL / 2
        )
        if not stale:
            self._pending = {}
            return []
        if row is None or row.payload != _dumps(own):
            self._records.write(
                own["id"],
                payload=_dumps(own),
                deleted=False,
                server_modified=row.server_modified if row else None,
                local_modified=self._clock(),
                changed=True,
                bump=True,
            )
            row = self._records.row(own["id"])
        self._pending = {own["id"]: row.change_counter if row else 0}
        return [OutgoingRecord(own["id"], own, ttl=CLIENTS_TTL)]

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        """Our record was stored at ``server_modified``."""
        self._records.mark_uploaded(ids, server_modified, self._pending)

    def reset(self) -> None:
        """The server state is unknown: forget the other clients and re-upload ours."""
        own = self.client_id
        self._records.delete_all(where="AND id != ?", params=(own,))
        self._records._sql(
            "UPDATE records SET changed = 1, server_modified = NULL,"
            " change_counter = change_counter + 1 WHERE collection = ? AND id = ?",
            (self.name, own),
        )
        self._pending = {}
