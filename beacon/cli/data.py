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
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from beacon._crypto import KeyBundle
from beacon._errors import UsageError
from beacon.cli._data_output import PASSWORD_CSV_COLUMNS, netscape_html, render
from beacon.client import STATE_FILE, Engine, Store, SyncClient
from beacon.client.engines import (
    AddressesEngine,
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
_ENGINES: dict[str, Callable[[], Any]] = {
    "bookmarks": BookmarksEngine,
    "passwords": PasswordsEngine,
    "history": HistoryEngine,
    "tabs": TabsEngine,
    "forms": FormsEngine,
    "addresses": AddressesEngine,
    "creditcards": CreditCardsEngine,
}


_EXAMPLES = {
    "list": "beacon {name} list --state ./device --format json\n"
    "beacon {name} list --state ./device --token-server URL --keys-changed-at MS",
    "get": "beacon {name} get --state ./device RECORD_ID",
    "create": "beacon {name} create --state ./device --field title=Example",
    "update": "beacon {name} update --state ./device RECORD_ID --field title=Renamed",
    "delete": "beacon {name} delete --state ./device RECORD_ID",
}


def register(subparsers: Any) -> None:
    """Add one command per collection, each with list/get/create/update/delete."""
    from beacon.cli._common import add_command

    for name in COLLECTIONS:
        parser = add_command(
            subparsers,
            name,
            help=f"list and edit {name} (local store, optionally synced first)",
            doc=f"Read and edit the {name} of a device's local store (kB from --kb or"
            " BEACON_KB opens its sealed records); with --token-server, one sync run first"
            " (list, get) or after (create, update, delete).",
            examples="\n".join(_EXAMPLES[a].format(name=name) for a in ("list", "get")),
        )
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True
        for action in ("list", "get", "create", "update", "delete"):
            sub = add_command(
                actions,
                action,
                help=f"{action} {name}",
                doc=None,
                examples=_EXAMPLES[action].format(name=name),
            )
            _common(sub, name)
            if action in ("get", "update", "delete"):
                sub.add_argument(
                    "id", help="the record id (one that starts with '-' goes last, after '--')"
                )
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
        parser.add_argument(
            "--parent",
            default="unfiled",
            help="folder id (create); write --parent=ID when the id starts with '-'",
        )
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


def _kb_of(args: argparse.Namespace) -> bytes:
    kb_hex = args.kb or os.environ.get("BEACON_KB")
    if not kb_hex:
        raise UsageError("the local records are sealed under kB: give --kb or set BEACON_KB")
    try:
        kb = bytes.fromhex(kb_hex.strip())
    except ValueError:
        raise UsageError("--kb must be hexadecimal") from None
    if len(kb) != 32:
        raise UsageError("--kb must be 32 bytes (64 hexadecimal digits)")
    return kb


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
            # The local records are sealed at rest: reading them offline needs kB too.
            store.unlock_records(KeyBundle.from_kb(_kb_of(args)))
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
        return render(name, _listed(name, engine), args)
    if args.action == "get":
        record = _get(name, engine, args.id)
        return render(name, [record], args)
    if args.action == "delete":
        if name == "tabs":
            raise UsageError("a device's tabs are removed by the device that has them open")
        if not engine.delete(args.id):
            raise UsageError(f"no {name} record {args.id!r}")
        return None
    made = _create(name, engine, args) if args.action == "create" else _update(name, engine, args)
    return render(name, [made], args)


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
