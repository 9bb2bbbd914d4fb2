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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from beacon._errors import UsageError
from beacon.client._engine_api import ApplyCounts, IncomingRecord, OutgoingRecord
from beacon.client._record_engine import EDITED
from beacon.client._records import TOMBSTONE, Records, Row, check_record_id, dumps
from beacon.client._store import Store
from beacon.client.engines._base import MAX_PROBLEMS, RecordProblem, is_tombstone
from beacon.client.engines._bookmark_edits import LocalTree
from beacon.client.engines._bookmark_merge import (
    Side,
    dedupe,
    describe,
    pick_winners,
    significant,
    survivors,
    tree_item,
)
from beacon.client.engines._bookmark_records import replace_reason
from beacon.client.engines._bookmark_tree import (
    PLACES,
    ROOTS,
    Problem,
    ProblemCounts,
    build_tree,
)
from beacon.client.engines._wire import Refused

__all__ = ["FOLDER_SORTINDEX", "BookmarksEngine"]

#: Desktop's sortindex for folders (``FOLDER_SORTINDEX``), so they download first.
FOLDER_SORTINDEX = 1_000_000
#: Ids desktop deletes instead of applying (``FORBIDDEN_INCOMING_IDS``); beacon ignores them.
FORBIDDEN_INCOMING = frozenset({"pinned", "places", "readinglist"})
MIRROR = "bookmarks~mirror"


def _edit_time(cleartext: Mapping[str, Any], modified: float) -> float:
    edited = cleartext.get(EDITED)
    if isinstance(edited, int | float) and not isinstance(edited, bool) and edited > 0:
        return float(edited)
    return modified


class BookmarksEngine(LocalTree):
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
        super().__init__(clock=clock, rng=rng)
        self._mirror = Records(MIRROR)
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

    def _report(self, record_id: str, kind: str, detail: str) -> None:
        self.problems.append(RecordProblem(record_id, kind, detail))
        del self.problems[:-MAX_PROBLEMS]

    # -- incoming: the mirror ------------------------------------------------------------------

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        """Write remote records into the mirror (the merge runs before the upload)."""
        with self.store.transaction():
            return ApplyCounts.of([self._stage(record) for record in records])

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

    def _side(self, row: Row, *, remote: bool) -> Side:
        value = None if row.deleted else self._load(row.payload)
        if not row.deleted and value is None:  # pragma: no cover - rows are validated on write
            return Side(None, row.local_modified, row.changed, row.content, "unreadable")
        invalid = replace_reason(value) if value is not None and remote else None
        return Side(value, row.local_modified, row.changed, row.content, invalid)

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
        absorbed = dedupe(local, remote, {i: r.base for i, r in local_rows.items()})

        winners = pick_winners(local, remote, {i: r.base for i, r in local_rows.items()})
        live, tree_items, tombstones = survivors(winners, local, remote)
        tree = build_tree(tree_items, tombstones)
        final = describe(tree, live, local, remote, lambda root: self._root_record(root, []))
        for gone in absorbed:  # merged into a remote item under the remote id: no tombstone
            self._local.delete_all(where="AND id = ?", params=(gone,))
            local_rows = {k: v for k, v in local_rows.items() if k != gone}
        self._store_merge(final, winners, local_rows, mirror_rows, remote)

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

    def _count_server_problems(self, remote: Mapping[str, Side]) -> None:
        items = {i: tree_item(s, s.value) for i, s in remote.items() if s.value is not None}
        server = build_tree(items, [i for i, s in remote.items() if s.value is None])
        self.tree_problems = server.problems
        self.problem_counts = server.counts

    def _store_merge(
        self,
        final: Mapping[str, dict[str, Any]],
        winners: Mapping[str, Side],
        local_rows: Mapping[str, Row],
        mirror_rows: Mapping[str, Row],
        remote: Mapping[str, Side],
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
                upload = significant(content) != significant(server_content)
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
            self._local.mark_outgoing()
        self._pending, self._sent = {}, {}

    def wipe_local(self) -> None:
        """Delete the local tree and the mirror without uploading anything; roots come back."""
        with self.store.transaction():
            self._local.delete_all()
            self._mirror.delete_all()
            self.attach(self.store)
        self._pending, self._sent = {}, {}
