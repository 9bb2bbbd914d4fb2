"""``beacon bookmarks|passwords|history|tabs|forms|addresses|creditcards ACTION``: the data.

Each collection is a command with the actions ``list``, ``get ID``, ``create``, ``update ID``
and ``delete ID``. Reads are served from the local store (``--state DIR``); with
``--token-server`` (and ``--keys-changed-at``, the access token and kB from the options or from
``BEACON_ACCESS_TOKEN`` / ``BEACON_KB``) one sync run comes first, so the store holds what the
server has; an edit is made locally and then uploaded by that same sync run, after the edit.

Output (``--format``): ``json`` (the records, unknown fields included), ``csv`` and ``tsv``
(one row per record; passwords use Firefox's own export columns, bookmarks ffsclient's),
``table`` (aligned text) and, for bookmarks, ``netscape`` (the ``bookmarks.html`` Firefox
exports and every browser imports). Passwords and card numbers are masked unless
``--show-passwords``; a password to store is read from stdin (``--password-stdin``) so that it
never shows in ``ps``.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from beacon._errors import UsageError
from beacon.client._client import STATE_FILE, SyncClient
from beacon.client._engine_api import Engine
from beacon.client._store import Store
from beacon.client.engines import (
    AddressesEngine,
    BookmarkItem,
    BookmarksEngine,
    CreditCardsEngine,
    FormsEngine,
    HistoryEngine,
    PasswordsEngine,
    TabsEngine,
)

__all__ = ["PASSWORD_CSV_COLUMNS", "netscape_html", "register"]

COLLECTIONS = ("bookmarks", "passwords", "history", "tabs", "forms", "addresses", "creditcards")
FORMATS = ("json", "csv", "tsv", "table")
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
_ENGINES: dict[str, Callable[[], Any]] = {
    "bookmarks": BookmarksEngine,
    "passwords": PasswordsEngine,
    "history": HistoryEngine,
    "tabs": TabsEngine,
    "forms": FormsEngine,
    "addresses": AddressesEngine,
    "creditcards": CreditCardsEngine,
}


def register(subparsers: Any) -> None:
    """Add one command per collection, each with list/get/create/update/delete."""
    for name in COLLECTIONS:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, help=f"list and edit {name} (local store, optionally synced first)"
        )
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True
        for action in ("list", "get", "create", "update", "delete"):
            sub = actions.add_parser(action, help=f"{action} {name}")
            _common(sub, name)
            if action in ("get", "update", "delete"):
                sub.add_argument("id", help="the record id")
            if action in ("create", "update"):
                _edit_options(sub, name)
            sub.set_defaults(func=run, collection=name)


def _common(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--state", required=True, type=Path, metavar="DIR", help="local state")
    parser.add_argument("--token-server", metavar="URL", help="sync once with this server")
    parser.add_argument("--keys-changed-at", type=int, metavar="MS", help="when kB changed")
    parser.add_argument("--access-token", metavar="T", help="default: $BEACON_ACCESS_TOKEN")
    parser.add_argument("--kb", metavar="HEX", help="default: $BEACON_KB")
    formats = (*FORMATS, "netscape") if name == "bookmarks" else FORMATS
    parser.add_argument("--format", choices=formats, default="table", help="output format")
    parser.add_argument("--show-passwords", action="store_true", help="do not mask secrets")


def _edit_options(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a record field by its wire name (JSON for objects, lists, true/false/null and"
        " quoted strings, else text); repeatable",
    )
    if name == "bookmarks":
        parser.add_argument(
            "--type", default="bookmark", choices=("bookmark", "folder", "separator", "query")
        )
        parser.add_argument("--parent", default="unfiled", help="folder id (create)")
        parser.add_argument("--index", type=int, help="position in the folder")
        parser.add_argument("--url")
        parser.add_argument("--title")
        parser.add_argument("--tags", help="comma-separated")
        parser.add_argument("--keyword")
    elif name == "passwords":
        parser.add_argument("--hostname")
        parser.add_argument("--username")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin",
        )
        parser.add_argument("--form-submit-url")
        parser.add_argument("--http-realm")
    elif name == "history":
        parser.add_argument("--url")
        parser.add_argument("--title")
    elif name == "forms":
        parser.add_argument("--name")
        parser.add_argument("--value")
    elif name == "tabs":
        parser.add_argument("--url")
        parser.add_argument("--title")


# -- running -------------------------------------------------------------------------------------


def _fields(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--field wants NAME=VALUE, not {pair!r}")
        # JSON for objects, lists, quoted strings and literals; numbers stay text (a postal
        # code or card number is text; the models read numbers where they need them).
        if raw[:1] in ("[", "{", '"') or raw in ("true", "false", "null"):
            try:
                out[key] = json.loads(raw)
                continue
            except ValueError:
                pass
        out[key] = raw
    return out


def _client(args: argparse.Namespace, engine: Engine) -> SyncClient | None:
    if args.token_server is None:
        return None
    if args.keys_changed_at is None:
        raise UsageError("--token-server needs --keys-changed-at")
    token = args.access_token or os.environ.get("BEACON_ACCESS_TOKEN")
    kb_hex = args.kb or os.environ.get("BEACON_KB")
    if not token or not kb_hex:
        raise UsageError("give --access-token and --kb, or set BEACON_ACCESS_TOKEN and BEACON_KB")
    try:
        kb = bytes.fromhex(kb_hex.strip())
    except ValueError:
        raise UsageError("--kb must be hexadecimal") from None
    return SyncClient(
        args.token_server,
        token,
        kb,
        args.keys_changed_at,
        args.state,
        engines=[engine],
    )


def run(args: argparse.Namespace) -> int:
    """Sync once when asked, run the action on the local store, print the result."""
    engine = _ENGINES[args.collection]()
    client = _client(args, engine)
    store: Store | None = None
    try:
        if client is not None:
            _ = client.store  # opening the store attaches the engine
            if args.action in ("list", "get"):
                client.sync()
        else:
            path = args.state if args.state.suffix == ".sqlite3" else args.state / STATE_FILE
            if not path.exists():
                raise UsageError(f"no local state in {args.state} (sync once with --token-server)")
            store = Store(path)
            engine.attach(store)
        result = _act(args, engine)
        if client is not None and args.action in ("create", "update", "delete"):
            client.sync()
    finally:
        if client is not None:
            client.close()
        if store is not None:
            store.close()
    if result is not None:
        sys.stdout.write(result)
    return 0


def _act(args: argparse.Namespace, engine: Any) -> str | None:
    name = args.collection
    if args.action == "list":
        if name == "bookmarks" and args.format == "netscape":
            return netscape_html(engine)
        return _render(name, _listed(name, engine), args)
    if args.action == "get":
        record = _get(name, engine, args.id)
        return _render(name, [record], args)
    if args.action == "delete":
        if name == "tabs":
            raise UsageError("a device's tabs are removed by the device that has them open")
        if not engine.delete(args.id):
            raise UsageError(f"no {name} record {args.id!r}")
        return None
    made = _create(name, engine, args) if args.action == "create" else _update(name, engine, args)
    return _render(name, [made], args)


def _listed(name: str, engine: Any) -> list[Any]:
    if name == "bookmarks":
        return list(engine.items())
    if name == "tabs":
        return [engine.own_tabs(), *engine.remote_tabs()]
    return list(engine.records())


def _get(name: str, engine: Any, record_id: str) -> Any:
    record = engine.get(record_id)
    if record is None:
        raise UsageError(f"no {name} record {record_id!r}")
    return record


def _password(args: argparse.Namespace) -> str | None:
    if not getattr(args, "password_stdin", False):
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError("--password-stdin read an empty password")
    return line


def _create(name: str, engine: Any, args: argparse.Namespace) -> Any:
    extra = _fields(args.field)
    if name == "bookmarks":
        if args.type == "folder":
            return engine.create_folder(args.parent, args.title or "", index=args.index, **extra)
        if args.type == "separator":
            return engine.create_separator(args.parent, index=args.index)
        if args.url is None:
            raise UsageError("--url is required")
        if args.type == "query":
            return engine.create_query(args.parent, args.url, title=args.title, index=args.index)
        tags = [t for t in (args.tags or "").split(",") if t.strip()]
        return engine.create_bookmark(
            args.parent,
            args.url,
            title=args.title,
            tags=tags,
            keyword=args.keyword,
            index=args.index,
            **extra,
        )
    if name == "passwords":
        password = _password(args)
        if args.hostname is None or password is None:
            raise UsageError("--hostname and --password-stdin are required")
        return engine.add(
            args.hostname,
            args.username or "",
            password,
            form_submit_url=args.form_submit_url,
            http_realm=args.http_realm,
        )
    if name == "history":
        if args.url is None:
            raise UsageError("--url is required")
        return engine.visit(args.url, title=args.title)
    if name == "forms":
        if args.name is None or args.value is None:
            raise UsageError("--name and --value are required")
        return engine.add(args.name, args.value)
    if name == "tabs":
        if args.url is None:
            raise UsageError("--url is required")
        own = engine.own_tabs()
        tab = {
            "title": args.title or "",
            "urlHistory": [args.url],
            "lastUsed": int(engine._clock()),
        }
        return engine.set_tabs([*own.tabs, tab])
    return engine.put({"entry": extra})  # addresses, creditcards


def _update(name: str, engine: Any, args: argparse.Namespace) -> Any:
    changes = _fields(args.field)
    if name == "tabs":
        raise UsageError("tabs are updated by adding them (create) on this device")
    if name == "bookmarks":
        for option, key in (("url", "bmkUri"), ("title", "title"), ("keyword", "keyword")):
            if getattr(args, option) is not None:
                changes[key] = getattr(args, option)
        if args.tags is not None:
            changes["tags"] = [t for t in args.tags.split(",") if t.strip()]
        return engine.update(args.id, **changes)
    if name == "passwords":
        password = _password(args)
        if password is not None:
            changes["password"] = password
        for option, key in (
            ("hostname", "hostname"),
            ("username", "username"),
            ("form_submit_url", "formSubmitURL"),
            ("http_realm", "httpRealm"),
        ):
            if getattr(args, option) is not None:
                changes[key] = getattr(args, option)
    if name in ("addresses", "creditcards"):
        old = _get(name, engine, args.id)
        return engine.update(args.id, entry={**old.entry.to_wire(), **changes})
    if name == "forms":
        raise UsageError("form history entries cannot change; delete and create instead")
    return engine.update(args.id, **changes)


# -- output --------------------------------------------------------------------------------------


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


def _render(name: str, records: list[Any], args: argparse.Namespace) -> str:
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
