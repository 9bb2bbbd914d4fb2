"""Typed cleartexts that keep what they do not understand (the payload-evolution rule).

Every record model derives from :class:`Wire`: a pydantic model with ``extra="allow"``, so a
field beacon does not know is kept (in ``model_extra``) and written back by :meth:`Wire.to_wire`
exactly where it was, at the root or inside a nested model (a history visit, an autofill
``entry``, a tab). Known fields are checked and, where application-services repairs rather
than refuses, repaired by ``mode="before"`` validators that note each repair in the validation
context (:func:`note_fix`); the engine then re-uploads the repaired record.

Helpers here implement the repairs shared by several collections: byte-length truncation at a
UTF-8 boundary, lenient integers, clamped timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo

from beacon._errors import UsageError

M = TypeVar("M", bound="Wire")

__all__ = [
    "Refused",
    "Wire",
    "clamp_ms",
    "decode_model",
    "lenient_int",
    "local_model",
    "note_fix",
    "now_ms",
    "three_way",
    "truncate_utf8",
]


class Refused(Exception):
    """A record beacon will not apply (a-s: malformed or invalid); ``reason`` names no value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Wire(BaseModel):
    """A cleartext, or part of one, that keeps unknown fields and writes them back."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True, frozen=False)

    #: Wire names written even when their value is None (else a None known field is omitted).
    keep_null: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        # Record plaintext never goes into a repr (nor a log or a trace): the id at most.
        record_id = getattr(self, "id", None)
        return (
            f"{type(self).__name__}(id={record_id!r})" if record_id else f"{type(self).__name__}()"
        )

    __str__ = __repr__

    def to_wire(self) -> dict[str, Any]:
        """The JSON object: unknown fields as they came, known fields as validated."""
        out: dict[str, Any] = {k: _plain(v) for k, v in (self.__pydantic_extra__ or {}).items()}
        for name, info in type(self).model_fields.items():
            key = info.alias or name
            value = getattr(self, name)
            if value is None and key not in self.keep_null:
                continue
            out[key] = _plain(value)
        return out

    @property
    def unknown(self) -> dict[str, Any]:
        """The fields of this object beacon does not understand."""
        return dict(self.__pydantic_extra__ or {})


def _plain(value: Any) -> Any:
    if isinstance(value, Wire):
        return value.to_wire()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def decode_model(model: type[M], data: Mapping[str, Any], *, now_ms: int) -> tuple[M, list[str]]:
    """Validate ``data``; returns the model and the repairs made. Raises :class:`Refused`."""
    fixes: list[str] = []
    try:
        value = model.model_validate(dict(data), context={"fixes": fixes, "now_ms": now_ms})
    except ValidationError as exc:
        # Field names, and beacon's own reasons (value errors); never the input values.
        where = sorted(
            {
                (".".join(str(p) for p in e["loc"]) or "record")
                + (": " + str(e["ctx"]["error"]) if e["type"] == "value_error" else "")
                for e in exc.errors(include_input=False, include_url=False)
            }
        )
        raise Refused("invalid " + ", ".join(where)) from None
    except (TypeError, ValueError) as exc:  # a validator refusing with its own reason
        raise Refused(str(exc)) from None
    return value, fixes


def local_model(model: type[M], data: Mapping[str, Any], *, now_ms: int) -> M:
    """Validate a local edit: a refusal is the caller's mistake (:class:`UsageError`)."""
    try:
        value, _ = decode_model(model, data, now_ms=now_ms)
    except Refused as exc:
        raise UsageError(f"{model.__name__}: {exc.reason}") from None
    return value


def note_fix(info: ValidationInfo, what: str) -> None:
    """Record that a validator repaired ``what`` (the record will be re-uploaded)."""
    if isinstance(info.context, dict):
        fixes = info.context.get("fixes")
        if isinstance(fixes, list):
            fixes.append(what)


def now_ms(info: ValidationInfo) -> int | None:
    """The validation's notion of now (ms), for clamping future times."""
    if isinstance(info.context, dict):
        value = info.context.get("now_ms")
        return value if isinstance(value, int) else None
    return None


def lenient_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except (ValueError, OverflowError):
            return None
    return None


def clamp_ms(value: Any, info: ValidationInfo, field: str) -> int:
    """A-s's timestamp rule for logins and autofill: missing, non-integer or negative → 0."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    note_fix(info, field)
    number = lenient_int(value)
    return number if number is not None and number >= 0 else 0


def truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, backing up to a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


_ABSENT = object()


def three_way(
    base: Mapping[str, Any], mine: Mapping[str, Any], theirs: Mapping[str, Any], *, ours: bool
) -> tuple[dict[str, Any], set[str]]:
    """Merge two edits of a JSON object field by field against their common ``base``.

    A field changed on one side takes that side's value; changed on both to different values
    it is a conflict, won by ours when ``ours`` (our edit is the later one), else theirs. A
    field removed on the changing side is removed. Returns the merged object and the
    conflicting keys.
    """
    merged: dict[str, Any] = {}
    conflicts: set[str] = set()
    for key in [
        *mine,
        *(k for k in theirs if k not in mine),
        *(k for k in base if k not in mine and k not in theirs),
    ]:
        b, m, t = base.get(key, _ABSENT), mine.get(key, _ABSENT), theirs.get(key, _ABSENT)
        if m == t:
            value = m
        elif m == b:
            value = t
        elif t == b:
            value = m
        else:
            conflicts.add(key)
            value = m if ours else t
        if value is not _ABSENT:
            merged[key] = value
    return merged, conflicts
