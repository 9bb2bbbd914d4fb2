"""The bookmark merge, pure: per-item winners, dupes, survivors of deletions, final records.

The steps :class:`~._bookmarks.BookmarksEngine` runs between reading the local tree and the
mirror and writing the result (see its module docstring for the rules and their sources).
Nothing here touches the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from beacon.client._records import TOMBSTONE, dumps
from beacon.client.engines._bookmark_records import BookmarkItem
from beacon.client.engines._bookmark_tree import PLACES, ROOTS, BuiltTree, TreeItem

__all__ = [
    "Side",
    "dedupe",
    "describe",
    "pick",
    "pick_winners",
    "significant",
    "survivors",
    "tree_item",
]


@dataclass
class Side:
    """One side's copy of an item for the merge."""

    value: BookmarkItem | None  # None: a tombstone
    edited: float
    changed: bool
    content: str | None
    invalid: str | None = None


def _deletions(
    item_id: str,
    winner: Side,
    mine: Side,
    theirs: Side,
    ours_changed: bool,
    theirs_changed: bool,
) -> Side:
    """Deletion against a live copy (dogear): a root is never deleted; a deleted folder stays
    deleted; a bookmark changed on the other side is revived."""
    if (mine.value is None) == (theirs.value is None):
        return winner
    dead, alive = (mine, theirs) if mine.value is None else (theirs, mine)
    dead_changed = ours_changed if dead is mine else theirs_changed
    alive_changed = ours_changed if alive is mine else theirs_changed
    assert alive.value is not None
    if item_id in ROOTS:
        return alive
    if alive.value.is_folder:
        return dead if dead_changed else winner
    return alive if alive_changed else winner


def _positions(sides: Mapping[str, Side]) -> dict[str, int]:
    out: dict[str, int] = {}
    for side in sides.values():
        if side.value is not None and side.value.is_folder:
            for index, child in enumerate(side.value.children or []):
                out.setdefault(child, index)
    return out


def _dupe_key(
    item: BookmarkItem, parent: str | None, position: int | None
) -> tuple[Any, ...] | None:
    """What makes a never-synced local item the same as a new remote one (dogear DupeKey):
    same parent and type, and title + URL, title (folders) or position (separators)."""
    if item.type in ("bookmark", "query"):
        return (item.type, parent, item.title or "", item.bmkUri)
    if item.type == "folder":
        return (item.type, parent, item.title or "")
    if item.type == "separator":
        return (item.type, parent, position)
    if item.type == "livemark":
        return (item.type, parent, item.title or "", item.feedUri)
    return None  # pragma: no cover - every type is listed


def dedupe(
    local: dict[str, Side], remote: Mapping[str, Side], bases: Mapping[str, str | None]
) -> list[str]:
    """Give never-synced local items that duplicate new remote ones the remote id, top down
    (a folder first, so that its children then match under the remote folder). Rewrites
    ``local`` in place; returns the local ids that were renamed."""
    remote_pos, local_pos = _positions(remote), _positions(local)
    candidates: dict[tuple[Any, ...], list[str]] = {}
    for item_id in sorted(remote):
        side = remote[item_id]
        if (
            side.value is None
            or side.invalid
            or not side.changed
            or item_id in local
            or item_id in ROOTS
        ):
            continue
        key = _dupe_key(side.value, side.value.parentid, remote_pos.get(item_id, side.value.pos))
        if key is not None:
            candidates.setdefault(key, []).append(item_id)
    if not candidates:
        return []
    renamed: dict[str, str] = {}
    queue = list(ROOTS)
    while queue:
        folder = local.get(queue.pop(0))
        if folder is None or folder.value is None or not folder.value.is_folder:
            continue
        for child in folder.value.children or []:
            queue.append(child)
            mine = local.get(child)
            if mine is None or mine.value is None or child not in bases or bases[child] is not None:
                continue
            if child in remote or child in ROOTS:
                continue
            parent = renamed.get(folder.value.id, folder.value.id)
            key = _dupe_key(mine.value, parent, local_pos.get(child))
            if key is not None and candidates.get(key):
                renamed[child] = candidates[key].pop(0)
    if not renamed:
        return []
    for item_id in list(local):
        side = local[item_id]
        if side.value is None:
            continue
        value = side.value
        changes: dict[str, Any] = {}
        if value.parentid in renamed:
            changes["parentid"] = renamed[value.parentid]
        if value.children and any(c in renamed for c in value.children):
            changes["children"] = [renamed.get(c, c) for c in value.children]
        if item_id in renamed:
            changes["id"] = renamed[item_id]
        if changes:
            value = value.model_copy(update=changes)
            local[item_id] = Side(value, side.edited, True, dumps(value.to_wire()))
    for old, new in renamed.items():
        local[new] = local.pop(old)
    return sorted(renamed)


