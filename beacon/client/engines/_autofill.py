"""The autofill engines: ``addresses`` and ``creditcards`` (version 1 each).

Both records are ``{"id", "entry": {…}}`` (a-s ``autofill/src/sync/{address,credit_card}``):
the data fields inside ``entry`` are kebab-case, the metadata camelCase (``timeCreated``,
``timeLastUsed``, ``timeLastModified`` in **ms**, ``timesUsed``, and the schema ``version``:
1 for addresses, 3 for cards). Unknown fields are kept inside ``entry`` (the ADR's extension
point) and, beyond a-s, at the root too.

Validation: a wrong ``entry.version`` refuses the record, except a version-4 card, which is
read as version 3 and re-uploaded (as desktop does); metadata times and counts that are not
non-negative integers become 0; a card's expiry month and year must be integers (numeric
strings are repaired).

Merge (a-s ``sync/common.rs``, desktop ``_mergeSyncedRecords``): field by field against the
base (the copy last agreed with the server): a field changed on one side takes that side's
value; both sides changing one field differently is a **fork**: the remote record takes the
id and our version is kept as a new record (new id) that is uploaded, so neither edit is lost.
Metadata merges on its own: earliest ``timeCreated``, latest ``timeLastUsed`` and
``timeLastModified``, ``timesUsed`` adds both increments. A new remote record whose data equals
a never-synced local one takes over its id. A remote tombstone deletes an unchanged record and
loses to a pending edit (which is re-uploaded); a local deletion loses to a remote record.
The card number never appears in a repr.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import Field, ValidationInfo, field_validator

from beacon._errors import UsageError
from beacon.client.engines._base import Incoming, Local, Resolution, TypedEngine
from beacon.client.engines._wire import Refused, Wire, clamp_ms, lenient_int, note_fix, three_way

__all__ = [
    "AddressEntry",
    "AddressRecord",
    "AddressesEngine",
    "CreditCardEntry",
    "CreditCardRecord",
    "CreditCardsEngine",
]

METADATA = ("timeCreated", "timeLastUsed", "timeLastModified", "timesUsed", "version")


class _Entry(Wire):
    timeCreated: int = 0
    timeLastUsed: int = 0
    timeLastModified: int = 0
    timesUsed: int = 0
    version: int

    @field_validator("timeCreated", "timeLastUsed", "timeLastModified", "timesUsed", mode="before")
    @classmethod
    def _meta(cls, value: Any, info: ValidationInfo) -> int:
        return clamp_ms(value, info, info.field_name or "time")


class AddressEntry(_Entry):
    """An address's ``entry``: the kebab-case fields of a-s ``address/mod.rs``."""

    name: str = ""
    given_name: str = Field("", alias="given-name")
    additional_name: str = Field("", alias="additional-name")
    family_name: str = Field("", alias="family-name")
    organization: str = ""
    street_address: str = Field("", alias="street-address")
    address_level3: str = Field("", alias="address-level3")
    address_level2: str = Field("", alias="address-level2")
    address_level1: str = Field("", alias="address-level1")
    postal_code: str = Field("", alias="postal-code")
    country: str = ""
    tel: str = ""
    email: str = ""
    version: int = 1

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if value != 1 or isinstance(value, bool):
            raise ValueError("entry.version is not 1")
        return value


