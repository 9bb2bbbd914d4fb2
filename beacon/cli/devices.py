"""``beacon devices``, ``beacon send-tab``, ``beacon tabs received``: send tab between devices.

::

    beacon devices [--json]
    beacon send-tab DEVICE URL [--title TITLE] [--json]
    beacon tabs received [--all] [--json]

They work on the account ``beacon login`` stored (``--profile``, ``--config-dir`` as there),
through Firefox Accounts device commands (``beacon.fxa.FxADevices``): the first use registers
this device (``--name``, default ``beacon on <host>``) with the send-tab command and its keys.
DEVICE is a device's id or its name. ``tabs received`` fetches and decrypts what other devices
sent since the last call (each tab once); ``--all`` shows the last 100 kept in the account.
A tab that does not decrypt (tampered, sent to old keys) is reported after the others, and
the exit status is its error family's. Nothing secret is printed: the keys stay in the
keyring or the encrypted credentials file.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from beacon._errors import UsageError
from beacon.cli._common import add_command, error_line, exit_status
from beacon.fxa import FxADevices, ReceivedTab

__all__ = ["register"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="default", metavar="NAME", help="as in login")
    parser.add_argument("--config-dir", type=Path, metavar="DIR", help="as in login")
    parser.add_argument("--name", metavar="NAME", help="this device's name (registered once)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def register(subparsers: Any) -> None:
    """Add ``devices`` and ``send-tab``, and ``received`` to ``tabs`` (``data`` adds it)."""
    devices = add_command(
        subparsers,
        "devices",
        help="list the account's devices (Firefox Accounts)",
        doc="List the devices of the signed-in account; the first use registers this one.",
        examples="beacon devices\nbeacon devices --json --profile work",
    )
    _common(devices)
    devices.set_defaults(func=_devices)

    send = add_command(
        subparsers,
        "send-tab",
        help="send a tab to another device",
        doc="Send URL to DEVICE (an id or a name from `beacon devices`), encrypted to its"
        " published send-tab key; it opens there, or `beacon tabs received` shows it.",
        examples='beacon send-tab "Ada\'s Fenix" https://example.com/ --title "An example"\n'
        "beacon send-tab 0f1e2d3c4b5a69788796a5b4c3d2e1f0 https://example.org/",
    )
    send.add_argument("device", metavar="DEVICE", help="the target's id or name")
    send.add_argument("url", metavar="URL")
    send.add_argument("--title", default="", metavar="TITLE")
    _common(send)
    send.set_defaults(func=_send_tab)

    tabs = subparsers.choices.get("tabs")
    if tabs is None:
        raise UsageError("beacon.cli.devices registers after beacon.cli.data (tabs)")
    actions = next(a for a in tabs._actions if isinstance(a, argparse._SubParsersAction))
    received = add_command(
        actions,
        "received",
        help="tabs other devices sent to this one",
        doc="Fetch and decrypt the tabs other devices sent to this one since the last call.",
        examples="beacon tabs received\nbeacon tabs received --all --json",
    )
    received.add_argument("--all", action="store_true", help="the last 100 kept, not only new")
    _common(received)
    received.set_defaults(func=_received)


def _open(args: argparse.Namespace) -> FxADevices:
    from beacon.cli.login import _config_dir, _passphrase
    from beacon.fxa import default_store

    store = default_store(_config_dir(args), profile=args.profile, passphrase=_passphrase)
    return FxADevices(store, name=args.name)


def _devices(args: argparse.Namespace) -> int:
    with _open(args) as devices:
        listed = devices.devices()
    if args.json:
        print(json.dumps({"devices": [d.to_json() for d in listed]}))
        return 0
    width = max((len(d.name) for d in listed), default=4)
    for d in listed:
        mark = "*" if d.is_current else " "
        tabs = "tabs" if d.can_receive_tabs else "-"
        print(f"{mark} {d.name:<{width}}  {d.type:<8} {tabs:<5} {d.id}")
    return 0


def _send_tab(args: argparse.Namespace) -> int:
    with _open(args) as devices:
        target = devices.send_tab(args.device, args.url, title=args.title)
    if args.json:
        print(json.dumps({"sent": True, "device": target.to_json()}))
    else:
        print(f"sent to {target.name} ({target.id})")
    return 0


def _tab_json(tab: ReceivedTab) -> dict[str, Any]:
    return {
        "url": tab.url,
        "title": tab.title,
        "from": tab.sender_name,
        "from_id": tab.sender_id,
        "received_at": tab.received_at,
        "index": tab.index,
    }


def _received(args: argparse.Namespace) -> int:
    with _open(args) as devices:
        poll = devices.poll_tabs()
        tabs = devices.received_tabs() if args.all else list(poll.tabs)
    failures = [{"index": i, "kind": e.kind, "message": str(e)} for i, e in poll.failures]
    if args.json:
        print(json.dumps({"tabs": [_tab_json(t) for t in tabs], "failures": failures}))
        return exit_status(poll.failures[0][1]) if poll.failures else 0
    for tab in tabs:
        when = datetime.fromtimestamp(tab.received_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        sender = tab.sender_name or tab.sender_id or "an unknown device"
        print(f"{tab.title or tab.url}\n  {tab.url}\n  from {sender}, {when}")
    if not tabs:
        print("no new tabs" if not args.all else "no tabs received yet")
    for _, error in poll.failures:
        print(error_line(error), file=sys.stderr)
    return exit_status(poll.failures[0][1]) if poll.failures else 0
