"""The ``clients`` engine (docs/protocol.md §4.6): our client record and the other devices."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from beacon._errors import ProtocolViolation, UsageError
from beacon.client._engine_api import (
    CLIENTS_TTL,
    ApplyCounts,
    Engine,
    IncomingRecord,
    OutgoingRecord,
)
from beacon.client._records import Records, dumps
from beacon.client._store import Store

__all__ = ["RECEIVED", "ClientsEngine"]

#: The store's rows of recorded commands (a name no Sync collection can have, as
#: ``bookmarks~mirror``): displayURI and logout, sealed like every record.
RECEIVED = "clients~received"
#: The commands :meth:`ClientsEngine.send_command` sends, with their arity (desktop's).
_ARITY = {
    "resetAll": 0,
    "resetEngine": 1,
    "wipeAll": 0,
    "wipeEngine": 1,
    "logout": 0,
    "displayURI": 3,
}
# The server time (ms) of our record whose commands last ran.
_COMMANDS_RUN_AT = "clients:commands_run_at"


@runtime_checkable
class _Wipeable(Protocol):
    """An engine that can delete its local data without uploading (``RecordEngine``, the
    typed engines)."""

    def wipe_local(self) -> None: ...


class ClientsEngine:
    """The ``clients`` collection (docs/protocol.md §4.6): our own record and the other devices.

    Our record (id = the store's stable client ID, ``name``, ``type``, ``protocols: ["1.5"]``,
    ``commands: []``) is outgoing when it was never uploaded, when the server's copy differs
    from it (e.g. another client queued a command, or our name changed), after a reset (node
    reassignment, new syncID: the server may not have it), and when the last upload is older
    than half of its 180-day TTL. Other clients' records are kept in the store and listed by
    :meth:`clients`. Fields of our record that beacon does not manage (another client's
    additions, ``fxaDeviceId`` from Firefox) are kept as the server has them.

    Commands other clients queue in our record (docs/protocol.md §4.6; Firefox desktop's
    ``clients.sys.mjs``, application-services ``clients_engine``) are run once, when our
    record arrives, then cleared from it on the next upload:

    * ``resetEngine [name]`` / ``resetAll``: the engine forgets its sync state (syncID, last
      fetch; ``reset()``: every local record outgoing), so it downloads everything again in
      this very run (the clients engine syncs first);
    * ``wipeEngine [name]`` / ``wipeAll``: its local data is deleted without uploading
      anything (``wipe_local()``), then it is reset, so the server's copy comes back;
    * ``displayURI [uri, sender, title]`` (legacy send tab) and ``logout`` are recorded
      (:meth:`received_commands`, :attr:`logout_requested`): what to open, or whether to
      disconnect, is the application's choice, not a sync run's;
    * ``repairRequest`` / ``repairResponse`` (bookmark repair, removed from Firefox) and
      malformed entries are dropped.

    A command for an engine this client does not run, or one it does not know, is kept in the
    record for a later version, as application-services keeps ``Unsupported`` commands. The
    server time of the record whose commands ran is remembered, so a run that crashed before
    its upload does not run them twice.

    Args:
        client_name: our device name (persisted in the store).
        client_type: ``desktop``, ``mobile``, ``tablet``, ``vr`` or ``tv``.
        store: the account store, or None to be attached later.
        clock: POSIX seconds (for the re-upload before expiry).
        fxa_device_id: our Firefox Accounts device id (``fxaDeviceId``), when we have one.
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
        fxa_device_id: str | None = None,
    ) -> None:
        if not isinstance(client_name, str) or not client_name:
            raise UsageError("a client name must be a non-empty string")
        if client_type not in ("desktop", "mobile", "tablet", "vr", "tv"):
            raise UsageError(f"not a client type: {client_type!r}")
        self._client_name = client_name
        self._type = client_type
        self._clock = clock
        self._fxa_device_id = fxa_device_id
        self._records = Records(self.name)
        self._received = Records(RECEIVED)
        self._engines: dict[str, Engine] = {}
        self._pending: dict[str, int] = {}
        if store is not None:
            self.attach(store)

    def __repr__(self) -> str:
        return f"ClientsEngine({self._client_name!r}, type={self._type!r})"

    def attach(self, store: Store) -> None:
        """Keep state in ``store``; persists our client name there."""
        self._records.attach(store)
        self._received.attach(store)
        if store.client_name() != self._client_name:
            store.set_client_name(self._client_name)

    @property
    def client_id(self) -> str:
        """Our stable client ID (generated once by the store)."""
        return self._records.store.client_id()

    def bind_engines(self, engines: Iterable[Engine]) -> None:
        """The engines the commands of other clients act on (``SyncClient`` passes its own)."""
        self._engines = {e.name: e for e in engines if e.name != self.name}

    def own_record(self) -> dict[str, Any]:
        """The cleartext of our client record: what we manage over what the server kept."""
        kept: dict[str, Any] = {}
        row = self._records.row(self.client_id)
        if row is not None and row.payload is not None:
            try:
                stored = json.loads(row.payload)
            except ValueError:
                stored = None
            if isinstance(stored, dict):
                kept = stored
        record = {**kept, **self._managed()}
        commands = [c for c in kept.get("commands") or () if isinstance(c, dict)]
        record["commands"] = commands
        return record

    def _managed(self) -> dict[str, Any]:
        managed: dict[str, Any] = {
            "id": self.client_id,
            "name": self._client_name,
            "type": self._type,
            "protocols": ["1.5"],
            "application": "beacon",
        }
        if self._fxa_device_id is not None:
            managed["fxaDeviceId"] = self._fxa_device_id
        return managed

    def send_command(
        self, client_id: str, command: str, args: Sequence[str] = (), *, flow_id: str | None = None
    ) -> None:
        """Queue ``command`` in another client's record; the next sync uploads it.

        As Firefox desktop sends them: only the commands it knows, with their arity
        (``resetAll``, ``resetEngine [engine]``, ``wipeAll``, ``wipeEngine [engine]``,
        ``logout``, ``displayURI [uri, sender id, title]``), and not twice with equal args.

        Raises:
            UsageError: an unknown client, our own id, an unknown command or a wrong arity.
        """
        arity = _ARITY.get(command)
        if arity is None:
            raise UsageError(f"not a clients command: {command!r} (one of {sorted(_ARITY)})")
        if len(args) != arity or not all(isinstance(a, str) for a in args):
            raise UsageError(f"{command} takes {arity} string argument(s)")
        if client_id == self.client_id:
            raise UsageError("a command goes to another client, not to this one")
        with self._records.store.transaction():
            row = self._records.row(client_id)
            if row is None or row.deleted or row.payload is None:
                raise UsageError(f"no client with id {client_id!r} (sync first)")
            record = json.loads(row.payload)
            entry: dict[str, Any] = {"command": command, "args": list(args)}
            if flow_id is not None:
                entry["flowID"] = flow_id
            have = list(record.get("commands") or [])
            if any(c.get("command") == command and c.get("args") == list(args) for c in have):
                return
            record["commands"] = [*have, entry]
            self._records.write(
                client_id,
                payload=dumps(record),
                deleted=False,
                server_modified=row.server_modified,
                local_modified=self._clock(),
                changed=True,
                bump=True,
            )

    def _queued_for(self, client_id: str) -> list[Any]:
        """The commands in our unsent copy of another client's record."""
        row = self._records.row(client_id)
        if row is None or not row.changed or row.payload is None:
            return []
        commands = json.loads(row.payload).get("commands")
        return list(commands) if isinstance(commands, list) else []

    @property
    def logout_requested(self) -> bool:
        """Whether another client sent us ``logout`` (kept until :meth:`clear_received`)."""
        return any(c["command"] == "logout" for c in self.received_commands())

    def received_commands(self) -> list[dict[str, Any]]:
        """The recorded ``displayURI`` and ``logout`` commands, oldest first: ``command``,
        ``args``, ``flowID`` (when sent) and ``received_at``."""
        found = [json.loads(p) for _, p in self._received.live() if p is not None]
        return sorted(found, key=lambda c: (c.get("received_at", 0), c.get("seq", 0)))

    def clear_received(self) -> None:
        """Forget the recorded commands (the application has acted on them)."""
        self._received.delete_all()

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
                from beacon._models import ClientRecord, parse_model  # pydantic, on first use

                try:
                    parse_model(ClientRecord, record.cleartext)
                    incoming = {**record.cleartext, "id": record.id}
                    dumps(incoming)
                except (ProtocolViolation, TypeError, ValueError):
                    failed += 1
                    continue
                # Commands we queued for that client and have not uploaded yet stay queued
                # on top of its newer copy (desktop re-applies its outgoing commands too).
                queued = self._queued_for(record.id)
                if queued:
                    have = list(incoming.get("commands") or [])
                    incoming["commands"] = have + [c for c in queued if c not in have]
                self._records.write(
                    record.id,
                    payload=dumps(incoming),
                    deleted=False,
                    server_modified=record.modified,
                    local_modified=record.modified,
                    changed=bool(queued),
                    bump=bool(queued),
                )
                applied += 1
        return ApplyCounts(applied, reconciled, failed)

    def _own_seen(self, record: IncomingRecord, own: Mapping[str, Any]) -> None:
        if record.deleted:
            ours = dict(own)
        else:
            ours = {**record.cleartext, **self._managed()}
            ours["commands"] = self._run_commands(record)
        same = not record.deleted and dumps(record.cleartext) == dumps(ours)
        self._records.write(
            record.id,
            payload=dumps(ours),
            deleted=False,
            server_modified=record.modified,
            local_modified=record.modified if same else self._clock(),
            changed=not same,
            bump=not same,
        )

    def _run_commands(self, record: IncomingRecord) -> list[dict[str, Any]]:
        """Run the commands of our record as the server has it; return those kept."""
        queued = record.cleartext.get("commands")
        if not isinstance(queued, list) or not queued:
            return []
        store = self._records.store
        stamp = round(record.modified * 1000)
        replay = store.counter(_COMMANDS_RUN_AT) == stamp
        kept: list[dict[str, Any]] = []
        for seq, command in enumerate(queued):
            name = command.get("command") if isinstance(command, dict) else None
            args = command.get("args", []) if isinstance(command, dict) else None
            if not isinstance(name, str) or not isinstance(args, list):
                continue  # malformed: dropped, as desktop drops what it cannot parse
            # A replay (the run crashed before its upload) only clears: nothing runs twice.
            outcome = self._run(name, args, command, seq, execute=not replay)
            if outcome == "keep" and command not in kept:
                kept.append(dict(command))
        store.set_counter(_COMMANDS_RUN_AT, stamp)
        return kept

    def _run(
        self, name: str, args: list[Any], command: Mapping[str, Any], seq: int, *, execute: bool
    ) -> str:
        """One command: ``done`` (cleared) or ``keep`` (unsupported here, left queued)."""
        if name in ("resetAll", "wipeAll"):
            targets = list(self._engines.values())
        elif name in ("resetEngine", "wipeEngine"):
            engine = self._engines.get(args[0]) if args and isinstance(args[0], str) else None
            if args and args[0] == self.name:
                return "done"  # the clients collection is read whole every time anyway
            if engine is None:
                return "keep"  # an engine this client does not run
            targets = [engine]
        elif name in ("displayURI", "logout"):
            if not execute or (name == "displayURI" and not (args and isinstance(args[0], str))):
                return "done"  # recorded already, or nothing to open
            entry = {"command": name, "args": args, "received_at": self._clock(), "seq": seq}
            if isinstance(command.get("flowID"), str):
                entry["flowID"] = command["flowID"]
            ident = f"{self._clock():.3f}-{seq}"
            self._received.write(
                ident,
                payload=dumps(entry),
                deleted=False,
                server_modified=None,
                local_modified=self._clock(),
                changed=False,
                bump=False,
            )
            return "done"
        elif name in ("repairRequest", "repairResponse"):
            return "done"  # bookmark repair was removed from Firefox: acknowledged, dropped
        else:
            return "keep"
        wipe = name.startswith("wipe")
        if wipe and not all(isinstance(e, _Wipeable) for e in targets):
            return "keep"  # an engine that cannot delete its local data
        for engine in targets if execute else ():
            if isinstance(engine, _Wipeable) and wipe:
                engine.wipe_local()
            self._records.store.reset_collection(engine.name)
            engine.reset()
        return "done"

    def outgoing(self) -> list[OutgoingRecord]:
        """Our record, when it needs uploading (see the class docstring); else nothing."""
        with self._records.store.transaction():
            return self._outgoing()

    def _outgoing(self) -> list[OutgoingRecord]:
        own = self.own_record()
        self._pending = {}
        others: list[OutgoingRecord] = []
        for ident, other in self._records.changed_rows():
            if ident != own["id"] and not other.deleted and other.payload is not None:
                others.append(OutgoingRecord(ident, json.loads(other.payload), ttl=CLIENTS_TTL))
                self._pending[ident] = other.change_counter
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
            return others
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
        self._pending[own["id"]] = row.change_counter if row else 0
        return [OutgoingRecord(own["id"], own, ttl=CLIENTS_TTL), *others]

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
