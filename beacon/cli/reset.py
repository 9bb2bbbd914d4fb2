"""``beacon reset``: delete a state directory's beacon file, to start that device over.

The state file holds the device's token, caches, backoff deadlines and local records. Deleting
it forgets all of that: the next ``beacon sync`` starts as a new device and downloads the
account's records again; local edits that were never uploaded are lost (the prompt says how
many). beacon asks first; --yes skips the question (needed when stdin is not a terminal).
Only beacon's own file (and its SQLite journal) is deleted, never anything else in DIR.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from beacon._errors import UsageError
from beacon.cli._common import add_command

__all__ = ["register"]

EXAMPLES = """\
beacon reset --state ./my-device            asks before deleting
beacon reset --state ./my-device --yes      for scripts
"""


def register(subparsers: Any) -> None:
    """Add the ``reset`` subcommand."""
    parser = add_command(
        subparsers,
        "reset",
        help="delete a device's state file (start over)",
        doc=__doc__,
        examples=EXAMPLES,
    )
    parser.add_argument(
        "--state", required=True, type=Path, metavar="DIR", help="the state directory (or file)"
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)


def _pending_edits(path: Path) -> int | None:
    """Local edits not yet uploaded (counted without kB: only flags are read), or None."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT count(*) FROM records WHERE changed = 1 AND collection != 'clients'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # a damaged or foreign file: nothing to count
    return int(row[0])


def _run(args: argparse.Namespace) -> int:
    import json

    from beacon.client import state_file

    path = state_file(args.state)
    if not path.exists():
        message = f"nothing to reset: there is no state file at {str(path)!r}"
        print(json.dumps({"deleted": None}) if args.json else message)
        return 0
    if not path.is_file():
        raise UsageError(f"{str(path)!r} is not a file; beacon deletes only its own state file")
    pending = _pending_edits(path)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("beacon reset asks before deleting: give --yes to confirm")
        lost = f" ({pending} local edit(s) not yet uploaded will be lost)" if pending else ""
        answer = input(f"delete {path}{lost}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    for victim in (path, path.with_name(path.name + "-journal")):
        try:
            victim.unlink(missing_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot delete {str(victim)!r}: {exc.strerror}") from None
    if args.json:
        print(json.dumps({"deleted": str(path), "lost_edits": pending}))
    elif not args.quiet:
        print(f"deleted {path}; the next sync starts this device over", file=sys.stderr)
    return 0
