"""Untrusted text in, plain values out: the one JSON parser for what servers, files and other
devices send, and the one reader of numeric header values.

Contract:

1. :func:`parse_json` returns the value or raises :class:`~beacon.ProtocolViolation`, never a
   ``ValueError``, ``RecursionError``, ``UnicodeDecodeError`` or ``OverflowError``. It refuses
   what RFC 8259 refuses (``NaN``, ``Infinity``, trailing text, invalid UTF-8, lone
   surrogates) and also what would break code further down: nesting deeper than
   :data:`MAX_DEPTH` and numbers that do not fit a float (``1e400``, an integer of 400
   digits), so ``float()`` of any parsed number cannot raise ``OverflowError``.
   :func:`json_or_none` is the same parser answering ``None`` instead of raising.
2. The limits are the same at any stack depth: the parser is pydantic-core's (Rust, not
   recursive in Python) and the depth check walks the value with an explicit stack, so
   code that recurses over a parsed value (``copy.deepcopy``, ``json.dumps``, pydantic) has
   room left under the interpreter's recursion limit.
3. :func:`parse_seconds` reads a header's non-negative decimal number (``1388635807.41``,
   ``10``) or answers ``None``; it accepts no exponent, sign, underscore or inner space.
4. Messages never echo the input: a token response carries secrets.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pydantic_core

from beacon._errors import ProtocolViolation

__all__ = ["MAX_DEPTH", "json_or_none", "parse_json", "parse_seconds"]

#: Deepest nesting of arrays and objects accepted. Sync records are a few levels deep; this
#: leaves the interpreter's default recursion limit (1000) ample room for recursive consumers.
MAX_DEPTH = 100

# At most 15 integer digits (a timestamp in seconds needs 10) and any decimals.
_SECONDS = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")


def _fits_float(number: int) -> bool:
    try:
        float(number)
    except OverflowError:
        return False
    return True


def _problem(value: Any) -> str | None:
    """What makes a parsed value unusable, or None; iterative, so depth cannot hurt it."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        elif isinstance(item, float):
            if not math.isfinite(item):  # "1e400" parses as infinity
                return "a number is out of range"
            continue
        elif isinstance(item, int):
            if not _fits_float(item):
                return "a number is out of range"
            continue
        else:
            continue
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        stack.extend((child, depth + 1) for child in children)
    return None


def _parse(data: bytes | str) -> tuple[Any, str | None]:
    if not isinstance(data, bytes | bytearray | str):
        return None, "not text"  # type: ignore[unreachable]
    try:
        value = pydantic_core.from_json(data, allow_inf_nan=False, cache_strings=False)
    except ValueError as exc:
        # The parser's message names a position, never the text; still, keep it out.
        deep = "recursion limit" in str(exc)
        return None, f"nested deeper than {MAX_DEPTH} levels" if deep else "not valid JSON"
    return value, _problem(value)


def parse_json(data: bytes | str, what: str = "the body") -> Any:
    """``data`` parsed as JSON within the limits of the module docstring.

    Raises:
        ProtocolViolation: naming ``what`` and the rule broken, never the input.

    >>> parse_json(b'{"tabs": 1234.5}')
    {'tabs': 1234.5}
    >>> parse_json(b"[" * 5000 + b"]" * 5000, "info/collections")
    Traceback (most recent call last):
    ...
    beacon._errors.ProtocolViolation: info/collections: nested deeper than 100 levels
    """
    value, problem = _parse(data)
    if problem is not None:
        raise ProtocolViolation(f"{what}: {problem}")
    return value


def json_or_none(data: bytes | str) -> Any:
    """``data`` parsed as by :func:`parse_json`, or ``None`` when it is not usable JSON."""
    value, problem = _parse(data)
    return None if problem is not None else value


def parse_seconds(value: str | None) -> float | None:
    """A header's non-negative decimal number of seconds, or ``None`` when it is not one.

    >>> parse_seconds("1388635807.41"), parse_seconds("1e13"), parse_seconds("-5")
    (1388635807.41, None, None)
    """
    if not isinstance(value, str) or not _SECONDS.fullmatch(value.strip()):
        return None
    return float(value)
