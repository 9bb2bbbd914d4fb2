"""The local bookmark tree: reading it and editing it so that it stays a valid tree.

:class:`LocalTree` is the user-facing half of :class:`~._bookmarks.BookmarksEngine`: every
edit writes the item and the folders whose ``children`` change, as outgoing rows of the
store's ``records`` table (collection ``bookmarks``), timed by the engine's clock.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from beacon._errors import UsageError
from beacon.client._record_engine import EDITED
from beacon.client._records import Records, check_record_id, dumps
from beacon.client._store import Store, new_guid
from beacon.client.engines._bookmark_records import BookmarkItem, replace_reason
from beacon.client.engines._bookmark_tree import PLACES, ROOTS
from beacon.client.engines._wire import Refused, decode_model, local_model

__all__ = ["LocalTree"]


class LocalTree:
    """Reading and editing the local tree (the engine adds syncing)."""

    name = "bookmarks"

    def __init__(
        self, *, clock: Callable[[], float] = time.time, rng: Callable[[int], bytes] = os.urandom
    ) -> None:
        self._local = Records(self.name)
        self._clock = clock
        self._rng = rng

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
