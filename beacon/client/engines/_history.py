"""The ``history`` engine (version 1): places and their visits.

Record (a-s ``history_sync/record.rs``): ``id`` (a 12-character Places GUID), ``histUri``,
``title``, ``visits`` = ``[{date, type}]`` with ``date`` in **microseconds**. Unknown fields
are kept at the root and in each visit (payload-evolution rule).

Validation as a-s ``history_sync/plan.rs``: an id that is not a Places GUID or a URL that does
not parse (or is longer than 65,536 bytes) refuses the record; a visit with an unknown
transition type, a non-integer date or a date before 1993-01-23 is dropped; a future date is
clamped to now; a null title becomes ``""``, a long one is cut to 4,096 bytes.

Merge: the visits are a **union** keyed by (date in ms, type) (a-s ``plan_incoming_record``,
desktop dedupes the same way); the remote title replaces ours when the record brings new
visits, unless our pending edit is later. A tombstone deletes the place unless our pending
edit is later. A new remote place whose URL we hold under another, never-synced id takes the
remote id. At most :data:`MAX_VISITS` most recent visits are uploaded per record, and at
most :data:`MAX_OUTGOING_PLACES` records per sync.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from beacon._errors import UsageError
from beacon.client._engine_api import OutgoingRecord
from beacon.client.engines._base import Incoming, Local, Resolution, TypedEngine
from beacon.client.engines._wire import Wire, note_fix, now_ms, truncate_utf8

__all__ = [
    "EARLIEST_VISIT_MS",
    "HISTORY_TTL",
    "MAX_VISITS",
    "HistoryEngine",
    "HistoryRecord",
    "Visit",
]

#: Visits uploaded per record (a-s ``MAX_VISITS``, desktop likewise).
MAX_VISITS = 20
#: Places uploaded per sync (a-s ``MAX_OUTGOING_PLACES``); the rest go up in later syncs.
MAX_OUTGOING_PLACES = 5000
#: History records expire after 60 days (a-s ``HISTORY_TTL``, seconds).
HISTORY_TTL = 5_184_000
#: Visits before 1993-01-23 are dropped (a-s ``Timestamp::EARLIEST``, ms).
EARLIEST_VISIT_MS = 727_747_200_000
#: Places URL and title limits (a-s ``storage/mod.rs``, bytes).
URL_LENGTH_MAX = 65_536
TITLE_LENGTH_MAX = 4_096
#: Transition types 1-9 (a-s ``types.rs VisitType``; 10 is internal to Places).
VISIT_TYPES = range(1, 10)

PLACES_GUID = re.compile(r"^[A-Za-z0-9_-]{12}$")


def valid_url(url: Any, *, limit: int = URL_LENGTH_MAX) -> bool:
    """A URL Places would store: a string with a scheme and something after it."""
    if not isinstance(url, str) or not url or len(url.encode("utf-8")) > limit:
        return False
    if any(c in url for c in "\x00\r\n\t "):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and parts.scheme.isascii()


class Visit(Wire):
    """One visit: ``date`` in microseconds since the epoch, ``type`` the transition."""

    date: int
    type: int

    @property
    def key(self) -> tuple[int, int]:
        """What makes two visits the same: (date in ms, type)."""
        return (self.date // 1000, self.type)


def _clean_visits(value: Any, info: ValidationInfo) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("visits is not a list")
    now = now_ms(info)
    seen: set[tuple[int, int]] = set()
    out: list[Any] = []
    for item in value:
        if not isinstance(item, dict):
            note_fix(info, "visits")
            continue
        date = item.get("date")
        vtype = item.get("type")
        if isinstance(date, float) and date.is_integer():
            date = int(date)
        if (
            not isinstance(date, int)
            or isinstance(date, bool)
            or not isinstance(vtype, int)
            or isinstance(vtype, bool)
            or vtype not in VISIT_TYPES
            or date // 1000 < EARLIEST_VISIT_MS
        ):
            note_fix(info, "visits")
            continue
        if now is not None and date // 1000 > now:
            note_fix(info, "visits.date")
            date = now * 1000
        key = (date // 1000, vtype)
        if key in seen:
            note_fix(info, "visits")
            continue
        seen.add(key)
        out.append({**item, "date": date, "type": vtype})
    return out


class HistoryRecord(Wire):
    """A place: its URL, title and visits (most recent first on upload)."""

    id: str
    histUri: str
    title: str = ""
    visits: list[Visit] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if not isinstance(value, str) or not PLACES_GUID.match(value):
            raise ValueError("id is not a Places GUID")
        return value

    @field_validator("histUri", mode="before")
    @classmethod
    def _uri(cls, value: Any) -> Any:
        if not valid_url(value):
            raise ValueError("histUri is not a URL")
        return value

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return ""
        if not isinstance(value, str):
            note_fix(info, "title")
            return ""
        cut = truncate_utf8(value, TITLE_LENGTH_MAX)
        if cut != value:
            note_fix(info, "title")
        return cut

    @field_validator("visits", mode="before")
    @classmethod
    def _visits(cls, value: Any, info: ValidationInfo) -> Any:
        return _clean_visits(value, info)


class HistoryEngine(TypedEngine[HistoryRecord]):
    """The ``history`` collection: visits united across devices (see the module docstring)."""

    name = "history"
    version = 1
    model = HistoryRecord
    ttl = HISTORY_TTL

    # -- the local API -------------------------------------------------------------------------

    def by_url(self, url: str) -> HistoryRecord | None:
        """The live place for ``url``, or None."""
        for record in self.records():
            if record.histUri == url:
                return record
        return None

    def visit(
        self, url: str, *, title: str | None = None, at: float | None = None, type: int = 1
    ) -> HistoryRecord:
        """Record a visit to ``url`` at ``at`` (POSIX seconds, default now) of ``type``."""
        if type not in VISIT_TYPES:
            raise UsageError(f"not a visit type: {type!r}")
        when = int((self._clock() if at is None else at) * 1_000_000)
        place = self.by_url(url)
        data: dict[str, Any] = (
            place.to_wire() if place is not None else {"id": self.new_id(), "histUri": url}
        )
        data["visits"] = [{"date": when, "type": type}, *data.get("visits", [])]
        if title is not None:
            data["title"] = title
        return self.put(data)

    # -- merging -------------------------------------------------------------------------------

    def find_dupe(self, value: HistoryRecord) -> str | None:
        place = self.by_url(value.histUri)
        return place.id if place is not None else None

    def merge(
        self, local: Local[HistoryRecord] | None, incoming: Incoming[HistoryRecord]
    ) -> Resolution[HistoryRecord]:
        ours_later = local is not None and local.changed and local.edited > incoming.edited
        if incoming.value is None:  # a tombstone: the place goes, unless we edited it later
            if local is not None and local.value is not None and ours_later:
                return self.keep(local)
            return Resolution(None, False, incoming.edited)
        if local is None or local.value is None:
            if local is not None and ours_later:
                return self.keep(local)  # our later deletion stands
            return self.take(incoming)
        mine, theirs = local.value, incoming.value
        known = {v.key for v in mine.visits}
        new = [v for v in theirs.visits if v.key not in known]
        first = mine if ours_later else theirs
        title = mine.title if ours_later or not new else theirs.title
        data = {
            **theirs.unknown,
            **mine.to_wire(),
            "histUri": first.histUri,
            "title": title,
            "visits": [v.to_wire() for v in _newest_first([*mine.visits, *new])],
        }
        merged, _ = self.decode(data)
        upload = self.differs_on_wire(merged, incoming)
        return Resolution(merged, upload, max(local.edited, incoming.edited))

    def outgoing(self) -> list[OutgoingRecord]:
        """At most :data:`MAX_OUTGOING_PLACES` records: tombstones first, then the places
        visited most recently (a-s ``fetch_outgoing``); the others stay outgoing."""
        out = super().outgoing()
        if len(out) <= MAX_OUTGOING_PLACES:
            return out

        def order(record: OutgoingRecord) -> tuple[int, int]:
            visits = record.cleartext.get("visits") or []
            latest = max((v.get("date", 0) for v in visits), default=0)
            return (0 if record.cleartext.get("deleted") else 1, -latest)

        kept = sorted(out, key=order)[:MAX_OUTGOING_PLACES]
        ids = {r.id for r in kept}
        self._pending = {k: v for k, v in self._pending.items() if k in ids}
        return sorted(kept, key=lambda r: r.id)

    def prepare_outgoing(self, value: HistoryRecord) -> dict[str, Any]:
        """At most the :data:`MAX_VISITS` most recent visits; no title when it is empty."""
        out = value.to_wire()
        out["visits"] = [v.to_wire() for v in _newest_first(value.visits)[:MAX_VISITS]]
        if not out.get("title"):
            out.pop("title", None)
        return out


def _newest_first(visits: list[Visit]) -> list[Visit]:
    return sorted(visits, key=lambda v: (v.date, v.type), reverse=True)
