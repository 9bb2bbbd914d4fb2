"""meta/global arithmetic for the session chart: fresh records, fix-ups, the declined merge.

Contract: pure functions over plain JSON values (the meta/global cleartext of docs/protocol.md
§4.3); randomness only through ``rng``; no I/O. The session service decides when to call them.

* :func:`fresh_meta_global` builds the record a fresh start uploads: every engine the previous
  configuration knew (also the ones this client does not implement) plus application-services'
  ``DEFAULT_ENGINES`` plus ours, minus the declined ones, each with a fresh syncID, and a fresh
  global syncID (docs/anchors.md §2.4 ``computeNewEngines``, §3.2 ``FreshStartRequired``,
  docs/anchors.md P1 and P13: leaving engines out disables them on other devices).
* :func:`merge_declined` is application-services' rule (docs/anchors.md §3.3): the remote list wins
  over the local one, user changes win over both, and engines that became declined get a local
  reset.
* :func:`read_meta_global` is the one parse of a fetched meta/global (any device of the
  account may write it, in plaintext): bounded JSON (:mod:`beacon._parse`), ``None`` when it
  is unusable (not an object, nested too deeply...), ill-typed ``declined`` / ``engines``
  read as empty and engine entries without a syncID as absent, so nothing downstream meets
  a ``True`` where it iterates a list, and no garbage entry switches an engine off for good.
* :func:`fixup_meta_global` removes ``engines`` entries of declined engines (docs/anchors.md P2) and
  adds our missing engines (docs/anchors.md §3.2 ``fixup_meta_global``; desktop writes itself in,
  §4 item 11).
* :func:`plan_adoption` is what adopting a meta/global takes, all of the above together: the
  record to adopt and whether to upload it, the collections whose server data goes, and which
  engines reset (all of them on a new global syncID, docs/anchors.md §2.3
  ``ResolveMetaGlobalContent``, §4 item 4.5).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from beacon._parse import json_or_none
from beacon._protocol import STORAGE_VERSION, new_sync_id

__all__ = [
    "DEFAULT_ENGINES",
    "STORAGE_VERSION",
    "Adoption",
    "DeclinedMerge",
    "fixup_meta_global",
    "fresh_meta_global",
    "merge_declined",
    "new_sync_id",
    "outdated_engines",
    "plan_adoption",
    "read_meta_global",
]

Rng = Callable[[int], bytes]

#: The storage format this client speaks (docs/protocol.md §4.3).

#: application-services' DEFAULT_ENGINES (docs/protocol.md §4.7, docs/anchors.md §3.2): a fresh
#: meta/global lists them all, implemented here or not, so no device silently loses one.
DEFAULT_ENGINES: Mapping[str, int] = {
    "addons": 1,
    "addresses": 1,
    "bookmarks": 2,
    "clients": 1,
    "creditcards": 1,
    "forms": 1,
    "history": 1,
    "passwords": 1,
    "prefs": 2,
    "tabs": 1,
}


def fresh_meta_global(
    previous: Mapping[str, Any] | None,
    *,
    local_engines: Mapping[str, int],
    declined: Collection[str],
    rng: Rng = os.urandom,
) -> dict[str, Any]:
    """The meta/global cleartext a fresh start uploads.

    Args:
        previous: the last meta/global we adopted (its engines and versions are kept), or None.
        local_engines: the engines this client syncs, name → engine version.
        declined: the declined list to keep (the persisted one).
        rng: randomness for the syncIDs.
    """
    versions: dict[str, int] = dict(DEFAULT_ENGINES)
    for name, entry in _engines_of(previous).items():
        version = entry.get("version") if isinstance(entry, Mapping) else None
        versions[name] = version if isinstance(version, int) else versions.get(name, 0)
    versions.update(local_engines)
    declined_set = set(declined)
    engines = {
        name: {"version": version, "syncID": new_sync_id(rng)}
        for name, version in sorted(versions.items())
        if name not in declined_set
    }
    return {
        "syncID": new_sync_id(rng),
        "storageVersion": STORAGE_VERSION,
        "engines": engines,
        "declined": sorted(declined_set),
    }


@dataclass(frozen=True)
class DeclinedMerge:
    """The outcome of :func:`merge_declined`."""

    declined: frozenset[str]
    """The declined list to adopt, persist and (if it differs from the remote one) upload."""
    local_resets: frozenset[str]
    """Engines that became declined here: their local sync state is reset."""


def merge_declined(
    remote: Collection[str] | None,
    local: Collection[str] | None,
    *,
    user_enabled: Collection[str] = (),
    user_disabled: Collection[str] = (),
) -> DeclinedMerge:
    """application-services' declined computation (docs/anchors.md §3.3).

    The base is the remote list when a meta/global exists, else the persisted local one; user
    changes are applied on top: ``(base ∪ user_disabled) − user_enabled``. Engines in the new
    list but not in the local one get a local reset.
    """
    base = set(remote) if remote is not None else set(local or ())
    declined = (base | set(user_disabled)) - set(user_enabled)
    resets = declined - set(local or ())
    return DeclinedMerge(frozenset(declined), frozenset(resets))


def fixup_meta_global(
    record: Mapping[str, Any],
    *,
    declined: Collection[str],
    local_engines: Mapping[str, int],
    rng: Rng = os.urandom,
) -> tuple[dict[str, Any], bool]:
    """``record`` with the declined list set, declined engines removed from ``engines`` and
    our missing (non-declined) engines added with fresh syncIDs; and whether anything changed.
    """
    fixed = copy.deepcopy(dict(record))
    engines = dict(_engines_of(record))
    declined_set = set(declined)
    changed = sorted(_declined_of(record)) != sorted(declined_set)
    for name in sorted(declined_set & set(engines)):
        del engines[name]
        changed = True
    for name, version in sorted(local_engines.items()):
        if name not in engines and name not in declined_set:
            engines[name] = {"version": version, "syncID": new_sync_id(rng)}
            changed = True
    for name in sorted(outdated_engines(record, local_engines) - declined_set):
        # An older engine version on the server: ours replaces it with a new syncID, and the
        # caller wipes the collection (desktop _syncStartup: start the engine over).
        engines[name] = {"version": local_engines[name], "syncID": new_sync_id(rng)}
        changed = True
    fixed["engines"] = engines
    fixed["declined"] = sorted(declined_set)
    return fixed, changed


def outdated_engines(record: Mapping[str, Any], local_engines: Mapping[str, int]) -> set[str]:
    """Our engines that meta/global lists with an older version than ours."""
    out = set()
    for name, entry in _engines_of(record).items():
        version = entry.get("version") if isinstance(entry, Mapping) else None
        ours = local_engines.get(name)
        if ours is not None and isinstance(version, int) and version < ours:
            out.add(name)
    return out


@dataclass(frozen=True)
class Adoption:
    """What adopting a meta/global takes (:func:`plan_adoption`)."""

    record: dict[str, Any]
    """The record to adopt: the remote one fixed up (:func:`fixup_meta_global`)."""
    upload: bool
    """The fix-up changed it: it goes back to the server before anything is adopted."""
    declined: frozenset[str]
    """The declined list to persist (:func:`merge_declined`)."""
    wipe: tuple[str, ...]
    """Listed collections whose server data goes: engines the user just declined
    (docs/anchors.md §3.3), and ours that an older engine version wrote (their syncID is new)."""
    reset_all: bool
    """A new global syncID: every engine resets."""
    drop_keys: bool
    """The new global syncID replaces a known one: the cached crypto/keys go too."""
    local_resets: tuple[str, ...]
    """Engines that became declined here: their local sync state resets."""


def plan_adoption(
    record: Mapping[str, Any],
    *,
    global_sync_id: str | None,
    local_declined: Collection[str] | None,
    local_engines: Mapping[str, int],
    user_enabled: Collection[str],
    user_disabled: Collection[str],
    listed: Collection[str],
    rng: Rng = os.urandom,
) -> Adoption:
    """What adopting ``record`` (a fetched or cached meta/global) takes.

    Args:
        record: the meta/global cleartext.
        global_sync_id: the global syncID adopted last (None: never).
        local_declined: the persisted declined list (None: never persisted).
        local_engines: the engines this client syncs, name → engine version.
        user_enabled: engines the user undeclined since the last adoption.
        user_disabled: engines the user declined since then.
        listed: the collections info/collections lists.
        rng: randomness for the syncIDs the fix-up writes.
    """
    remote_declined = [n for n in record.get("declined") or [] if isinstance(n, str)]
    merge = merge_declined(
        remote_declined, local_declined, user_enabled=user_enabled, user_disabled=user_disabled
    )
    upgraded = outdated_engines(record, local_engines) - set(merge.declined)
    fixed, changed = fixup_meta_global(
        record, declined=merge.declined, local_engines=local_engines, rng=rng
    )
    new_global = global_sync_id != fixed["syncID"]
    return Adoption(
        record=fixed,
        upload=changed,
        declined=merge.declined,
        wipe=tuple(sorted((set(user_disabled) | upgraded) & set(listed))),
        reset_all=new_global,
        drop_keys=new_global and global_sync_id is not None,
        local_resets=tuple(sorted(merge.local_resets)),
    )


def read_meta_global(payload: str) -> dict[str, Any] | None:
    """A fetched meta/global payload as a record the session can use, or ``None`` (unusable:
    the caller treats it like a missing syncID, docs/protocol.md §4.8 item 3)."""
    record = json_or_none(payload)
    if not isinstance(record, dict):
        return None
    if "declined" in record:
        record["declined"] = _declined_of(record)
    if "engines" in record:
        # An entry without a string syncID is as good as absent: the fix-up writes a new one
        # (kept, it would switch the engine off on every device for good).
        record["engines"] = {
            name: entry
            for name, entry in _engines_of(record).items()
            if isinstance(entry, dict) and isinstance(entry.get("syncID"), str)
        }
    return record


def _engines_of(record: Mapping[str, Any] | None) -> Mapping[str, Any]:
    engines = (record or {}).get("engines")
    return engines if isinstance(engines, Mapping) else {}


def _declined_of(record: Mapping[str, Any]) -> list[str]:
    declined = record.get("declined")
    if not isinstance(declined, list):
        return []
    return [name for name in declined if isinstance(name, str)]
