"""The ``bookmarks`` engine (version 2): a tree, a mirror of the server, repairs re-uploaded.

Two tables' worth of records, both in the store's ``records`` table:

* the **local tree** (collection ``bookmarks``): what the user sees and edits, always a valid
  five-root tree (the local API keeps it so, and every merge writes a repaired tree);
* the **mirror** (collection ``bookmarks~mirror``, a name no Sync collection can have):
  exactly what the server holds, record by record, raw (unknown fields and all), tombstones
  included, with a *needs merge* flag (the row's ``changed`` column) on what arrived since the
  last merge (as a-s ``moz_bookmarks_synced``; desktop "pioneered the concept of a mirror").

``apply_incoming`` only writes the mirror: a tree cannot be merged page by page, since a
folder's children may be on the next page. The merge runs when the upload asks for
:meth:`BookmarksEngine.outgoing`, over the whole mirror and the whole local tree:

1. per item, a winner: the side that changed since the content both last agreed on (the base)
   wins; both changed → the later edit (``_edited``, else the server time; a tie goes to the
   server, so devices converge). A deletion loses to a changed bookmark on the other side
   (revived) but a deleted folder stays deleted and its surviving children move to the
   closest surviving ancestor; a root is never deleted. An invalid remote item loses to a
   valid local copy, else it is deleted (dogear ``reupload_replace``);
2. the winners go through :func:`~._bookmark_tree.build_tree` (dogear's rules), which also
   runs on the mirror alone to count the **server tree's problems**
   (:attr:`BookmarksEngine.problem_counts`, :attr:`BookmarksEngine.tree_problems`);
3. every item is rewritten to describe the merged tree (``parentid``, ``parentName``, a
   folder's ordered ``children``, a separator's ``pos``, the earliest ``dateAdded`` of both
   sides); whatever differs from the mirror is uploaded: the repairs of an inconsistent
   server tree go up with the local edits.

Before the winners are picked, never-synced local items that duplicate new remote ones (same
parent and type; title and URL, title for folders, position for separators: dogear's
``DupeKey``) take the remote id, so a device that starts with the same bookmarks as the
account does not double them. Livemarks are kept as items (dogear would delete them; beacon
is not Places and loses no record it can keep). Not done: the Places query rewrites
(``place:…type=7``, ``folder=``) and the tag/keyword consistency across bookmarks of the same
URL.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from beacon._errors import UsageError
from beacon.client._engine_api import ApplyCounts, IncomingRecord, OutgoingRecord
from beacon.client._record_engine import EDITED
from beacon.client._records import TOMBSTONE, Records, Row, check_record_id, dumps
from beacon.client._store import Store, new_guid
from beacon.client.engines._base import MAX_PROBLEMS, RecordProblem, is_tombstone
from beacon.client.engines._bookmark_records import BookmarkItem, replace_reason
from beacon.client.engines._bookmark_tree import (
    PLACES,
    ROOTS,
    BuiltTree,
    Problem,
    ProblemCounts,
    TreeItem,
    build_tree,
)
from beacon.client.engines._wire import Refused, decode_model, local_model

__all__ = ["FOLDER_SORTINDEX", "BookmarksEngine"]

#: Desktop's sortindex for folders (``FOLDER_SORTINDEX``), so they download first.
FOLDER_SORTINDEX = 1_000_000
#: Ids desktop deletes instead of applying (``FORBIDDEN_INCOMING_IDS``); beacon ignores them.
FORBIDDEN_INCOMING = frozenset({"pinned", "places", "readinglist"})
MIRROR = "bookmarks~mirror"


@dataclass
class _Side:
    """One side's copy of an item for the merge."""

    value: BookmarkItem | None  # None: a tombstone
    edited: float
    changed: bool
    content: str | None
    invalid: str | None = None


def _edit_time(cleartext: Mapping[str, Any], modified: float) -> float:
    edited = cleartext.get(EDITED)
    if isinstance(edited, int | float) and not isinstance(edited, bool) and edited > 0:
        return float(edited)
    return modified


def _deletions(
    item_id: str,
    winner: _Side,
    mine: _Side,
    theirs: _Side,
    ours_changed: bool,
    theirs_changed: bool,
) -> _Side:
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


def _positions(sides: Mapping[str, _Side]) -> dict[str, int]:
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


