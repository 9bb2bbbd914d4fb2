"""What the collection chart's inputs mean: an engine's association with meta/global, whether a
download needs a request, which failed ids to fetch again, how an outgoing record is sent.

Contract: pure functions over plain values (no store, no storage client); the collection
service reads what they need, calls them and acts on what they name (an outcome among the
calling action's declared ones: statecharts/collection.yaml decides where it leads).
docs/anchors.md §3.4 ``LocalCollStateMachine``, §4 item 11; docs/protocol.md §3.5, §4.2;
docs/seed-note.md, Persistence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence, Set
from typing import Any

__all__ = [
    "association",
    "chunks",
    "download_needed",
    "meta_entry",
    "outgoing_fields",
    "refetch_plan",
]


def meta_entry(meta_global: Mapping[str, Any] | None, name: str) -> dict[str, object] | None:
    """The engine's ``engines`` entry in meta/global, or None (absent or not an object)."""
    engines = (meta_global or {}).get("engines") or {}
    entry = engines.get(name) if isinstance(engines, dict) else None
    return entry if isinstance(entry, dict) else None


def association(
    meta_global: Mapping[str, Any] | None, name: str, *, version: int, sync_id: str | None
) -> str:
    """``check_association``'s outcome for engine ``name`` of ``version`` whose persisted syncID
    is ``sync_id``: ``declined``, ``not_in_meta_global`` (no entry with a string syncID),
    ``version_too_new`` (desktop VERSION_OUT_OF_DATE: never write to it), ``sync_id_changed``
    (another syncID, or none after a reset) or ``connected``."""
    if name in ((meta_global or {}).get("declined") or []):
        return "declined"
    entry = meta_entry(meta_global, name)
    if entry is None or not isinstance(entry.get("syncID"), str):
        return "not_in_meta_global"
    remote_version = entry.get("version")
    if isinstance(remote_version, int) and remote_version > version:
        return "version_too_new"
    if sync_id != entry["syncID"]:
        return "sync_id_changed"
    return "connected"


def download_needed(*, first_page: bool, refetch: bool, remote: float | None, last: float) -> bool:
    """Whether ``download_page`` sends a request: always for a later page or after a 412 asked
    for a refetch; for a first page only when info/collections lists the collection modified
    after the last fetch (request economy: an unchanged collection costs nothing)."""
    return not first_page or refetch or not (remote is None or remote <= last)


def refetch_plan(known: Sequence[str], fresh: Set[str]) -> tuple[list[str], set[str]]:
    """Of the ids kept as failed (``known``), those to fetch again now and those kept as they are:
    the ones that failed in this run's download (``fresh``) wait for the next run (as desktop's
    previousFailed does): asking again at once would mostly meet the same damage."""
    pending = [i for i in known if i not in fresh]
    kept = {i for i in known if i in fresh}
    return pending, kept


def chunks(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``ids`` in order, ``size`` at a time (the last chunk may be shorter)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def outgoing_fields(sortindex: int | None, ttl: int | None) -> dict[str, int]:
    """The optional BSO fields an outgoing record sends: only those it sets (an omitted
    ``sortindex`` or ``ttl`` keeps its stored value, docs/protocol.md §3.2)."""
    fields: dict[str, int] = {}
    if sortindex is not None:
        fields["sortindex"] = sortindex
    if ttl is not None:
        fields["ttl"] = ttl
    return fields
