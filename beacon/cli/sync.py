"""``beacon sync``: one sync run against any Sync 1.5 token server.

Exit status 0 when the run ends in the session chart's ``synced`` state; otherwise 1 with one
line on stderr (``beacon: error: <kind>: <message>``), or, with ``--json``, exactly one JSON
object on stdout in both cases::

    {"outcome": "ok" | "error", "error": null | {"kind": str, "message": str},
     "states": [state names in the order entered], "requests": int,
     "engines": {name: counts}}

Secrets (the access token and kB) are never printed; error messages of the beacon error tree
carry none. Arguments are visible to every local user (``ps``), so each secret can come from
the environment instead: ``BEACON_ACCESS_TOKEN`` and ``BEACON_KB`` are read when the option
is left out.
"""

from __future__ import annotations

import argparse
import binascii
import json
import os
import sys
from pathlib import Path
from typing import Any

from beacon._errors import BeaconError, UsageError
from beacon.client._client import SyncClient, SyncResult
from beacon.client._engine_api import Engine
from beacon.client.engines import FIREFOX_ENGINES

__all__ = ["register"]

_TOKEN_ENV = "BEACON_ACCESS_TOKEN"
_KB_ENV = "BEACON_KB"


def register(subparsers: Any) -> None:
    """Add the ``sync`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sync",
        help="run one sync against a Sync 1.5 token server",
        description="Run one Firefox Sync 1.5 sync: token, session setup, every engine.",
    )
    parser.add_argument("--token-server", required=True, metavar="URL", help="token server URL")
    parser.add_argument(
        "--access-token",
        metavar="TOKEN",
        help=f"FxA OAuth access token (default: ${_TOKEN_ENV}, which other users cannot see)",
    )
    parser.add_argument(
        "--kb", metavar="HEX", help=f"the account key kB, hex (default: ${_KB_ENV})"
    )
    parser.add_argument(
        "--keys-changed-at",
        required=True,
        type=int,
        metavar="MS",
        help="when kB last changed, milliseconds since the epoch",
    )
    parser.add_argument(
        "--state", required=True, type=Path, metavar="DIR", help="directory for local state"
    )
    parser.add_argument(
        "--engines",
        metavar="A,B",
        help="engines to sync (comma-separated): Firefox's collections (bookmarks, history,"
        " passwords, tabs, forms, addresses, creditcards, prefs) get their typed engine, any"
        " other name a generic record engine; the clients engine always runs",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _secret(value: str | None, option: str, variable: str) -> str:
    """An option's value, else the environment variable's; a usage error when neither is set."""
    value = value if value is not None else os.environ.get(variable)
    if not value:
        raise UsageError(f"give {option} or set {variable}")
    return value


def _kb(value: str) -> bytes:
    try:
        kb = bytes.fromhex(value.strip())
    except (ValueError, binascii.Error):
        raise UsageError("--kb must be hexadecimal") from None
    if len(kb) != 32:
        raise UsageError("--kb must be 32 bytes (64 hex digits)")
    return kb


def _engine_names(value: str | None) -> list[Engine | str] | None:
    """Firefox's collections get their typed engine; any other name a RecordEngine."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise UsageError("--engines needs at least one engine name")
    return [FIREFOX_ENGINES[n]() if n in FIREFOX_ENGINES else n for n in names]


def run(args: argparse.Namespace) -> int:
    """Run one sync; return the exit status."""
    client: SyncClient | None = None
    try:
        client = SyncClient(
            token_server_url=args.token_server,
            access_token=_secret(args.access_token, "--access-token", _TOKEN_ENV),
            kb=_kb(_secret(args.kb, "--kb", _KB_ENV)),
            keys_changed_at=args.keys_changed_at,
            state_path=args.state,
            engines=_engine_names(args.engines),
        )
        result = client.sync()
    except BeaconError as exc:
        if not args.json:
            raise
        print(json.dumps(_report(None, exc, client)))
        return 1
    finally:
        if client is not None:
            client.close()
    if args.json:
        print(json.dumps(_report(result, None, client)))
    else:
        counts = ", ".join(f"{name} {_summary(c)}" for name, c in sorted(result.engines.items()))
        print(f"synced in {result.requests} request(s){': ' + counts if counts else ''}")
    return 0


def _summary(counts: dict[str, Any]) -> str:
    return "+{}/-{}".format(counts.get("applied", 0), counts.get("uploaded", 0))


def _report(
    result: SyncResult | None, error: BeaconError | None, client: SyncClient | None
) -> dict[str, Any]:
    last = result if result is not None else (client.last_result if client else None)
    return {
        "outcome": "ok" if error is None else "error",
        "error": None if error is None else {"kind": error.kind, "message": str(error)},
        "states": list(last.states) if last is not None else [],
        "requests": last.requests if last is not None else 0,
        "engines": dict(last.engines) if last is not None else {},
    }


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through the beacon command")
