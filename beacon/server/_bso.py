"""BSO and name validation for the storage nodes (docs/protocol.md §3.1, §3.2, §3.11), pure.

Contract:

* :func:`valid_collection` / :func:`valid_id` check names (collection ``[a-zA-Z0-9._-]{1,32}``,
  id 1–64 printable ASCII).
* :func:`check_bso` turns one decoded JSON object into a validated item dict — ``id`` plus the
  fields it carried among ``payload``/``sortindex``/``ttl`` (``None`` = reset to default) —
  or returns the failure reason string used in POST ``failed`` maps. ``modified`` and
  ``collection`` are accepted and ignored; any other key is refused.
* :func:`known_bad` flags a ``crypto`` payload with an all-zero IV (§3.11).
* :func:`wire_json` renders a stored BSO as a GET answers it (§3.2): ASCII JSON bytes, kept in
  the database beside the record so a page of records is joined, not rebuilt;
  :func:`payload_of` and :func:`key_of` read the payload and the (modified, id) key back.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from beacon._protocol import COLLECTION, MAX_TTL, RECORD_ID, SORTINDEX_LIMIT
from beacon.server._wire import quote, render_ts

_COLLECTION, _ID = COLLECTION, RECORD_ID  # the protocol's rules (beacon._protocol)
_KNOWN_BAD = re.compile(r'IV":\s*"AAAAAAAAAAAAAAAAAAAAAA=="')
_ALLOWED = frozenset({"id", "sortindex", "payload", "ttl", "modified", "collection"})
MAX_SORTINDEX = SORTINDEX_LIMIT


def valid_collection(name: str) -> bool:
    return bool(_COLLECTION.match(name))


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _utf8(text: str) -> bool:
    """False for text UTF-8 cannot carry: a lone surrogate from a JSON ``"\\ud800"`` escape."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_bso(raw: dict[str, Any]) -> dict[str, Any] | str:
    """A validated item, or the reason it is invalid (§3.2)."""
    for key in raw:
        if key not in _ALLOWED:
            return f"unknown field {key}"[:100]
    if not valid_id(raw.get("id")):
        return "invalid bso: id"
    item: dict[str, Any] = {"id": raw["id"]}
    if "sortindex" in raw:
        value = raw["sortindex"]
        if value is not None and not (_is_int(value) and abs(value) <= MAX_SORTINDEX):
            return "invalid bso: sortindex"
        item["sortindex"] = value
    if "payload" in raw:
        value = raw["payload"]
        if value is not None and not (isinstance(value, str) and _utf8(value)):
            return "invalid bso: payload"
        item["payload"] = value
    if "ttl" in raw:
        value = raw["ttl"]
        if value is not None and not (_is_int(value) and 0 <= value <= MAX_TTL):
            return "invalid bso: ttl"
        item["ttl"] = value
    return item


def payload_bytes(item: dict[str, Any]) -> int:
    payload = item.get("payload")
    return len(payload.encode("utf-8")) if isinstance(payload, str) else 0


def known_bad(collection: str, item: dict[str, Any]) -> bool:
    payload = item.get("payload")
    return collection == "crypto" and isinstance(payload, str) and bool(_KNOWN_BAD.search(payload))


def wire_json(bso_id: str, modified: int, payload: str, sortindex: int | None) -> bytes:
    """The output BSO (§3.2): id, modified (two decimals), payload, sortindex only if set.

    ASCII whatever the payload holds (non-ASCII is escaped), so the bytes are the response's.
    """
    tail = "}" if sortindex is None else f',"sortindex":{int(sortindex)}}}'
    text = (
        f'{{"id":{quote(bso_id)},"modified":{render_ts(modified)},"payload":{quote(payload)}{tail}'
    )
    return text.encode("ascii")


def payload_of(wire: bytes) -> str:
    """The payload of a BSO rendered by :func:`wire_json`."""
    return str(json.loads(wire)["payload"])


_EXACT = json.JSONDecoder(parse_float=Decimal)  # built once: json.loads would build one a call


def key_of(wire: bytes) -> tuple[int, str]:
    """(modified in ms, id) of a BSO rendered by :func:`wire_json`, exactly."""
    data = _EXACT.decode(wire.decode("ascii"))
    return int(data["modified"] * 1000), str(data["id"])
