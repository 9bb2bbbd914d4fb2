"""The output of the data commands (``beacon.cli.data``): JSON, CSV/TSV, aligned tables,
Firefox's password CSV and the Netscape ``bookmarks.html``."""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from beacon.client.engines import BookmarkItem, BookmarksEngine

__all__ = ["MASK", "PASSWORD_CSV_COLUMNS", "netscape_html", "render"]

MASK = "********"
#: Firefox's password export, in this order (LoginExport.sys.mjs).
PASSWORD_CSV_COLUMNS = (
    "url",
    "username",
    "password",
    "httpRealm",
    "formActionOrigin",
    "guid",
    "timeCreated",
    "timeLastUsed",
    "timePasswordChanged",
)


def _masked(name: str, wire: dict[str, Any], show: bool) -> dict[str, Any]:
    if show:
        return wire
    if name == "passwords" and "password" in wire:
        return {**wire, "password": MASK}
    if name == "creditcards" and isinstance(wire.get("entry"), dict):
        number = str(wire["entry"].get("cc-number", ""))
        return {**wire, "entry": {**wire["entry"], "cc-number": MASK + number[-4:]}}
    return wire


def _rows(name: str, records: Iterable[Any], show: bool) -> tuple[list[str], list[list[Any]]]:
    wires = [_masked(name, r.to_wire(), show) for r in records]
    if name == "bookmarks":
        cols = [
            "ID",
            "ParentID",
            "Type",
            "Title",
            "URI",
            "Keyword",
            "DateAdded",
            "Description",
            "Tags",
        ]
        keys = ["id", "parentid", "type", "title", "bmkUri", "keyword", "dateAdded", "description"]
        return cols, [[w.get(k) for k in keys] + [";".join(w.get("tags") or [])] for w in wires]
    if name == "passwords":
        keys = [
            "hostname",
            "username",
            "password",
            "httpRealm",
            "formSubmitURL",
            "id",
            "timeCreated",
            "timeLastUsed",
            "timePasswordChanged",
        ]
        return list(PASSWORD_CSV_COLUMNS), [[w.get(k) for k in keys] for w in wires]
    if name == "history":
        cols = ["ID", "URL", "Title", "Visits", "LastVisit"]
        return cols, [
            [
                w["id"],
                w["histUri"],
                w.get("title"),
                len(w.get("visits", [])),
                max((v["date"] for v in w.get("visits", [])), default=None),
            ]
            for w in wires
        ]
    if name == "tabs":
        cols = ["ClientID", "ClientName", "Title", "URL", "LastUsed"]
        return cols, [
            [
                w["id"],
                w.get("clientName"),
                t.get("title"),
                (t.get("urlHistory") or [None])[0],
                t.get("lastUsed"),
            ]
            for w in wires
            for t in w.get("tabs", [])
        ]
    if name == "forms":
        return ["ID", "Name", "Value"], [[w["id"], w["name"], w["value"]] for w in wires]
    entries = [w.get("entry", {}) for w in wires]
    keys = sorted({k for e in entries for k in e})
    return ["id", *keys], [
        [w["id"], *(e.get(k) for k in keys)] for w, e in zip(wires, entries, strict=False)
    ]


