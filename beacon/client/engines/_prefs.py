"""The ``prefs`` engine (version 2, desktop): the synced preferences, one record.

Record (desktop ``prefs.sys.mjs``): ``id`` = base64url (padded) of the application id, for
Firefox :data:`PREFS_GUID`; ``value`` = an object pref name → bool, integer, string, or null
("reset to default"). Records with another id (other applications) are ignored. Values of
another type, and strings starting with ``moz-extension:``, ``blob:``, ``data:`` or ``file:``
(which desktop never sends nor applies), are dropped, and the record re-uploaded without them.
Unknown root fields are kept.

Merge: pref by pref against the base (the value last agreed with the server): a pref changed
on one side takes that side's value, one changed on both goes to the later edit. beacon is not
a browser: it keeps the preferences as data and does not apply desktop's control-pref rules
(``services.sync.prefs.sync.<name>``), which the device that uses a pref applies.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from beacon._errors import UsageError
from beacon.client.engines._base import Incoming, Local, Resolution, TypedEngine
from beacon.client.engines._wire import Wire, note_fix, three_way

__all__ = ["FIREFOX_APP_ID", "PREFS_GUID", "PrefsEngine", "PrefsRecord"]

FIREFOX_APP_ID = "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}"
#: The record id for Firefox: base64url of its application id, with padding.
PREFS_GUID = base64.urlsafe_b64encode(FIREFOX_APP_ID.encode("ascii")).decode("ascii")
_NEVER_SYNCED = ("moz-extension:", "blob:", "data:", "file:")

PrefValue = bool | int | str | None


def _syncable(value: Any) -> bool:
    if value is None or isinstance(value, bool | int):
        return True
    return isinstance(value, str) and not value.lower().startswith(_NEVER_SYNCED)


class PrefsRecord(Wire):
    """The preferences record."""

    id: str
    value: dict[str, PrefValue] = Field(default_factory=dict)

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict):
            raise ValueError("value is not an object")
        kept = {k: v for k, v in value.items() if isinstance(k, str) and _syncable(v)}
        if len(kept) != len(value):
            note_fix(info, "value")
        return kept


class PrefsEngine(TypedEngine[PrefsRecord]):
    """The ``prefs`` collection (see the module docstring)."""

    name = "prefs"
    version = 2
    model = PrefsRecord

    def prefs(self) -> dict[str, PrefValue]:
        """The synced preferences (``None``: reset to the default)."""
        record = self.get(PREFS_GUID)
        return dict(record.value) if record is not None else {}

    def set_pref(self, name: str, value: PrefValue) -> None:
        """Set a preference (``None`` resets it to the default on the other devices)."""
        if not isinstance(name, str) or not name or not _syncable(value):
            raise UsageError("a pref is a name and a bool, integer, string or None")
        record = self.get(PREFS_GUID)
        data: dict[str, Any] = record.to_wire() if record is not None else {"id": PREFS_GUID}
        data["value"] = {**(record.value if record is not None else {}), name: value}
        self.put(data)

    def skip(self, record_id: str, cleartext: Any) -> bool:
        return record_id != PREFS_GUID

    def merge(
        self, local: Local[PrefsRecord] | None, incoming: Incoming[PrefsRecord]
    ) -> Resolution[PrefsRecord]:
        theirs = incoming.value
        if local is None or local.value is None or theirs is None or not local.changed:
            return super().merge(local, incoming)
        ours = local.edited > incoming.edited
        base = local.base.value if local.base is not None else {}
        value, _ = three_way(base, local.value.value, theirs.value, ours=ours)
        root, _ = three_way(
            local.base.unknown if local.base is not None else {},
            local.value.unknown,
            theirs.unknown,
            ours=ours,
        )
        merged, _ = self.decode({**root, "id": PREFS_GUID, "value": value})
        return Resolution(
            merged, self.differs_on_wire(merged, incoming), max(local.edited, incoming.edited)
        )