def significant(content: str | None) -> str | None:
    """A record's content without ``parentName``, which is informational (never a reason to
    upload; a-s re-derives it on every upload)."""
    if content is None or content == TOMBSTONE:
        return content
    data = json.loads(content)
    data.pop("parentName", None)
    return dumps(data)


def pick(item_id: str, mine: Side | None, theirs: Side | None, base: str | None) -> Side | None:
    """The copy the merged tree takes of one item: the side that changed since ``base`` (the
    content both last agreed on; None for a never-synced item), both → the later edit (a tie
    to the server); an invalid remote copy loses to a valid local one; then the deletion
    rules of :func:`_deletions`."""
    if theirs is None:
        return mine
    if mine is None:
        return theirs
    ours_changed = mine.changed and mine.content != base
    theirs_changed = theirs.changed and theirs.content != base
    if ours_changed and theirs_changed:
        winner = mine if mine.edited > theirs.edited else theirs
    elif ours_changed:
        winner = mine
    else:
        winner = theirs
    if winner is theirs and theirs.invalid and mine.value is not None:
        return mine  # a valid local copy replaces an invalid remote one
    return _deletions(item_id, winner, mine, theirs, ours_changed, theirs_changed)


def pick_winners(
    local: Mapping[str, Side], remote: Mapping[str, Side], bases: Mapping[str, str | None]
) -> dict[str, Side]:
    """Each item's winning copy (``bases``: the content last agreed, per local item)."""
    winners: dict[str, Side] = {}
    for item_id in sorted(set(remote) | set(local)):
        if item_id == PLACES:
            continue
        winner = pick(item_id, local.get(item_id), remote.get(item_id), bases.get(item_id))
        if winner is not None:
            winners[item_id] = winner
    return winners


def tree_item(side: Side, item: BookmarkItem) -> TreeItem:
    """What the tree builder needs of one copy."""
    return TreeItem(
        item.type,
        item.parentid,
        tuple(item.children or ()) if item.is_folder else (),
        side.edited,
        invalid=side.invalid is not None,
    )


def survivors(
    winners: Mapping[str, Side], local: Mapping[str, Side], remote: Mapping[str, Side]
) -> tuple[dict[str, BookmarkItem], dict[str, TreeItem], set[str]]:
    """The live items (a deleted folder's surviving children moved to its closest surviving
    ancestor), their tree items, and the deleted ids."""
    deleted_parent: dict[str, str | None] = {}
    for item_id, side in winners.items():
        if side.value is None:
            before = [s.value for s in (local.get(item_id), remote.get(item_id)) if s]
            folders = [v for v in before if v is not None and v.is_folder]
            if folders:
                deleted_parent[item_id] = folders[0].parentid
    live: dict[str, BookmarkItem] = {}
    items: dict[str, TreeItem] = {}
    for item_id, side in winners.items():
        if side.value is None:
            continue
        item = side.value
        parentid = item.parentid
        hops = 0
        while parentid in deleted_parent and hops <= len(deleted_parent):
            parentid = deleted_parent[parentid]
            hops += 1
        if parentid != item.parentid:
            item = item.model_copy(update={"parentid": parentid})
        live[item_id] = item
        items[item_id] = tree_item(side, item)
    return live, items, {i for i, s in winners.items() if s.value is None}


def describe(
    tree: BuiltTree,
    live: Mapping[str, BookmarkItem],
    local: Mapping[str, Side],
    remote: Mapping[str, Side],
    root_record: Callable[[str], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Every item in the merged tree as the record that describes it."""
    titles = {i: (v.title or "") for i, v in live.items()}
    final: dict[str, dict[str, Any]] = {}
    for item_id, parent in tree.parent.items():
        # (a root that had no record gets a fresh one)
        data = live[item_id].to_wire() if item_id in live else root_record(item_id)
        data["parentid"] = parent
        data["parentName"] = "" if parent == PLACES else titles.get(parent, "")
        kind = data.get("type")
        if kind == "folder":
            data["children"] = list(tree.children.get(item_id, []))
        elif kind == "separator":
            data["pos"] = tree.position(item_id)
        dates = [
            s.value.dateAdded
            for s in (local.get(item_id), remote.get(item_id))
            if s is not None and s.value is not None and s.value.dateAdded is not None
        ]
        if dates:
            data["dateAdded"] = min(dates)  # the earliest dateAdded wins (a-s)
        final[item_id] = data
    return final
