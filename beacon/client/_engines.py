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

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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


class RecordEngine:
    """A generic engine over the store's ``records`` table: JSON objects by id.

    Local edits (:meth:`put`, :meth:`delete`) are tracked and uploaded; remote records are
    applied with **last writer wins** on modification time (a local edit's clock time against
    the server's ``modified``), ties going to the remote copy, so devices converge. A deletion
    is a tombstone that is uploaded and kept, so an older remote copy cannot resurrect it.
    Edits made while a sync is running stay outgoing: :meth:`mark_uploaded` only clears an
    edit that is unchanged since :meth:`outgoing` returned it.

    Args:
        name: the collection name (``^[a-zA-Z0-9._-]{1,32}$``, protocol §3.1).
        version: the engine version for meta/global.
        store: the account store, or None to be attached later by ``SyncClient``.
        clock: POSIX seconds for local edit times.
        ttl: a TTL for uploaded records, or None.
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
        raise NotImplementedError

    name: str
    version: int

    def attach(self, store: Store) -> None:
        raise NotImplementedError

    # -- the local API -------------------------------------------------------------------------

    def put(self, id: str, record: Mapping[str, Any]) -> None:
        """Create or replace a record (a JSON object; its ``id`` is set to ``id``)."""
        raise NotImplementedError

    def delete(self, id: str) -> None:
        """Delete a record: a tombstone ``{"id": id, "deleted": true}`` is uploaded."""
        raise NotImplementedError

    def get(self, id: str) -> dict[str, Any] | None:
        """A live record, or None (absent or deleted)."""
        raise NotImplementedError

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """All live records, by id."""
        raise NotImplementedError

    # -- the Engine Protocol ---------------------------------------------------------------------

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        raise NotImplementedError

    def outgoing(self) -> list[OutgoingRecord]:
        raise NotImplementedError

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def wipe_local(self) -> None:
        """Delete every local record of this collection, without uploading anything."""
        raise NotImplementedError


class ClientsEngine:
    """The ``clients`` collection (protocol §4.6): our own record and the other devices.

    Our record (id = the store's stable client ID, ``name``, ``type``, ``protocols: ["1.5"]``,
    ``commands: []``) is outgoing when it is missing on the server or differs from what we
    last uploaded; other clients' records are kept in the store and listed by
    :meth:`clients`. Incoming commands are not executed.

    Args:
        client_name: our device name.
        client_type: ``desktop``, ``mobile``, ``tablet``, ``vr`` or ``tv``.
        store: the account store, or None to be attached later.
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
        raise NotImplementedError

    def attach(self, store: Store) -> None:
        raise NotImplementedError

    @property
    def client_id(self) -> str:
        raise NotImplementedError

    def own_record(self) -> dict[str, Any]:
        """The cleartext of our client record."""
        raise NotImplementedError

    def clients(self) -> list[dict[str, Any]]:
        """The other clients' records, by name."""
        raise NotImplementedError

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        raise NotImplementedError

    def outgoing(self) -> list[OutgoingRecord]:
        raise NotImplementedError

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError
