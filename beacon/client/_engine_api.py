"""The Engine Protocol and the values it exchanges (see :mod:`beacon.client._engines`).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from beacon._protocol import CLIENTS_TTL, COLLECTION, RECORD_ID

if TYPE_CHECKING:
    from beacon.client._store import Store

__all__ = [
    "CLIENTS_TTL",
    "COLLECTION",
    "RECORD_ID",
    "RESERVED",
    "ApplyCounts",
    "Engine",
    "IncomingRecord",
    "OutgoingRecord",
    "StoreBound",
]

#: Client records expire after 180 days (a-s CLIENTS_TTL, docs/protocol.md §4.6).

#: A collection name (docs/protocol.md §3.1) and a record id (§3.2; "," is refused separately).
# Collections the session machinery owns (docs/protocol.md §3.1, §4.3-§4.6).
RESERVED = frozenset({"meta", "crypto", "clients"})


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
        """True for a tombstone (docs/protocol.md §4.2)."""
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

    @classmethod
    def of(cls, outcomes: Iterable[str]) -> ApplyCounts:
        """The counts of per-record outcomes (``"applied"``, ``"reconciled"``, ``"failed"``)."""
        seen = list(outcomes)
        return cls(seen.count("applied"), seen.count("reconciled"), seen.count("failed"))

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
        """The engine version written into meta/global (docs/protocol.md §4.7)."""
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
