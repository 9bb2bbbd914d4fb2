"""The ``forms`` engine (version 1, desktop's form history): what was typed into which field.

Record (desktop ``forms.sys.mjs``): ``id``, ``name`` (the input field's name), ``value``.
Unknown fields are kept at the root. Entries are immutable: an incoming change to an entry we
hold is ignored, a new one is added, a tombstone removes the entry (unless our pending
re-creation is later), a local removal uploads a tombstone. A new remote entry equal
(``name``, ``value``) to a never-synced local one takes over its id (desktop ``_findDupe``).
TTL: three years.
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from beacon.client.engines._base import Incoming, Local, Resolution, TypedEngine
from beacon.client.engines._wire import Wire

__all__ = ["FORMS_TTL", "FormEntry", "FormsEngine"]

#: Form history records expire after three years (desktop ``FORMS_TTL``, seconds).
FORMS_TTL = 94_608_000


class FormEntry(Wire):
    """One form history entry."""

    id: str
    name: str
    value: str

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise ValueError("name is empty")
        return value


class FormsEngine(TypedEngine[FormEntry]):
    """The ``forms`` collection (see the module docstring)."""

    name = "forms"
    version = 1
    model = FormEntry
    ttl = FORMS_TTL

    def add(self, name: str, value: str) -> FormEntry:
        """Remember ``value`` typed into field ``name`` (the existing entry if already known)."""
        for entry in self.records():
            if (entry.name, entry.value) == (name, value):
                return entry
        return self.put({"name": name, "value": value})

    def find_dupe(self, value: FormEntry) -> str | None:
        for entry in self.records():
            if (entry.name, entry.value) == (value.name, value.value):
                return entry.id
        return None

    def merge(
        self, local: Local[FormEntry] | None, incoming: Incoming[FormEntry]
    ) -> Resolution[FormEntry]:
        ours_later = local is not None and local.changed and local.edited > incoming.edited
        if local is None or ours_later:
            return self.keep(local) if local is not None else self.take(incoming)
        if incoming.value is None or local.value is None:
            return self.take(incoming)
        if local.id != incoming.id:  # a dupe under another id: the remote id wins
            return self.take(incoming)
        return Resolution(local.value, local.changed, local.edited)  # entries are immutable