class CreditCardEntry(_Entry):
    """A card's ``entry``; ``cc-number`` is the full number (protected by Sync's encryption)."""

    cc_name: str = Field("", alias="cc-name")
    cc_number: str = Field("", alias="cc-number", repr=False)
    cc_exp_month: int | None = Field(None, alias="cc-exp-month")
    cc_exp_year: int | None = Field(None, alias="cc-exp-year")
    cc_type: str = Field("", alias="cc-type")
    version: int = 3

    @property
    def last4(self) -> str:
        return self.cc_number[-4:]

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any, info: ValidationInfo) -> Any:
        if value == 4 and not isinstance(value, bool):
            note_fix(info, "entry.version")  # desktop downgrades 4 to 3 and re-uploads
            return 3
        if value != 3 or isinstance(value, bool):
            raise ValueError("entry.version is not 3")
        return value

    @field_validator("cc_exp_month", "cc_exp_year", mode="before")
    @classmethod
    def _expiry(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        number = lenient_int(value)
        if number is None:
            raise ValueError(f"{info.field_name} is not a number")
        note_fix(info, info.field_name or "expiry")
        return number


class AddressRecord(Wire):
    """An ``addresses`` record."""

    id: str
    entry: AddressEntry


class CreditCardRecord(Wire):
    """A ``creditcards`` record."""

    id: str
    entry: CreditCardEntry


R = TypeVar("R", AddressRecord, CreditCardRecord)


def _split(entry: Wire) -> tuple[dict[str, Any], dict[str, Any]]:
    wire = entry.to_wire()
    data = {k: v for k, v in wire.items() if k not in METADATA}
    meta = {k: v for k, v in wire.items() if k in METADATA}
    return data, meta


def _merge_meta(
    base: dict[str, Any] | None, mine: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    created = [t for t in (mine.get("timeCreated", 0), theirs.get("timeCreated", 0)) if t]
    used_m, used_t = mine.get("timesUsed", 0), theirs.get("timesUsed", 0)
    if base is None:
        uses = max(used_m, used_t)
    else:
        used_b = base.get("timesUsed", 0)
        uses = used_b + max(0, used_m - used_b) + max(0, used_t - used_b)
    return {
        **theirs,
        "timeCreated": min(created) if created else 0,
        "timeLastUsed": max(mine.get("timeLastUsed", 0), theirs.get("timeLastUsed", 0)),
        "timeLastModified": max(mine.get("timeLastModified", 0), theirs.get("timeLastModified", 0)),
        "timesUsed": uses,
    }


class _AutofillEngine(TypedEngine[R]):
    """The shared merge of the two autofill collections (see the module docstring)."""

    dupe_fields: ClassVar[tuple[str, ...]] = ()

    def dupe_key(self, value: R) -> tuple[Any, ...]:
        data, _ = _split(value.entry)
        return tuple(sorted(data.items(), key=lambda kv: kv[0]))

    def find_dupe(self, value: R) -> str | None:
        key = self.dupe_key(value)
        for record in self.records():
            if self.dupe_key(record) == key:
                return record.id
        return None

    def on_local_edit(self, old: R | None, new: R) -> R:
        now = self.now_ms()
        meta: dict[str, Any] = {"timeLastModified": now}
        if old is None and not new.entry.timeCreated:
            meta["timeCreated"] = now
        return new.model_copy(update={"entry": new.entry.model_copy(update=meta)})

    def mark_used(self, record_id: str) -> R:
        """Count one use of a record (``timesUsed`` + 1, ``timeLastUsed`` = now)."""
        value = self.get(record_id)
        if value is None:
            raise UsageError(f"no {self.name} record {record_id!r}")
        entry = value.entry.to_wire()
        entry.update(timesUsed=value.entry.timesUsed + 1, timeLastUsed=self.now_ms())
        return self.put({**value.to_wire(), "entry": entry})

    def merge(self, local: Local[R] | None, incoming: Incoming[R]) -> Resolution[R]:
        theirs = incoming.value
        if theirs is None:  # a tombstone: an edited record is kept and re-uploaded
            if local is not None and local.value is not None and local.changed:
                return self.keep(local)
            return Resolution(None, False, incoming.edited)
        if local is None or local.value is None or (not local.changed and local.id == theirs.id):
            return self.take(incoming)  # a local deletion loses to a remote record
        mine = local.value
        data_m, meta_m = _split(mine.entry)
        data_t, meta_t = _split(theirs.entry)
        if local.base is not None and local.id == theirs.id:
            data_b, meta_b = _split(local.base.entry)
            data, conflicts = three_way(data_b, data_m, data_t, ours=False)
            base_meta: dict[str, Any] | None = meta_b
        else:
            data, conflicts = data_t, ({"*"} if data_m != data_t else set())
            base_meta = None
        if conflicts:
            return self._fork(local, incoming)
        entry = {**data, **_merge_meta(base_meta, meta_m, meta_t)}
        wire = {**mine.unknown, **theirs.to_wire(), "entry": entry}
        try:
            merged, _ = self.decode(wire)
        except Refused:
            return self._fork(local, incoming)
        upload = self.differs_on_wire(merged, incoming)
        return Resolution(merged, upload, max(local.edited, incoming.edited))

    def _fork(self, local: Local[R], incoming: Incoming[R]) -> Resolution[R]:
        mine = local.value
        assert mine is not None
        copy = mine.model_copy(update={"id": self.new_id()})
        return Resolution(incoming.value, bool(incoming.fixes), incoming.edited, forks=[copy])


class AddressesEngine(_AutofillEngine[AddressRecord]):
    """The ``addresses`` collection (see the module docstring)."""

    name = "addresses"
    version = 1
    model = AddressRecord


class CreditCardsEngine(_AutofillEngine[CreditCardRecord]):
    """The ``creditcards`` collection (see the module docstring)."""

    name = "creditcards"
    version = 1
    model = CreditCardRecord

    def dupe_key(self, value: CreditCardRecord) -> tuple[Any, ...]:
        e = value.entry
        return (e.cc_name, e.last4, e.cc_exp_month, e.cc_exp_year, e.cc_type)
