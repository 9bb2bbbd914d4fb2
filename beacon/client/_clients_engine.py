"""The ``clients`` engine (docs/protocol.md §4.6): our client record and the other devices."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from beacon._errors import ProtocolViolation, UsageError
from beacon._models import ClientRecord, parse_model
from beacon.client._engine_api import CLIENTS_TTL, ApplyCounts, IncomingRecord, OutgoingRecord
from beacon.client._records import Records, dumps
from beacon.client._store import Store

__all__ = ["ClientsEngine"]


class ClientsEngine:
    """The ``clients`` collection (docs/protocol.md §4.6): our own record and the other devices.

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
        self._records = Records(self.name)
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
                    payload = dumps({**record.cleartext, "id": record.id})
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
        same = not record.deleted and dumps(record.cleartext) == dumps(own)
        self._records.write(
            record.id,
            payload=dumps(own),
            deleted=False,
            server_modified=record.modified,
            local_modified=record.modified if same else self._clock(),
            changed=not same,
            bump=not same,
        )

    def outgoing(self) -> list[OutgoingRecord]:
        """Our record, when it needs uploading (see the class docstring); else nothing."""
        with self._records.store.transaction():
            return self._outgoing()

    def _outgoing(self) -> list[OutgoingRecord]:
        own = self.own_record()
        row = self._records.row(own["id"])
        stale = (
            row is None
            or row.changed
            or row.deleted
            or row.payload != dumps(own)
            or row.server_modified is None
            or self._clock() - row.server_modified > CLIENTS_TTL / 2
        )
        if not stale:
            self._pending = {}
            return []
        if row is None or row.payload != dumps(own):
            self._records.write(
                own["id"],
                payload=dumps(own),
                deleted=False,
                server_modified=row.server_modified if row else None,
                local_modified=self._clock(),
                changed=True,
                bump=True,
            )
            row = self._records.row(own["id"])
        self._pending = {own["id"]: row.change_counter if row else 0}
        return [OutgoingRecord(own["id"], own, ttl=CLIENTS_TTL)]

    def server_holds(self, ids: frozenset[str]) -> None:
        """Every id the clients collection holds now (it is read whole when it changed, and
        is empty when the server no longer lists it): our record comes back when it is gone,
        whether the collection was deleted or only our record."""
        own = self.client_id
        if own in ids:
            return
        self._records.mark_outgoing(own)

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        """Our record was stored at ``server_modified``."""
        self._records.mark_uploaded(ids, server_modified, self._pending)

    def reset(self) -> None:
        """The server state is unknown: forget the other clients and re-upload ours."""
        own = self.client_id
        self._records.delete_all(where="AND id != ?", params=(own,))
        self._records.mark_outgoing(own)
        self._pending = {}
