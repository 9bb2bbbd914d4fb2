"""The ``tabs`` engine (version 1): one record per device, its open tabs.

Record (a-s ``tabs/src/sync/record.rs``): ``id`` = the client id (the same id as the device's
``clients`` record), ``clientName``, ``tabs`` = ``[{title, urlHistory, icon, lastUsed, …}]``
with ``lastUsed`` in **seconds**, ``tabGroups`` and ``windows`` (``lastUsed`` in ms). a-s keeps
no unknown fields here; beacon keeps them anyway (root, tab, group, window), as it does
everywhere.

A device writes only its own record (:meth:`TabsEngine.set_tabs`); every other device's record
replaces what we held for it; tabs have no tombstones (ignored) and our own record coming back
is skipped. ``lastUsed`` written as a float or a numeric string by older clients is read
(a-s would refuse the record). Upload, as a-s ``prepare_for_upload``: tabs whose current URL
is ``about:``, ``file:``, ``data:``… are left out, titles cut to 512 bytes with "…", at most 5
URLs per tab, sorted by ``lastUsed`` (newest first), the oldest dropped until the record fits
in 2 MiB. Records not refreshed for 180 days are not listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from beacon._errors import UsageError
from beacon.client._records import dumps
from beacon.client._store import Store
from beacon.client.engines._base import Incoming, Local, Resolution, TypedEngine, is_tombstone
from beacon.client.engines._wire import Wire, lenient_int, local_model, note_fix, truncate_utf8

__all__ = ["Tab", "TabGroup", "TabWindow", "TabsEngine", "TabsRecord"]

#: Tab records expire after 180 days (a-s ``TABS_CLIENT_TTL``, seconds).
TABS_TTL = 15_552_000
TITLE_MAX_BYTES = 512
URL_HISTORY_MAX = 5
URL_MAX_BYTES = 65_536
#: The record must fit in 2 MiB (a-s ``MAX_PAYLOAD_SIZE``).
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
UNSYNCABLE = (
    "about:",
    "resource:",
    "chrome:",
    "wyciwyg:",
    "blob:",
    "file:",
    "moz-extension:",
    "data:",
)


class Tab(Wire):
    """One open tab: its title, URL history (current first), icon and last use (seconds)."""

    keep_null: ClassVar[frozenset[str]] = frozenset({"icon"})

    title: str = ""
    urlHistory: list[str] = Field(default_factory=list)
    icon: str | None = None
    lastUsed: int = 0
    inactive: bool = False
    pinned: bool = False
    index: int = 0
    tabGroupId: str = ""
    windowId: str = ""

    @field_validator("lastUsed", mode="before")
    @classmethod
    def _last_used(cls, value: Any, info: ValidationInfo) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        number = lenient_int(value)
        note_fix(info, "tabs.lastUsed")
        return number if number is not None and number >= 0 else 0


class TabGroup(Wire):
    """A tab group (``tabGroups`` values)."""

    id: str
    name: str = ""
    color: str = ""
    collapsed: bool = False


class TabWindow(Wire):
    """A window (``windows`` values); ``lastUsed`` in ms."""

    id: str
    lastUsed: int = 0
    index: int = 0
    windowType: int = 0


class TabsRecord(Wire):
    """One device's tabs."""

    id: str
    clientName: str = ""
    tabs: list[Tab] = Field(default_factory=list)
    tabGroups: dict[str, TabGroup] | None = None
    windows: dict[str, TabWindow] | None = None


_OMIT_WHEN = {"inactive": False, "pinned": False, "index": 0, "tabGroupId": "", "windowId": ""}


def _upload_tab(tab: Tab) -> dict[str, Any] | None:
    urls = [u for u in tab.urlHistory if len(u.encode("utf-8")) <= URL_MAX_BYTES]
    if not urls or urls[0].lower().startswith(UNSYNCABLE):
        return None
    out = tab.to_wire()
    title = truncate_utf8(tab.title, TITLE_MAX_BYTES)
    if title != tab.title:
        title = truncate_utf8(tab.title, TITLE_MAX_BYTES - 3) + "…"
    out.update(title=title, urlHistory=urls[:URL_HISTORY_MAX])
    for key, empty in _OMIT_WHEN.items():
        if out.get(key, empty) == empty and type(out.get(key, empty)) is type(empty):
            out.pop(key, None)
    return out


