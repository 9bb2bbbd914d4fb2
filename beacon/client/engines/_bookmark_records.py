"""Bookmark records (engine version 2): one model for the five types, with a-s's repairs.

Fields (a-s ``bookmark_sync/record.rs``): every type has ``id``, ``type`` (``bookmark``,
``query``, ``folder``, ``livemark``, ``separator``), ``parentid``, ``parentName``,
``dateAdded`` (**ms**), ``hasDupe``; bookmarks add ``title``, ``bmkUri``, ``keyword``,
``tags``; queries ``title``, ``bmkUri`` (``place:``), ``folderName``; folders ``title`` and
the ordered ``children``; livemarks ``title``, ``feedUri``, ``siteUri``; separators ``pos``.
Unknown fields (``description``, ``loadInSidebar`` and whatever comes next) are kept at the
root of every record.

Repairs, each making the record re-uploaded (a-s ``incoming.rs fixup_bookmark_json``, §2.2 to
§2.4 of the records notes): a non-string ``parentid`` or ``parentName`` → null; a negative
``dateAdded`` → 0, a numeric string → its number, anything else → dropped; titles cut to 4,096
bytes; tags trimmed, empty, over-long (100 bytes), duplicate and non-string tags dropped; a
non-string keyword dropped (keywords are trimmed and lower-cased, without re-upload); a
folder's ``children`` that is not a list of strings repaired. An unknown ``type`` refuses the
record. :func:`replace_reason` tells the items that are unusable (validity *Replace*: a
bookmark without a URL Places would store, a query without a ``place:`` URL, a livemark
without a feed URL).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationInfo, field_validator

from beacon.client.engines._history import valid_url
from beacon.client.engines._wire import Wire, lenient_int, note_fix, truncate_utf8

__all__ = ["KINDS", "BookmarkItem", "replace_reason"]

KINDS = ("bookmark", "query", "folder", "livemark", "separator")
TITLE_LENGTH_MAX = 4_096
TAG_LENGTH_MAX = 100

Kind = Literal["bookmark", "query", "folder", "livemark", "separator"]


class BookmarkItem(Wire):
    """One bookmark record of any type (see the module docstring)."""

    id: str
    type: Kind
    parentid: str | None = None
    parentName: str | None = None
    dateAdded: int | None = None
    hasDupe: bool | None = None
    title: str | None = None
    bmkUri: str | None = None
    keyword: str | None = None
    tags: list[str] | None = None
    folderName: str | None = None
    children: list[str] | None = None
    feedUri: str | None = None
    siteUri: str | None = None
    pos: int | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if value not in KINDS:
            raise ValueError("type is not a bookmark type")
        return value

    @field_validator("parentid", "parentName", "folderName", "feedUri", "siteUri", mode="before")
    @classmethod
    def _optional_text(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and not isinstance(value, str):
            note_fix(info, info.field_name or "field")
            return None
        return value

    @field_validator("dateAdded", mode="before")
    @classmethod
    def _date_added(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                note_fix(info, "dateAdded")
                return 0
            return value
        note_fix(info, "dateAdded")
        number = lenient_int(value) if isinstance(value, str) and value.strip().isdigit() else None
        return number

    @field_validator("hasDupe", mode="before")
    @classmethod
    def _has_dupe(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and not isinstance(value, bool):
            note_fix(info, "hasDupe")
            return None
        return value

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            note_fix(info, "title")
            return None
        cut = truncate_utf8(value, TITLE_LENGTH_MAX)
        if cut != value:
            note_fix(info, "title")
        return cut

    @field_validator("bmkUri", mode="before")
    @classmethod
    def _uri(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and not isinstance(value, str):
            note_fix(info, "bmkUri")
            return None
        return value

    @field_validator("keyword", mode="before")
    @classmethod
    def _keyword(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            note_fix(info, "keyword")
            return None
        return value.strip().lower() or None

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            note_fix(info, "tags")
            return None
        kept: list[str] = []
        for tag in value:
            clean = tag.strip() if isinstance(tag, str) else ""
            if (
                not clean
                or len(clean.encode("utf-8")) > TAG_LENGTH_MAX
                or clean in kept
                or clean != tag
            ):
                note_fix(info, "tags")
            if clean and len(clean.encode("utf-8")) <= TAG_LENGTH_MAX and clean not in kept:
                kept.append(clean)
        return kept

    @field_validator("children", mode="before")
    @classmethod
    def _children(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            note_fix(info, "children")
            return []
        kept = list(dict.fromkeys(c for c in value if isinstance(c, str) and c))
        if kept != value:
            note_fix(info, "children")
        return kept

    @field_validator("pos", mode="before")
    @classmethod
    def _pos(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        note_fix(info, "pos")
        return lenient_int(value)

    @property
    def is_folder(self) -> bool:
        return self.type == "folder"


def replace_reason(item: BookmarkItem) -> str | None:
    """Why ``item`` is unusable (dogear validity *Replace*), or None when it is usable."""
    if item.type == "bookmark" and not valid_url(item.bmkUri):
        return "bmkUri is not a URL"
    if item.type == "query" and not (
        isinstance(item.bmkUri, str) and item.bmkUri.startswith("place:")
    ):
        return "query without a place: URL"
    if item.type == "livemark" and not valid_url(item.feedUri):
        return "livemark without a feed URL"
    return None