def _dedupe(
    local: dict[str, _Side], remote: Mapping[str, _Side], rows: Mapping[str, Row]
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
            row = rows.get(child)
            if mine is None or mine.value is None or row is None or row.base is not None:
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
            local[item_id] = _Side(value, side.edited, True, dumps(value.to_wire()))
    for old, new in renamed.items():
        local[new] = local.pop(old)
    return sorted(renamed)


def _significant(content: str | None) -> str | None:
    """A record's content without ``parentName``, which is informational (never a reason to
    upload; a-s re-derives it on every upload)."""
    if content is None or content == TOMBSTONE:
        return content
    data = json.loads(content)
    data.pop("parentName", None)
    return dumps(data)


class BookmarksEngine:
    """The ``bookmarks`` collection as a tree (see the module docstring).

    Args:
        store: the account store, or None to be attached later by ``SyncClient``.
        clock: POSIX seconds (edit times, ``dateAdded`` of new items).
        rng: randomness for new item ids (12-character Places GUIDs).
    """

    name = "bookmarks"
    version = 2

    def __init__(
        self,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._local = Records(self.name)
        self._mirror = Records(MIRROR)
        self._clock = clock
        self._rng = rng
        self._pending: dict[str, int] = {}
        self._sent: dict[str, dict[str, Any]] = {}
        #: Remote records refused or repaired on arrival (id, kind, field names).
        self.problems: list[RecordProblem] = []
        #: The server tree's problems found by the last merge, and their counts.
        self.tree_problems: list[Problem] = []
        self.problem_counts = ProblemCounts()
        if store is not None:
            self.attach(store)

    def __repr__(self) -> str:
        return "BookmarksEngine()"

    def attach(self, store: Store) -> None:
        """Keep the tree and the mirror in ``store``; the four roots exist from now on."""
        self._local.attach(store)
        self._mirror.attach(store)
        with store.transaction():
            for root in ROOTS:
                if self._local.row(root) is None:
                    self._local.write(
                        root,
                        payload=dumps(self._root_record(root, [])),
                        deleted=False,
                        server_modified=None,
                        local_modified=0.0,  # any copy of the root from a server wins
                        changed=True,
                        bump=True,
                    )

    @property
    def store(self) -> Store:
        return self._local.store

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _root_record(self, root: str, children: list[str]) -> dict[str, Any]:
        return {
            "id": root,
            "type": "folder",
            "parentid": PLACES,
            "parentName": "",
            "title": root,
            "children": children,
        }  # no dateAdded: a made-up one would win over the server's as the earliest

    def _decode(self, data: Mapping[str, Any]) -> tuple[BookmarkItem, list[str]]:
        return decode_model(BookmarkItem, data, now_ms=self._now_ms())

    def _load(self, payload: str | None) -> BookmarkItem | None:
        if payload is None:
            return None
        try:
            return self._decode(json.loads(payload))[0]
        except (Refused, ValueError):
            return None

    def _report(self, record_id: str, kind: str, detail: str) -> None:
        self.problems.append(RecordProblem(record_id, kind, detail))
        del self.problems[:-MAX_PROBLEMS]

    # -- reading the local tree ----------------------------------------------------------------

    def get(self, item_id: str) -> BookmarkItem | None:
        """A live item, or None."""
        row = self._local.row(check_record_id(item_id))
        if row is None or row.deleted:
            return None
        return self._load(row.payload)

    def children(self, folder_id: str) -> list[BookmarkItem]:
        """A folder's items, in order (``places``: the four roots)."""
        ids = list(ROOTS) if folder_id == PLACES else None
        if ids is None:
            folder = self.get(folder_id)
            if folder is None or not folder.is_folder:
                raise UsageError(f"not a folder: {folder_id!r}")
            ids = list(folder.children or [])
        return [item for item in (self.get(i) for i in ids) if item is not None]

    def items(self) -> Iterator[BookmarkItem]:
        """Every item below the roots (and the roots), depth first in tree order."""
        stack = list(reversed(ROOTS))
        while stack:
            item = self.get(stack.pop())
            if item is None:
                continue
            yield item
            if item.is_folder:
                stack.extend(reversed(item.children or []))

    def tree(self, folder_id: str = PLACES) -> dict[str, Any]:
        """The tree under ``folder_id`` as nested JSON (each folder with ``children`` items)."""
        if folder_id == PLACES:
            return {"id": PLACES, "type": "folder", "children": [self.tree(r) for r in ROOTS]}
        item = self.get(folder_id)
        if item is None:
            raise UsageError(f"no bookmark item {folder_id!r}")
        node = item.to_wire()
        if item.is_folder:
            node["children"] = [self.tree(c) for c in item.children or [] if self.get(c)]
        return node

    def by_tag(self, tag: str) -> list[BookmarkItem]:
        """The bookmarks carrying ``tag``."""
        return [i for i in self.items() if i.type == "bookmark" and tag in (i.tags or [])]

    def by_keyword(self, keyword: str) -> list[BookmarkItem]:
        """The bookmarks with ``keyword`` (keywords are lower-case)."""
        wanted = keyword.strip().lower()
        return [i for i in self.items() if i.keyword == wanted]

    # -- editing the local tree ----------------------------------------------------------------

    def _write(self, item_id: str, data: Mapping[str, Any] | None) -> None:
        row = self._local.row(item_id)
        self._local.write(
            item_id,
            payload=dumps(data) if data is not None else None,
            deleted=data is None,
            server_modified=row.server_modified if row else None,
            local_modified=self._clock(),
            changed=True,
            bump=True,
            base=row.base if row else None,
        )

    def _folder(self, folder_id: str) -> BookmarkItem:
        folder = self.get(folder_id)
        if folder is None or not folder.is_folder:
            raise UsageError(f"not a folder: {folder_id!r}")
        return folder

    def _insert(self, parent: str, data: dict[str, Any], index: int | None) -> BookmarkItem:
        with self.store.transaction():
            folder = self._folder(parent)
            data = {
                **data,
                "id": data.get("id") or new_guid(self._rng),
                "parentid": parent,
                "parentName": folder.title or "",
                "dateAdded": data.get("dateAdded", self._now_ms()),
            }
            item = local_model(BookmarkItem, data, now_ms=self._now_ms())
            reason = replace_reason(item)
            if reason is not None:
                raise UsageError(f"not a valid {item.type}: {reason}")
            if self.get(item.id) is not None:
                raise UsageError(f"bookmark item {item.id!r} exists")
            kids = list(folder.children or [])
            kids.insert(len(kids) if index is None else max(0, index), item.id)
            self._write(item.id, item.to_wire())
            self._write(parent, {**folder.to_wire(), "children": kids})
        return item

    def create_bookmark(
        self,
        parent: str,
        url: str,
        *,
        title: str | None = None,
        tags: Sequence[str] = (),
        keyword: str | None = None,
        index: int | None = None,
        **fields: Any,
    ) -> BookmarkItem:
        """A new bookmark in folder ``parent`` (at ``index``, default last)."""
        data = {**fields, "type": "bookmark", "bmkUri": url, "title": title, "tags": list(tags)}
        if keyword is not None:
            data["keyword"] = keyword
        return self._insert(parent, data, index)

    def create_folder(
        self, parent: str, title: str, *, index: int | None = None, **fields: Any
    ) -> BookmarkItem:
        """A new, empty folder."""
        data = {**fields, "type": "folder", "title": title, "children": []}
        return self._insert(parent, data, index)

    def create_separator(self, parent: str, *, index: int | None = None) -> BookmarkItem:
        """A new separator."""
        return self._insert(parent, {"type": "separator"}, index)

    def create_query(
        self, parent: str, url: str, *, title: str | None = None, index: int | None = None
    ) -> BookmarkItem:
        """A new query (a ``place:`` URL)."""
        return self._insert(parent, {"type": "query", "bmkUri": url, "title": title}, index)

    def update(self, item_id: str, **changes: Any) -> BookmarkItem:
        """Change fields of an item (``title``, ``bmkUri``, ``tags``, ``keyword``, unknown
        ones...); ``None`` removes a field. Structure changes go through :meth:`move`."""
        if {"id", "type", "parentid", "children", "deleted", EDITED} & set(changes):
            raise UsageError("id, type, parentid and children are changed by move() only")
        with self.store.transaction():
            old = self.get(item_id)
            if old is None:
                raise UsageError(f"no bookmark item {item_id!r}")
            data = old.to_wire()
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            item = local_model(BookmarkItem, data, now_ms=self._now_ms())
            reason = replace_reason(item)
            if reason is not None:
                raise UsageError(f"not a valid {item.type}: {reason}")
            self._write(item_id, item.to_wire())
            if item.is_folder and item.title != old.title:
                for child in self.children(item_id):  # keep parentName in step
                    self._write(child.id, {**child.to_wire(), "parentName": item.title or ""})
        return item

    def move(self, item_id: str, parent: str, *, index: int | None = None) -> None:
        """Move an item to folder ``parent`` (at ``index``, default last)."""
        if item_id in ROOTS:
            raise UsageError("the roots cannot move")
        with self.store.transaction():
            item = self.get(item_id)
            if item is None:
                raise UsageError(f"no bookmark item {item_id!r}")
            target = self._folder(parent)
            node: str | None = parent
            while node is not None and node != PLACES:
                if node == item_id:
                    raise UsageError("cannot move a folder into itself")
                above = self.get(node)
                node = above.parentid if above is not None else None
            old_parent = item.parentid
            if old_parent is not None and old_parent != parent:
                source = self.get(old_parent)
                if source is not None and source.is_folder:
                    kids = [c for c in source.children or [] if c != item_id]
                    self._write(old_parent, {**source.to_wire(), "children": kids})
            kids = [c for c in target.children or [] if c != item_id]
            kids.insert(len(kids) if index is None else max(0, index), item_id)
            self._write(parent, {**target.to_wire(), "children": kids})
            self._write(
                item_id, {**item.to_wire(), "parentid": parent, "parentName": target.title or ""}
            )

    def delete(self, item_id: str) -> bool:
        """Delete an item and, for a folder, everything in it; False when there was none."""
        if item_id in ROOTS or item_id == PLACES:
            raise UsageError("the roots cannot be deleted")
        with self.store.transaction():
            item = self.get(item_id)
            if item is None:
                return False
            parent = self.get(item.parentid) if item.parentid else None
            if parent is not None and parent.is_folder:
                kids = [c for c in parent.children or [] if c != item_id]
                self._write(parent.id, {**parent.to_wire(), "children": kids})
            stack = [item_id]
            while stack:
                current = stack.pop()
                found = self.get(current)
                if found is not None and found.is_folder:
                    stack.extend(found.children or [])
                self._write(current, None)
        return True

    # -- incoming: the mirror ------------------------------------------------------------------

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        """Write remote records into the mirror (the merge runs before the upload)."""
        applied = reconciled = failed = 0
        with self.store.transaction():
            for record in records:
                outcome = self._stage(record)
                applied += outcome == "applied"
                reconciled += outcome == "reconciled"
                failed += outcome == "failed"
        return ApplyCounts(applied, reconciled, failed)

    def _stage(self, record: IncomingRecord) -> str:
        rid = record.id
        try:
            check_record_id(rid)
        except UsageError:
            self._report(str(rid)[:64], "refused", "record id is not a valid Sync id")
            return "failed"
        clear = record.cleartext
        if not isinstance(clear, Mapping) or clear.get("id", rid) != rid:
            self._report(rid, "refused", "cleartext id differs from the record id")
            return "failed"
        if rid in FORBIDDEN_INCOMING:
            return "reconciled"
        fields = {k: v for k, v in clear.items() if k != EDITED}
        fields["id"] = rid
        deleted = is_tombstone(fields)
        if not deleted:
            try:
                _, fixes = self._decode(fields)
                payload: str | None = dumps(fields)
            except (Refused, TypeError, ValueError) as exc:
                reason = exc.reason if isinstance(exc, Refused) else "not JSON"
                self._report(rid, "refused", reason)
                return "failed"
            if fixes:
                self._report(rid, "repaired", ", ".join(sorted(set(fixes))))
        else:
            payload = None
        row = self._mirror.row(rid)
        held = row.server_modified if row is not None else None
        if held is not None and record.modified < held:
            return "reconciled"  # a replay of an older copy
        content = TOMBSTONE if deleted else payload
        same = row is not None and row.content == content
        self._mirror.write(
            rid,
            payload=payload,
            deleted=deleted,
            server_modified=record.modified,
            local_modified=_edit_time(clear, record.modified),
            changed=row.changed if same and row is not None else True,
            bump=not same,
        )
        return "reconciled" if same else "applied"

    # -- the merge -----------------------------------------------------------------------------

    def _rows(self, records: Records) -> dict[str, Row]:
        ids = records.sql(
            "SELECT id FROM records WHERE collection = ? ORDER BY id", (records.collection,)
        )
        out: dict[str, Row] = {}
        for (item_id,) in ids:
            row = records.row(item_id)
            if row is not None:
                out[item_id] = row
        return out

    def _side(self, row: Row, *, remote: bool) -> _Side:
        value = None if row.deleted else self._load(row.payload)
        if not row.deleted and value is None:  # pragma: no cover - rows are validated on write
            return _Side(None, row.local_modified, row.changed, row.content, "unreadable")
        invalid = replace_reason(value) if value is not None and remote else None
        return _Side(value, row.local_modified, row.changed, row.content, invalid)

    def merge(self) -> None:
        """Merge the mirror into the local tree now (:meth:`outgoing` runs it first)."""
        with self.store.transaction():
            self._merge()

    def _merge(self) -> None:
        mirror_rows = self._rows(self._mirror)
        local_rows = self._rows(self._local)
        remote = {i: self._side(r, remote=True) for i, r in mirror_rows.items()}
        local = {i: self._side(r, remote=False) for i, r in local_rows.items()}
        if any(side.changed for side in remote.values()):
            self._count_server_problems(remote)
        absorbed = _dedupe(local, remote, local_rows)

        winners: dict[str, _Side] = {}
        for item_id in sorted(set(remote) | set(local)):
            if item_id == PLACES:
                continue
            winner = self._pick(item_id, local.get(item_id), remote.get(item_id), local_rows)
            if winner is not None:
                winners[item_id] = winner

        # A deleted folder's surviving children move to its closest surviving ancestor.
        deleted_parent: dict[str, str | None] = {}
        for item_id, side in winners.items():
            if side.value is None:
                before = [s.value for s in (local.get(item_id), remote.get(item_id)) if s]
                folders = [v for v in before if v is not None and v.is_folder]
                if folders:
                    deleted_parent[item_id] = folders[0].parentid
        live: dict[str, BookmarkItem] = {}
        tree_items: dict[str, TreeItem] = {}
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
            tree_items[item_id] = TreeItem(
                item.type,
                item.parentid,
                tuple(item.children or ()) if item.is_folder else (),
                side.edited,
                invalid=side.invalid is not None,
            )
        tombstones = {i for i, s in winners.items() if s.value is None}
        tree = build_tree(tree_items, tombstones)
        final = self._describe(tree, live, local, remote)
        for gone in absorbed:  # merged into a remote item under the remote id: no tombstone
            self._local.delete_all(where="AND id = ?", params=(gone,))
            local_rows = {k: v for k, v in local_rows.items() if k != gone}
        self._store_merge(final, winners, local_rows, mirror_rows, remote)

    def _pick(
        self, item_id: str, mine: _Side | None, theirs: _Side | None, rows: Mapping[str, Row]
    ) -> _Side | None:
        if theirs is None:
            return mine
        if mine is None:
            return theirs
        row = rows.get(item_id)
        base = row.base if row is not None else None  # None: a never-synced dupe renamed
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

    def problem_report(self) -> dict[str, Any]:
        """What the last runs found, as JSON: refused/repaired records and the server tree's
        problems (counts, and per item)."""
        return {
            "records": [vars(p) for p in self.problems],
            "tree": self.problem_counts.to_json(),
            "tree_items": [vars(p) for p in self.tree_problems],
        }

    def check_server_tree(self) -> ProblemCounts:
        """Count the problems of the tree the server holds (the mirror), now."""
        rows = self._rows(self._mirror)
        self._count_server_problems({i: self._side(r, remote=True) for i, r in rows.items()})
        return self.problem_counts

    def _count_server_problems(self, remote: Mapping[str, _Side]) -> None:
        items = {
            i: TreeItem(
                s.value.type,
                s.value.parentid,
                tuple(s.value.children or ()) if s.value.is_folder else (),
                s.edited,
                invalid=s.invalid is not None,
            )
            for i, s in remote.items()
            if s.value is not None
        }
        server = build_tree(items, [i for i, s in remote.items() if s.value is None])
        self.tree_problems = server.problems
        self.problem_counts = server.counts

    def _describe(
        self,
        tree: BuiltTree,
        live: Mapping[str, BookmarkItem],
        local: Mapping[str, _Side],
        remote: Mapping[str, _Side],
    ) -> dict[str, dict[str, Any]]:
        """Every item in the merged tree as the record that describes it."""
        titles = {i: (v.title or "") for i, v in live.items()}
        final: dict[str, dict[str, Any]] = {}
        for item_id, parent in tree.parent.items():
            # (a root that had no record gets a fresh one)
            data = live[item_id].to_wire() if item_id in live else self._root_record(item_id, [])
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

    def _store_merge(
        self,
        final: Mapping[str, dict[str, Any]],
        winners: Mapping[str, _Side],
        local_rows: Mapping[str, Row],
        mirror_rows: Mapping[str, Row],
        remote: Mapping[str, _Side],
    ) -> None:
        for item_id in sorted(set(final) | set(local_rows) | set(mirror_rows)):
            if item_id == PLACES:
                continue
            data = final.get(item_id)
            content = dumps(data) if data is not None else TOMBSTONE
            server = mirror_rows.get(item_id)
            server_content = server.content if server is not None else None
            if data is None:
                upload = server is not None and not server.deleted
                side = remote.get(item_id)
                if side is not None and side.invalid and upload:
                    self._report(item_id, "deleted", f"invalid on the server: {side.invalid}")
            else:
                upload = _significant(content) != _significant(server_content)
            row = local_rows.get(item_id)
            winner = winners.get(item_id)
            edited = winner.edited if winner is not None else self._clock()
            if row is not None and (row.content, row.changed, row.base) == (
                content,
                upload,
                server_content,
            ):
                continue
            self._local.write(
                item_id,
                payload=content if data is not None else None,
                deleted=data is None,
                server_modified=server.server_modified if server is not None else None,
                local_modified=edited,
                changed=upload,
                bump=True,
                base=server_content,
            )
        for item_id, mirrored in mirror_rows.items():
            if mirrored.changed:
                self._mirror.write(
                    item_id,
                    payload=mirrored.payload,
                    deleted=mirrored.deleted,
                    server_modified=mirrored.server_modified,
                    local_modified=mirrored.local_modified,
                    changed=False,
                    bump=False,
                )

    # -- outgoing ------------------------------------------------------------------------------

    def outgoing(self) -> list[OutgoingRecord]:
        """Merge, then every item whose record differs from the server's (tombstones too)."""
        out: list[OutgoingRecord] = []
        pending: dict[str, int] = {}
        sent: dict[str, dict[str, Any]] = {}
        with self.store.transaction():
            if self._mirror.changed_rows() or self._local.changed_rows():
                self._merge()  # else nothing arrived and nothing changed: no merge to run
            for item_id, row in self._local.changed_rows():
                if row.deleted or row.payload is None:
                    cleartext: dict[str, Any] = {"id": item_id, "deleted": True}
                else:
                    cleartext = json.loads(row.payload)
                sent[item_id] = dict(cleartext)
                pending[item_id] = row.change_counter
                sortindex = FOLDER_SORTINDEX if cleartext.get("type") == "folder" else None
                out.append(
                    OutgoingRecord(
                        item_id, {**cleartext, EDITED: row.local_modified}, sortindex=sortindex
                    )
                )
        self._pending, self._sent = pending, sent
        return out

    def mark_uploaded(self, ids: Iterable[str], server_modified: float) -> None:
        """The server stored these ids: the mirror holds what was sent."""
        ids = list(ids)
        with self.store.transaction():
            for item_id in ids:
                cleartext = self._sent.get(item_id)
                if cleartext is None:
                    continue
                deleted = is_tombstone(cleartext)
                row = self._local.row(item_id)
                self._mirror.write(
                    item_id,
                    payload=None if deleted else dumps(cleartext),
                    deleted=deleted,
                    server_modified=server_modified,
                    local_modified=row.local_modified if row is not None else self._clock(),
                    changed=False,
                    bump=False,
                )
            self._local.mark_uploaded(ids, server_modified, self._pending)

    def reset(self) -> None:
        """Forget the server: the mirror is emptied and every local item becomes outgoing."""
        with self.store.transaction():
            self._mirror.delete_all()
            self._local.sql(
                "UPDATE records SET changed = 1, server_modified = NULL,"
                " change_counter = change_counter + 1 WHERE collection = ?",
                (self.name,),
            )
        self._pending, self._sent = {}, {}

    def wipe_local(self) -> None:
        """Delete the local tree and the mirror without uploading anything; roots come back."""
        with self.store.transaction():
            self._local.delete_all()
            self._mirror.delete_all()
            self.attach(self.store)
        self._pending, self._sent = {}, {}