class TabsEngine(TypedEngine[TabsRecord]):
    """The ``tabs`` collection (see the module docstring)."""

    name = "tabs"
    version = 1
    model = TabsRecord
    ttl = TABS_TTL

    def attach(self, store: Store) -> None:
        """Keep state in ``store``; our record is created (empty) so it is uploaded once."""
        super().attach(store)
        with store.transaction():
            if self._records.row(self.client_id) is None:
                self._write_local(self.client_id, TabsRecord(id=self.client_id))

    @property
    def client_id(self) -> str:
        """Our record's id: the store's client id, as in the clients collection."""
        return self.store.client_id()

    def set_tabs(self, tabs: Sequence[Tab | Mapping[str, Any]], **fields: Any) -> TabsRecord:
        """Replace our open tabs (``fields``: ``tabGroups``, ``windows``)."""
        listed = [t.to_wire() if isinstance(t, Wire) else dict(t) for t in tabs]
        own = self.get(self.client_id)
        data = {**(own.to_wire() if own else {}), **fields, "id": self.client_id, "tabs": listed}
        value = local_model(TabsRecord, data, now_ms=self.now_ms())
        with self.store.transaction():
            self._write_local(self.client_id, value)
        return value

    def put(self, record: TabsRecord | Mapping[str, Any]) -> TabsRecord:
        """Replace our own record (one record per device: no other id is writable here)."""
        data = record.to_wire() if isinstance(record, Wire) else dict(record)
        if data.get("id", self.client_id) != self.client_id:
            raise UsageError("a device writes only its own tabs record")
        return self.set_tabs(
            data.get("tabs", []), **{k: v for k, v in data.items() if k not in ("id", "tabs")}
        )

    def delete(self, record_id: str) -> bool:
        """Tabs have no tombstones: another device's record goes when it stops refreshing it."""
        raise UsageError("tabs records are not deleted (they expire)")

    def own_tabs(self) -> TabsRecord:
        """Our record."""
        return self.get(self.client_id) or TabsRecord(id=self.client_id)

    def remote_tabs(self) -> list[TabsRecord]:
        """The other devices' records, refreshed within the last 180 days, by client name."""
        now = self._clock()
        out = []
        for record in self.records():
            if record.id == self.client_id:
                continue
            row = self._records.row(record.id)
            seen = row.server_modified if row is not None else None
            if seen is not None and now - seen > TABS_TTL:
                continue
            out.append(record)
        return sorted(out, key=lambda r: (r.clientName, r.id))

    def skip(self, record_id: str, cleartext: Mapping[str, Any]) -> bool:
        """Our own record and tombstones (tabs have none) are not applied."""
        return record_id == self.client_id or is_tombstone(cleartext)

    def merge(
        self, local: Local[TabsRecord] | None, incoming: Incoming[TabsRecord]
    ) -> Resolution[TabsRecord]:
        """Another device's record replaces what we held for it; never re-uploaded."""
        return Resolution(incoming.value, False, incoming.edited)

    def prepare_outgoing(self, value: TabsRecord) -> dict[str, Any]:
        """Filter and trim the tabs, newest first, dropping the oldest to fit 2 MiB."""
        out = value.to_wire()
        out["clientName"] = self.store.client_name() or value.clientName
        tabs = [t for t in (_upload_tab(tab) for tab in value.tabs) if t is not None]
        tabs.sort(key=lambda t: int(t.get("lastUsed", 0)), reverse=True)
        if not out.get("tabGroups"):
            out.pop("tabGroups", None)
        if not out.get("windows"):
            out.pop("windows", None)
        out["tabs"] = tabs
        while tabs and len(dumps(out).encode("utf-8")) > MAX_PAYLOAD_BYTES:
            tabs.pop()
        return out

    def reset(self) -> None:
        """The server state is unknown: forget other devices' tabs, re-upload ours."""
        with self.store.transaction():
            self._records.delete_all(where="AND id != ?", params=(self.client_id,))
            super().reset()
