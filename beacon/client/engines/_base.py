"""The shared base of the typed engines: typed records on the store's ``records`` table.

:class:`TypedEngine` keeps each record as the JSON text of its validated model (unknown fields
included, see :mod:`._wire`) in the same table and with the same columns as
:class:`~beacon.RecordEngine`, through :class:`~beacon.client._records.Records`' public
methods: payload, server time, edit time, the outgoing flag and change counter, and the
*base* (the content last agreed with the server). It owns the parts every collection shares:

* the incoming loop: envelope id check, tombstone detection (any truthy ``deleted``, as a-s),
  validation with repairs, per-record :class:`RecordProblem` reports (a refused record is
  counted as failed and left alone: never a crash, never a local record lost), replay
  protection (a copy older by server time than what we hold is ignored);
* the edit time of every record (``_edited`` inside the payload, as RecordEngine writes it; the
  server's ``modified`` for records from clients that do not write it);
* outgoing records, with the engine's sortindex, TTL and upload preparation (limits);
* the local API (:meth:`get`, :meth:`records`, :meth:`put`, :meth:`update`, :meth:`delete`)
  that overlays edits on the stored record, so unknown fields survive local edits too.

An engine supplies the model and a :meth:`TypedEngine.merge` of its own; the default is
RecordEngine's rule (three-way against the base, then the later edit wins).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from beacon._errors import UsageError
from beacon.client._engine_api import ApplyCounts, IncomingRecord, OutgoingRecord
from beacon.client._record_engine import EDITED
from beacon.client._records import TOMBSTONE, Records, Row, check_record_id, dumps
from beacon.client._store import Store, new_guid
from beacon.client.engines._wire import Refused, Wire, decode_model, local_model

__all__ = [
    "Incoming",
    "Local",
    "RecordProblem",
    "Resolution",
    "TypedEngine",
    "is_tombstone",
]

M = TypeVar("M", bound=Wire)

#: At most this many problems are kept (the oldest are dropped first).
MAX_PROBLEMS = 1000


@dataclass(frozen=True)
class RecordProblem:
    """A remote record beacon refused or repaired.

    Attributes:
        id: the record id.
        kind: ``"refused"`` (not applied, counted failed) or ``"repaired"`` (applied and
            re-uploaded corrected).
        detail: what was wrong, by field name; never a field's value.
    """

    id: str
    kind: str
    detail: str


@dataclass
class Local(Generic[M]):
    """Our copy of a record, as a merge sees it."""

    id: str
    value: M | None  # None: deleted here (a tombstone)
    changed: bool  # an edit not yet uploaded
    edited: float  # when our copy was last edited (POSIX seconds)
    base: M | None  # the live content last agreed with the server, if any
    base_content: str | None  # that content as text (TOMBSTONE for an agreed deletion)


@dataclass
class Incoming(Generic[M]):
    """A validated remote record, as a merge sees it."""

    id: str
    value: M | None  # None: a tombstone
    edited: float
    modified: float
    content: str  # what the server holds, as text (TOMBSTONE for a tombstone)
    fixes: list[str] = field(default_factory=list)


@dataclass
class Resolution(Generic[M]):
    """A merge's decision for one id: what we keep and whether it goes up.

    ``forks`` are further local records to create and upload (a conflict kept as a copy);
    ``absorbed`` are local ids whose record was merged into this one (a dupe under another
    id, never synced) and is forgotten without a tombstone.
    """

    value: M | None
    upload: bool
    edited: float
    forks: list[M] = field(default_factory=list)
    absorbed: list[str] = field(default_factory=list)


def is_tombstone(cleartext: Mapping[str, Any]) -> bool:
    """A tombstone: a ``deleted`` key with a truthy value (a-s reads any ``deleted`` key)."""
    return "deleted" in cleartext and bool(cleartext["deleted"])


def _edit_time(cleartext: Mapping[str, Any], modified: float) -> float:
    edited = cleartext.get(EDITED)
    if isinstance(edited, int | float) and not isinstance(edited, bool) and edited > 0:
        return float(edited)
    return modified


class TypedEngine(Generic[M]):
    """An engine whose records are typed models that keep their unknown fields.

    Subclasses set ``name``, ``version``, ``model`` (and ``ttl``) and may override
    :meth:`merge`, :meth:`find_dupe`, :meth:`skip`, :meth:`prepare_outgoing`,
    :meth:`sortindex` and :meth:`on_local_edit`.

    Args:
        store: the account store, or None to be attached later by ``SyncClient``.
        clock: POSIX seconds (edit times, "now" for clamping).
        rng: randomness for new record ids.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    model: type[M]
    ttl: ClassVar[int | None] = None

    def __init__(
        self,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._records = Records(self.name)
        self._clock = clock
        self._rng = rng
        self._pending: dict[str, int] = {}
        #: Records refused or repaired by the incoming side, oldest first (see RecordProblem).
        self.problems: list[RecordProblem] = []
        if store is not None:
            self.attach(store)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def attach(self, store: Store) -> None:
        """Keep records in ``store`` (called by ``SyncClient`` when not given at construction)."""
        self._records.attach(store)

    @property
    def store(self) -> Store:
        return self._records.store

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def new_id(self) -> str:
        """A fresh record id: 12 URL-safe base64 characters (a Places-style GUID)."""
        return new_guid(self._rng)

    # -- reading and decoding ------------------------------------------------------------------

    def load(self, payload: str) -> M | None:
        """A stored payload as the model (stored payloads were validated when written)."""
        try:
            value, _ = decode_model(self.model, json.loads(payload), now_ms=self.now_ms())
        except (Refused, ValueError):
            return None
        return value

    def decode(self, cleartext: Mapping[str, Any]) -> tuple[M, list[str]]:
        """Validate a remote cleartext; the model and its repairs. Raises :class:`Refused`."""
        return decode_model(self.model, cleartext, now_ms=self.now_ms())

    def _local(self, record_id: str, row: Row) -> Local[M]:
        value = None if row.deleted or row.payload is None else self.load(row.payload)
        base = None if row.base in (None, TOMBSTONE) else self.load(row.base)
        return Local(record_id, value, row.changed, row.local_modified, base, row.base)

    def get(self, record_id: str) -> M | None:
        """A live record, or None (absent or deleted)."""
        row = self._records.row(check_record_id(record_id))
        if row is None or row.deleted or row.payload is None:
            return None
        return self.load(row.payload)

    def records(self) -> list[M]:
        """Every live record, in id order."""
        out = []
        for _, payload in self._records.live():
            if payload is None:
                continue
            value = self.load(payload)
            if value is not None:
                out.append(value)
        return out

    # -- local edits ---------------------------------------------------------------------------

    def put(self, record: M | Mapping[str, Any]) -> M:
        """Create or replace a record; a mapping is overlaid on the stored record's unknown
        fields, so they survive. A missing ``id`` gets a new one. Returns the stored model.

        Raises:
            UsageError: the record is not valid for this collection.
        """
        data = record.to_wire() if isinstance(record, Wire) else dict(record)
        if "id" not in data:
            data["id"] = self.new_id()
        record_id = check_record_id(data["id"])
        if EDITED in data or "deleted" in data:
            raise UsageError(f"{EDITED!r} and 'deleted' are reserved; use delete() to delete")
        with self.store.transaction():
            old = self.get(record_id)
            if old is not None and not isinstance(record, Wire):
                data = {**old.unknown, **data}
            value = local_model(self.model, data, now_ms=self.now_ms())
            value = self.on_local_edit(old, value)
            self._write_local(record_id, value)
        return value

    def update(self, record_id: str, **changes: Any) -> M:
        """Change some fields of a live record (wire names; ``None`` removes an optional one)."""
        old = self.get(record_id)
        if old is None:
            raise UsageError(f"no {self.name} record {record_id!r}")
        data = old.to_wire()
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return self.put(data)

    def delete(self, record_id: str) -> bool:
        """Delete a live record (a tombstone is uploaded); False when there was none."""
        with self.store.transaction():
            row = self._records.row(check_record_id(record_id))
            if row is None or row.deleted:
                return False
            self._write_local(record_id, None)
        return True

    def on_local_edit(self, old: M | None, new: M) -> M:
        """Adjust a local edit (e.g. set a modification time); the default keeps it."""
        return new

    def _write_local(self, record_id: str, value: M | None) -> None:
        row = self._records.row(record_id)
        self._records.write(
            record_id,
            payload=dumps(value.to_wire()) if value is not None else None,
            deleted=value is None,
            server_modified=row.server_modified if row else None,
            local_modified=self._clock(),
            changed=True,
            bump=True,
            base=row.base if row else None,
        )

    # -- incoming ------------------------------------------------------------------------------

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        """Validate and merge remote records (see the module docstring); idempotent."""
        with self.store.transaction():
            return ApplyCounts.of([self._apply_one(record) for record in records])

    def problem_report(self) -> dict[str, Any]:
        """The records refused or repaired so far, as JSON (ids and field names only)."""
        return {"records": [vars(p) for p in self.problems]}

    def report(self, record_id: str, kind: str, detail: str) -> None:
        self.problems.append(RecordProblem(record_id, kind, detail))
        del self.problems[:-MAX_PROBLEMS]

    def _refuse(self, record_id: str, reason: str) -> str:
        self.report(record_id, "refused", reason)
        return "failed"

    def _apply_one(self, record: IncomingRecord) -> str:
        rid = record.id
        try:
            check_record_id(rid)
        except UsageError:
            return self._refuse(str(rid)[:64], "record id is not a valid Sync id")
        clear: Mapping[str, Any] = record.cleartext
        if clear.get("id", rid) != rid:
            return self._refuse(rid, "cleartext id differs from the record id")
        if self.skip(rid, clear):
            return "reconciled"
        fields = {k: v for k, v in clear.items() if k != EDITED}
        fields["id"] = rid
        edited = _edit_time(clear, record.modified)
        value: M | None = None
        fixes: list[str] = []
        if is_tombstone(fields):
            server_content = TOMBSTONE
        else:
            try:
                value, fixes = self.decode(fields)
                server_content = dumps(fields)
            except (Refused, TypeError, ValueError) as exc:
                return self._refuse(rid, exc.reason if isinstance(exc, Refused) else "not JSON")
        if fixes:
            self.report(rid, "repaired", ", ".join(sorted(set(fixes))))
        row = self._records.row(rid)
        held = row.server_modified if row is not None else None
        if held is not None and record.modified < held:
            return "reconciled"  # older than what we hold: a replay, never a resurrection
        incoming = Incoming(rid, value, edited, record.modified, server_content, fixes)
        if row is not None and row.content == server_content and not fixes:
            self._records.write(  # the same content: only the server time moves
                rid,
                payload=row.payload,
                deleted=row.deleted,
                server_modified=record.modified,
                local_modified=row.local_modified,
                changed=False,
                bump=False,
                base=server_content,
            )
            return "reconciled"
        local = self._local(rid, row) if row is not None else None
        if local is None and value is not None:
            dupe = self.find_dupe(value)
            if dupe is not None and dupe != rid:
                dupe_row = self._records.row(dupe)
                if dupe_row is not None and dupe_row.base is None:  # never synced
                    local = self._local(dupe, dupe_row)
        try:
            res = self.merge(local, incoming)
        except (Refused, TypeError, ValueError):  # no valid merge: both copies stay as they are
            return self._refuse(rid, "the merge of this record failed; nothing was changed")
        if local is not None and local.id != rid:
            res.absorbed.append(local.id)  # a dupe: its record lives on under the remote id
        if res.value is not None and getattr(res.value, "id", rid) != rid:
            res.value = res.value.model_copy(update={"id": rid})
        for gone in res.absorbed:
            self._records.delete_all(where="AND id = ?", params=(gone,))
        new_payload = dumps(res.value.to_wire()) if res.value is not None else None
        self._records.write(
            rid,
            payload=new_payload,
            deleted=res.value is None,
            server_modified=record.modified,
            local_modified=res.edited,
            changed=res.upload,
            bump=True,  # a remote write supersedes any edit outgoing() already returned
            base=server_content,
        )
        for fork in res.forks:
            self._write_local(check_record_id(self._fork_id(fork)), fork)
        before = row.content if row is not None else None
        after = TOMBSTONE if new_payload is None else new_payload
        return "applied" if before != after or res.forks else "reconciled"

    def _fork_id(self, fork: M) -> str:
        fork_id = getattr(fork, "id", None)
        if not isinstance(fork_id, str):  # pragma: no cover - every model has an id
            raise TypeError("a forked record needs an id")
        return fork_id

    # -- hooks ---------------------------------------------------------------------------------

    def skip(self, record_id: str, cleartext: Mapping[str, Any]) -> bool:
        """Records this engine ignores without counting them as failed (default: none)."""
        return False

    def find_dupe(self, value: M) -> str | None:
        """The id of a local never-synced record that is the same as a new remote one."""
        return None

    def merge(self, local: Local[M] | None, incoming: Incoming[M]) -> Resolution[M]:
        """RecordEngine's rule: no pending edit → take the remote copy; the server still holds
        our base → keep ours; else the later edit wins (a tie goes to the remote copy)."""
        if local is None or not local.changed:
            return self.take(incoming)
        if incoming.content == local.base_content or local.edited > incoming.edited:
            return self.keep(local)
        return self.take(incoming)

    def take(self, incoming: Incoming[M]) -> Resolution[M]:
        """Apply the remote copy; re-upload it when validation repaired it."""
        return Resolution(incoming.value, bool(incoming.fixes), incoming.edited)

    def keep(self, local: Local[M]) -> Resolution[M]:
        """Keep our copy; it goes up."""
        return Resolution(local.value, True, local.edited)

    def differs_on_wire(self, value: M | None, incoming: Incoming[M]) -> bool:
        """Whether uploading ``value`` would change what the server holds."""
        if value is None:
            return incoming.value is not None
        if incoming.value is None or incoming.fixes:
            return True
        return dumps(self.prepare_outgoing(value)) != dumps(self.prepare_outgoing(incoming.value))

    # -- outgoing ------------------------------------------------------------------------------

    def prepare_outgoing(self, value: M) -> dict[str, Any]:
        """The cleartext to upload for a live record (limits applied here)."""
        return value.to_wire()

    def sortindex(self, value: M | None) -> int | None:
        """The BSO sortindex for a record (None: a tombstone) or None for none."""
        return None

    def outgoing(self) -> list[OutgoingRecord]:
        """Every changed record (tombstones for deletions), in id order."""
        out: list[OutgoingRecord] = []
        pending: dict[str, int] = {}
        for record_id, row in self._records.changed_rows():
            value = None if row.deleted or row.payload is None else self.load(row.payload)
            cleartext: dict[str, Any]
            if value is None:
                cleartext = {"id": record_id, "deleted": True}
            else:
                cleartext = {**self.prepare_outgoing(value), "id": record_id}
            cleartext[EDITED] = row.local_modified
            pending[record_id] = row.change_counter
            out.append(
                OutgoingRecord(record_id, cleartext, sortindex=self.sortindex(value), ttl=self.ttl)
            )
        self._pending = pending
        return out

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        """The server stored these ids: no longer outgoing (unless edited since)."""
        self._records.mark_uploaded(ids, server_modified, self._pending)

    def reset(self) -> None:
        """Forget what the server holds: every local record and tombstone becomes outgoing."""
        self._records.mark_outgoing()
        self._pending = {}

    def wipe_local(self) -> None:
        """Delete every local record of this collection, without uploading anything."""
        self._records.delete_all()
        self._pending = {}
