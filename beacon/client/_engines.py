"""Engines: what a collection's records mean locally. The :class:`Engine` Protocol and two
engines on the local store: :class:`RecordEngine` (any collection) and :class:`ClientsEngine`.

The collection chart (association check → download → apply → upload, docs/anchors.md §3.4) drives an
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

from beacon.client._clients_engine import ClientsEngine
from beacon.client._engine_api import (
    CLIENTS_TTL,
    ApplyCounts,
    Engine,
    IncomingRecord,
    OutgoingRecord,
    StoreBound,
)
from beacon.client._record_engine import RecordEngine

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
