"""Bookmark trees from records: build, detect problems, repair. Pure: no I/O, no store.

The Sync server cannot check bookmarks (it only sees ciphertext), so a downloaded tree may be
inconsistent: a folder's ``children`` and its children's ``parentid`` disagree, an item is
claimed by two folders, a user root sits in another folder, a folder lists an id that has no
record or a tombstone, an item points at a parent that does not exist. :func:`build_tree`
accepts any of that and resolves it with dogear's five rules (mozilla/dogear ``src/tree.rs``,
https://github.com/mozilla/dogear/blob/main/docs/divergences.md):

1. the four user roots (``menu``, ``toolbar``, ``unfiled``, ``mobile``) always go under the
   Places root (``places``), which is never a record;
2. an item claimed by several folders' ``children``, or whose ``parentid`` disagrees, goes to
   the youngest (most recently edited) claimant, ``children`` claims before ``parentid``;
3. an item listed by no folder whose ``parentid`` is a live folder is appended to it;
4. any other item (no parent, a missing, deleted or non-folder parent) is appended to
   ``unfiled``;
5. (``unfiled`` always exists here: a missing root is created, so rule 5 never applies.)

Beyond dogear, a cycle (folders that contain each other away from the roots) does not abort:
the cycle is cut by moving its smallest id to ``unfiled`` (counted as ``cycles``). Invalid
items (validity *Replace*, decided by the caller) are left out, their children reparented.

The result is a valid five-root tree, the problems found (per item, with counts named as
dogear's ``ProblemCounts``) and the ids whose record must change to describe it (*diverged*:
re-uploaded by the engine).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

__all__ = [
    "PLACES",
    "ROOTS",
    "BuiltTree",
    "Problem",
    "ProblemCounts",
    "TreeItem",
    "build_tree",
    "tree_errors",
]

#: The Places root's wire id: only ever a ``parentid``, never a record.
PLACES = "places"
#: The user content roots, in the order Places keeps them under the Places root.
ROOTS = ("menu", "toolbar", "unfiled", "mobile")
#: Where orphans go (a-s ``reparent_orphans_to``).
ORPHANAGE = "unfiled"
FOLDER_KINDS = frozenset({"folder"})


@dataclass(frozen=True)
class TreeItem:
    """What the tree needs of one live record.

    Attributes:
        kind: the record ``type`` (``folder`` items may have children).
        parentid: the record's ``parentid`` (None when absent).
        children: a folder's ``children`` (ignored for other kinds).
        edited: when the record was edited; the larger, the younger (rule 2).
        invalid: validity *Replace*: left out of the tree.
    """

    kind: str
    parentid: str | None = None
    children: tuple[str, ...] = ()
    edited: float = 0.0
    invalid: bool = False

    @property
    def is_folder(self) -> bool:
        return self.kind in FOLDER_KINDS


@dataclass(frozen=True)
class Problem:
    """One inconsistency found, on item ``id``: ``kind`` is one of the :class:`ProblemCounts`
    field names (singular forms), ``detail`` names the ids involved."""

    id: str
    kind: str
    detail: str = ""


@dataclass
class ProblemCounts:
    """How many of each problem a tree had (dogear's ``ProblemCounts`` names, plus cycles)."""

    orphans: int = 0
    misparented_roots: int = 0
    multiple_parents_by_children: int = 0
    missing_parent_guids: int = 0
    deleted_parent_guids: int = 0
    non_folder_parent_guids: int = 0
    parent_child_disagreements: int = 0
    missing_children: int = 0
    deleted_children: int = 0
    invalid_items: int = 0
    cycles: int = 0

    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class BuiltTree:
    """A valid five-root tree and what it took to get there.

    Attributes:
        parent: each item's parent id (roots → ``places``).
        children: each folder's children in order (``places`` → the four roots).
        problems: the inconsistencies found, in a deterministic order.
        counts: the same, counted.
        diverged: ids whose record does not describe the tree (re-upload them).
        created_roots: roots that had no record and were added.
        left_out: invalid items (not in the tree).
    """

    parent: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    counts: ProblemCounts = field(default_factory=ProblemCounts)
    diverged: set[str] = field(default_factory=set)
    created_roots: list[str] = field(default_factory=list)
    left_out: set[str] = field(default_factory=set)

    def position(self, item_id: str) -> int:
        """The item's index in its parent's children."""
        return self.children[self.parent[item_id]].index(item_id)

    def descendants(self, folder: str) -> list[str]:
        """Every item under ``folder``, depth first, in order."""
        out: list[str] = []
        stack = list(reversed(self.children.get(folder, [])))
        while stack:
            item = stack.pop()
            out.append(item)
            stack.extend(reversed(self.children.get(item, [])))
        return out


def build_tree(items: Mapping[str, TreeItem], tombstones: Iterable[str] = ()) -> BuiltTree:
    """The tree ``items`` describe, repaired (see the module docstring).

    Args:
        items: live records by id (``places`` is ignored: it is never a record).
        tombstones: ids of deleted records (an id both live and deleted is live: a zombie,
            which diverges so that the live record goes up again).
    """
    out = BuiltTree()
    deleted = set(tombstones)
    live: dict[str, TreeItem] = {}
    for item_id in sorted(items):
        item = items[item_id]
        if item_id == PLACES:
            continue
        if item.invalid:
            out.left_out.add(item_id)
            _problem(out, item_id, "invalid_items", "")
            continue
        if item_id in deleted:  # a zombie: the tombstone is forgotten
            deleted.discard(item_id)
            out.diverged.add(item_id)
        live[item_id] = item
    for root in ROOTS:
        if root not in live or not live[root].is_folder:
            if root in live:  # a root of another kind is unusable: replace it
                _problem(out, root, "invalid_items", "root is not a folder")
            live[root] = TreeItem("folder", PLACES, (), float("-inf"))
            out.created_roots.append(root)
            out.diverged.add(root)

    def is_folder(item_id: str | None) -> bool:
        return item_id is not None and item_id in live and live[item_id].is_folder

    # Children claims, in each folder's order; missing and deleted children are dropped.
    claims: dict[str, list[str]] = {}
    for folder_id, folder in live.items():
        if not folder.is_folder:
            continue
        seen: set[str] = set()
        for child in folder.children:
            if child in seen:
                out.diverged.add(folder_id)
                continue
            seen.add(child)
            if child in (PLACES, folder_id):
                out.diverged.add(folder_id)
                continue
            if child not in live:
                if child in out.left_out:
                    pass  # counted as invalid already
                elif child in deleted:
                    _problem(out, folder_id, "deleted_children", child)
                else:
                    _problem(out, folder_id, "missing_children", child)
                out.diverged.add(folder_id)
                continue
            claims.setdefault(child, []).append(folder_id)

    # Each item's parent (rules 1-4).
    parent: dict[str, str] = {}
    appended: dict[str, list[str]] = {}
    for item_id, item in live.items():
        claimants = claims.get(item_id, [])
        if item_id in ROOTS:
            if item.parentid != PLACES or claimants:
                _problem(out, item_id, "misparented_roots", ",".join(claimants))
                _problem(out, item_id, "parent_child_disagreements", "")
                out.diverged.add(item_id)
                out.diverged.update(claimants)
            parent[item_id] = PLACES
            continue
        if claimants:
            chosen = max(claimants, key=lambda f: (live[f].edited, f))
            if len(claimants) > 1:
                _problem(out, item_id, "multiple_parents_by_children", ",".join(claimants))
                out.diverged.update(c for c in claimants if c != chosen)
            if item.parentid != chosen:
                _problem(out, item_id, "parent_child_disagreements", str(item.parentid))
                _parent_kind(out, item_id, item.parentid, live, deleted)
            if len(claimants) > 1 or item.parentid != chosen:
                out.diverged.add(item_id)
            parent[item_id] = chosen
            continue
        out.diverged.add(item_id)
        if is_folder(item.parentid) and item.parentid not in (PLACES, item_id):
            target = str(item.parentid)  # rule 3
            _problem(out, item_id, "parent_child_disagreements", target)
        else:
            target = ORPHANAGE  # rule 4
            if item.parentid is None:
                _problem(out, item_id, "orphans", "")
            else:
                _problem(out, item_id, "parent_child_disagreements", item.parentid)
                _parent_kind(out, item_id, item.parentid, live, deleted)
        parent[item_id] = target
        appended.setdefault(target, []).append(item_id)
        out.diverged.add(target)

    _cut_cycles(out, parent, appended, live)

    children: dict[str, list[str]] = {PLACES: list(ROOTS)}
    for folder_id, folder in live.items():
        if folder.is_folder:
            listed = [c for c in dict.fromkeys(folder.children) if parent.get(c) == folder_id]
            children[folder_id] = listed + appended.get(folder_id, [])
    out.parent = parent
    out.children = children
    return out


def _parent_kind(
    out: BuiltTree,
    item_id: str,
    parentid: str | None,
    live: Mapping[str, TreeItem],
    deleted: set[str],
) -> None:
    """Count what was wrong with a disagreeing ``parentid`` (dogear's three parent counts)."""
    if parentid is None or parentid == PLACES:
        return
    if parentid in deleted:
        _problem(out, item_id, "deleted_parent_guids", parentid)
    elif parentid not in live:
        _problem(out, item_id, "missing_parent_guids", parentid)
    elif not live[parentid].is_folder:
        _problem(out, item_id, "non_folder_parent_guids", parentid)


def _cut_cycles(
    out: BuiltTree,
    parent: dict[str, str],
    appended: dict[str, list[str]],
    live: Mapping[str, TreeItem],
) -> None:
    """Move one item of every cycle (its smallest id) to the orphanage."""
    reaches: dict[str, bool] = {PLACES: True}
    for start in sorted(parent):
        path: list[str] = []
        on_path: set[str] = set()
        node = start
        while node not in reaches:
            if node in on_path:
                cycle = path[path.index(node) :]
                cut = min(cycle)
                old = parent[cut]
                _problem(out, cut, "cycles", ",".join(sorted(cycle)))
                parent[cut] = ORPHANAGE
                if cut not in live[ORPHANAGE].children:  # else already in its listed order
                    appended.setdefault(ORPHANAGE, []).append(cut)
                if cut in appended.get(old, []):
                    appended[old].remove(cut)
                out.diverged.update((cut, old, ORPHANAGE))
                # Start over from this item: the path above the cut now reaches the roots.
                path, on_path, node = [], set(), start
                continue
            path.append(node)
            on_path.add(node)
            node = parent[node]
        for visited in path:
            reaches[visited] = True


def _problem(out: BuiltTree, item_id: str, kind: str, detail: str) -> None:
    out.problems.append(Problem(item_id, kind, detail))
    setattr(out.counts, kind, getattr(out.counts, kind) + 1)


def tree_errors(tree: BuiltTree, ids: Iterable[str]) -> list[str]:
    """What is wrong with ``tree`` as a five-root tree holding exactly ``ids`` (empty: valid).

    Checks: ``places`` holds exactly the four roots; every item has one parent that lists it
    exactly once; every item reaches ``places``; nothing else is in the tree.
    """
    errors: list[str] = []
    expected = set(ids) | set(ROOTS)
    if tree.children.get(PLACES) != list(ROOTS):
        errors.append("places does not hold exactly the four roots")
    listed: dict[str, int] = {}
    for folder, kids in tree.children.items():
        for kid in kids:
            listed[kid] = listed.get(kid, 0) + 1
            if tree.parent.get(kid) != folder:
                errors.append(f"{kid} is listed by {folder} but its parent is another")
    for item in expected:
        if listed.get(item) != 1:
            errors.append(f"{item} is listed {listed.get(item, 0)} times")
        node, seen = item, set()
        while node != PLACES:
            if node in seen:
                errors.append(f"{item} is in a cycle")
                break
            seen.add(node)
            above = tree.parent.get(node)
            if above is None:
                errors.append(f"{item} does not reach places")
                break
            node = above
    extra = set(tree.parent) - expected
    if extra:
        errors.append(f"unexpected items: {sorted(extra)}")
    return errors