def render(name: str, records: list[Any], args: argparse.Namespace) -> str:
    show = args.show_passwords
    if args.format == "json":
        wires = [_masked(name, r.to_wire(), show) for r in records]
        return json.dumps(wires, indent=2, ensure_ascii=False) + "\n"
    cols, rows = _rows(name, records, show)
    if args.format in ("csv", "tsv"):
        if name == "passwords" and args.format == "csv":
            return _firefox_csv(cols, rows)
        buffer = io.StringIO()
        writer = csv.writer(
            buffer, delimiter="," if args.format == "csv" else "\t", lineterminator="\n"
        )
        writer.writerow(cols)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return buffer.getvalue()
    text = [[str(c) for c in cols], *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in text) for i in range(len(cols))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
        for row in text
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _firefox_csv(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Firefox's password CSV: every non-null value double-quoted, null empty, CRLF rows."""

    def cell(value: Any) -> str:
        return "" if value is None else '"' + str(value).replace('"', '""') + '"'

    lines = [",".join(f'"{c}"' for c in cols), *(",".join(cell(v) for v in row) for row in rows)]
    return "\r\n".join(lines) + "\r\n"


# -- netscape bookmarks.html ----------------------------------------------------------------------

_ROOT_TITLES = {
    "menu": "Bookmarks Menu",
    "toolbar": "Bookmarks Toolbar",
    "unfiled": "Other Bookmarks",
    "mobile": "Mobile Bookmarks",
}
_ROOT_FLAGS = {
    "toolbar": ' PERSONAL_TOOLBAR_FOLDER="true"',
    "unfiled": ' UNFILED_BOOKMARKS_FOLDER="true"',
}


def netscape_html(engine: BookmarksEngine) -> str:
    """The tree as Firefox's ``bookmarks.html``: the menu is the document, the toolbar, other
    bookmarks and (beyond Firefox, so nothing is left out) mobile bookmarks are folders in it
    when they hold anything. Dates are seconds; Sync has no last-modified, so ``ADD_DATE``."""
    out = [
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>",
        "<!-- This is an automatically generated file.",
        "     It will be read and overwritten.",
        "     DO NOT EDIT! -->",
        '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'self\';'
        " script-src 'none'; img-src data: *; object-src 'none'\"></meta>",
        "<TITLE>Bookmarks</TITLE>",
        "<H1>Bookmarks Menu</H1>",
        "",
        "<DL><p>",
    ]
    for item in engine.children("menu"):
        _node(engine, item, 1, out)
    for root in ("toolbar", "unfiled", "mobile"):
        folder = engine.get(root)
        if folder is not None and folder.children:
            out.append(
                f"    <DT><H3{_dates(folder)}{_ROOT_FLAGS.get(root, '')}>"
                f"{_text(_ROOT_TITLES[root])}</H3>"
            )
            _folder_body(engine, folder, 1, out)
    out.append("</DL>")
    return "\n".join(out) + "\n"


def _text(value: str | None) -> str:
    return html.escape(value or "", quote=True)


def _dates(item: BookmarkItem) -> str:
    if item.dateAdded is None:
        return ""
    seconds = item.dateAdded // 1000
    return f' ADD_DATE="{seconds}" LAST_MODIFIED="{seconds}"'


def _folder_body(engine: BookmarksEngine, folder: BookmarkItem, depth: int, out: list[str]) -> None:
    pad = "    " * depth
    out.append(f"{pad}<DL><p>")
    for child in engine.children(folder.id):
        _node(engine, child, depth + 1, out)
    out.append(f"{pad}</DL><p>")


def _node(engine: BookmarksEngine, item: BookmarkItem, depth: int, out: list[str]) -> None:
    pad = "    " * depth
    if item.type == "folder":
        out.append(f"{pad}<DT><H3{_dates(item)}>{_text(item.title)}</H3>")
        _folder_body(engine, item, depth, out)
    elif item.type == "separator":
        out.append(f"{pad}<HR>")
    else:
        url = item.bmkUri if item.type != "livemark" else (item.siteUri or item.feedUri)
        if not url:
            return
        attrs = f' HREF="{_text(url.replace(chr(34), "%22"))}"{_dates(item)}'
        if item.type == "livemark" and item.feedUri:
            attrs += f' FEEDURL="{_text(item.feedUri)}"'
        if item.keyword:
            attrs += f' SHORTCUTURL="{_text(item.keyword)}"'
        if item.tags:
            attrs += f' TAGS="{_text(",".join(item.tags))}"'
        out.append(f"{pad}<DT><A{attrs}>{_text(item.title)}</A>")
