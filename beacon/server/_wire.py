"""Wire helpers shared by the token server and the storage nodes (pure, no I/O).

Contract:

* Timestamps are integer **milliseconds**, always a multiple of 10 (docs/protocol.md §3.3: 10 ms
  resolution). :func:`now_ms` truncates the injected clock; :func:`render_ts` writes two
  decimals (``"1388635807.41"``, ``"0.00"``); :func:`parse_ts` reads a header or query value
  (decimal seconds, non-negative) or raises :class:`StorageHTTPError` 400.
* :func:`dumps` writes JSON in which :class:`Ts` values appear as two-decimal numbers, as the
  integration suite requires for ``modified`` and info/collections (§3.3).
* :class:`StorageHTTPError` carries a status, a bare-integer body (legacy respcode, §3.10) and
  extra headers; :class:`TokenServerError` carries a status and a Cornice error body (§1.6).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

# Legacy respcodes (docs/protocol.md §3.10).
RESP_UNKNOWN = 0
RESP_ILLEGAL_METHOD = 1
RESP_JSON_PARSE = 6
RESP_INVALID_BSO = 8
RESP_INVALID_COLLECTION = 13
RESP_OVER_QUOTA = 14
RESP_SIZE_LIMIT = 17

_DECIMAL = re.compile(r"\A[0-9]+(\.[0-9]*)?\Z")


class Ts(int):
    """A millisecond timestamp that :func:`dumps` renders as seconds with two decimals."""


class StorageHTTPError(Exception):
    """A storage-node refusal: ``status`` with a bare-integer JSON body (§3.10)."""

    def __init__(
        self,
        status: int,
        code: int = RESP_UNKNOWN,
        *,
        headers: Mapping[str, str] | None = None,
        last_modified: int | None = None,
    ) -> None:
        super().__init__(f"{status} ({code})")
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.last_modified = last_modified


class TokenServerError(Exception):
    """A token-server refusal with a Cornice-style body (§1.6)."""

    def __init__(
        self,
        status: int,
        status_text: str,
        *,
        description: str,
        location: str = "body",
        name: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {status_text}")
        self.status = status
        self.body = {
            "status": status_text,
            "errors": [{"location": location, "name": name, "description": description}],
        }
        self.headers = dict(headers or {})


def now_ms(clock: Callable[[], float]) -> int:
    """The injected clock as milliseconds truncated to 10 ms (§3.3)."""
    ms = round(clock() * 1000)
    return ms - ms % 10


def render_ts(ms: int) -> str:
    """Seconds with exactly two decimals: ``1234.50``, never ``1234.5`` (§3.3)."""
    return f"{ms // 1000}.{(ms % 1000) // 10:02d}"


def parse_ts(value: str) -> int:
    """A non-negative decimal seconds value as milliseconds; 400 ``0`` otherwise (§3.5, §3.8)."""
    text = value.strip()
    if not _DECIMAL.match(text):
        raise StorageHTTPError(400, RESP_UNKNOWN)
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise StorageHTTPError(400, RESP_UNKNOWN) from None
    if number > 10**12:
        raise StorageHTTPError(400, RESP_UNKNOWN)
    return int(number * 1000)


def quote(text: str) -> str:
    """A JSON string literal (the C-accelerated encoder json.dumps uses)."""
    return _quote(text)


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, Ts):
        out.append(render_ts(int(value)))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_quote(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        out.append(json.dumps(value))


def dumps(value: Any) -> str:
    """JSON text with :class:`Ts` rendered as two-decimal numbers."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
