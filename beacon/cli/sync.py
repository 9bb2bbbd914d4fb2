"""``beacon sync``: one sync run against any Sync 1.5 token server.

Exit status 0 when the run ends in the session chart's ``synced`` state; otherwise the status
of the error's family (``beacon --help`` lists them) with one line on stderr (``beacon:
error: <kind>: <message>``), or, with ``--json``, exactly one JSON object on stdout in every
case, Ctrl-C included (outcome "interrupted", exit 130)::

    {"outcome": "ok" | "error" | "interrupted",
     "error": null | {"kind": str, "message": str, "status": int, "until": epoch|absent},
     "states": [state names in the order entered], "requests": int,
     "engines": {name: counts}}

Secrets (the access token and kB) are never printed; error messages of the beacon error tree
carry none. Arguments are visible to every local user (``ps``), so each secret can come from
the environment instead: ``BEACON_ACCESS_TOKEN``, ``BEACON_KB`` and ``BEACON_PREVIOUS_KB``
are read when the option is left out. A run longer than a second shows its progress on
stderr (records, requests, rate) when stderr is a terminal. ``--trace-out FILE`` saves the
run's JSON trace (also of a failed run), which ``beacon chart render --trace FILE`` draws.
"""

from __future__ import annotations

import argparse
import binascii
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from beacon._errors import BackoffError, BeaconError, UsageError
from beacon.cli._common import (
    add_command,
    exit_status,
    interrupted_report,
    local_time,
)
from beacon.client import Engine, SyncClient, SyncResult

__all__ = ["register"]

#: The collections that get a typed engine (``beacon.client.engines.FIREFOX_ENGINES``'s keys,
#: tested): named here so that a sync of other collections never imports those engines.
FIREFOX_COLLECTIONS = frozenset(
    {"bookmarks", "history", "passwords", "tabs", "forms", "addresses", "creditcards", "prefs"}
)

_TOKEN_ENV = "BEACON_ACCESS_TOKEN"
_KB_ENV = "BEACON_KB"
_PREVIOUS_KB_ENV = "BEACON_PREVIOUS_KB"

EXAMPLES = """\
beacon login you@example.com                      # once; then no secret on any command line
beacon sync --token-server https://token.services.mozilla.com --state ./my-device
export BEACON_ACCESS_TOKEN=... BEACON_KB=...      # or bring the token and kB yourself
beacon sync --token-server http://127.0.0.1:8000/1.0/sync/1.5 \\
    --keys-changed-at 1764579000000 --state ./my-device --engines notes
beacon sync ... --json --trace-out run.json       # then: beacon chart render --trace run.json
"""


def register(subparsers: Any) -> None:
    """Add the ``sync`` subcommand."""
    parser = add_command(
        subparsers,
        "sync",
        help="run one sync against a Sync 1.5 token server",
        doc=__doc__,
        examples=EXAMPLES,
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
        "--previous-kb",
        metavar="HEX",
        help="after a password reset: the old kB, which opens the local records"
        f" (default: ${_PREVIOUS_KB_ENV})",
    )
    parser.add_argument(
        "--keys-changed-at",
        type=int,
        metavar="MS",
        help="when kB last changed, milliseconds since the epoch (with --kb)",
    )
    account = parser.add_argument_group(
        "a signed-in account (beacon login), used when no access token and kB are given"
    )
    account.add_argument("--profile", default="default", metavar="NAME")
    account.add_argument("--config-dir", type=Path, metavar="DIR")
    account.add_argument("--auth-server", default=None, metavar="URL")
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
    parser.add_argument(
        "--trace-out", type=Path, metavar="FILE", help="save the run's JSON trace (to draw it)"
    )
    parser.set_defaults(func=run)


def _secret(value: str | None, option: str, variable: str) -> str:
    """An option's value, else the environment variable's; a usage error when neither is set."""
    value = value if value is not None else os.environ.get(variable)
    if not value:
        raise UsageError(f"give {option} or set {variable}")
    return value


def _kb(value: str, option: str) -> bytes:
    try:
        kb = bytes.fromhex(value.strip())
    except (ValueError, binascii.Error):
        raise UsageError(f"{option} must be hexadecimal") from None
    if len(kb) != 32:
        raise UsageError(f"{option} must be 32 bytes (64 hex digits)")
    return kb


def _engine_names(value: str | None) -> list[Engine | str] | None:
    """Firefox's collections get their typed engine; any other name a RecordEngine."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise UsageError("--engines needs at least one engine name")
    if not FIREFOX_COLLECTIONS.intersection(names):
        return list(names)
    from beacon.client.engines import FIREFOX_ENGINES  # the typed engines: only when named

    return [FIREFOX_ENGINES[n]() if n in FIREFOX_ENGINES else n for n in names]


def _kb_or_none(value: str | None, option: str, variable: str) -> bytes | None:
    value = value if value is not None else os.environ.get(variable)
    return _kb(value, option) if value else None


def run(args: argparse.Namespace) -> int:
    """Run one sync; return the exit status."""
    quiet = args.json or getattr(args, "quiet", False)
    client: SyncClient | None = None
    result: SyncResult | None = None
    error: BeaconError | None = None
    account: Any = None
    with _progress(shown=not quiet and sys.stderr.isatty()) as progress:
        try:
            previous = _kb_or_none(args.previous_kb, "--previous-kb", _PREVIOUS_KB_ENV)
            names = _engine_names(args.engines)
            if _given(args.access_token, _TOKEN_ENV) or _given(args.kb, _KB_ENV):
                token = _secret(args.access_token, "--access-token", _TOKEN_ENV)
                kb = _kb(_secret(args.kb, "--kb", _KB_ENV), "--kb")
                if args.keys_changed_at is None:
                    raise UsageError("--kb needs --keys-changed-at")
                client = _open(args, token, kb, previous, names, progress)
            else:  # the account `beacon login` stored: no secret on the command line
                account = _signed_in(args)
                client = _open_account(args, account, previous, names, progress)
            result = client.sync()
        except BeaconError as exc:
            error = exc
        except KeyboardInterrupt:
            _save_trace(args, client)
            if args.json:
                print(json.dumps(interrupted_report(**_run_fields(None, client))), flush=True)
            else:
                print("beacon: interrupted; the state file keeps the last commit", file=sys.stderr)
            return 130
        finally:
            if client is not None:
                _save_trace(args, client)
                client.close()
            if account is not None:
                account.close()
    if args.json:
        print(json.dumps(_report(result, error, client)))
        return 0 if error is None else exit_status(error)
    if error is not None:
        raise error
    assert result is not None
    if getattr(args, "verbose", 0):
        print("states: " + " > ".join(result.states), file=sys.stderr)
    for alert in result.alerts:  # the operator's word: upgrade soon
        print(
            f"beacon: the service says: {alert['message']} {alert['url']}".rstrip(), file=sys.stderr
        )
    counts = ", ".join(f"{name} {_summary(c)}" for name, c in sorted(result.engines.items()))
    print(f"synced in {result.requests} request(s){': ' + counts if counts else ''}")
    return 0


def _progress(*, shown: bool) -> contextlib.AbstractContextManager[Any]:
    """The progress bar's counters when a bar can be shown (a terminal), else None: off a
    terminal nothing of it (nor rich, which draws it) is loaded."""
    if not shown:
        return contextlib.nullcontext(None)
    from beacon.cli._progress import SyncProgress

    return SyncProgress(enabled=True)


def _watched(names: list[Engine | str] | None, progress: Any) -> tuple[list[Engine | str], Any]:
    """The engines and the transport, reporting to the progress bar when there is one."""
    if progress is None:
        return list(names or ()), None
    from beacon.cli._progress import CountingTransport, ProgressEngine

    # A generic collection reports its records to the progress bar; a typed engine (Firefox's
    # own collections) shows up through the requests it costs.
    engines: list[Engine | str] = [
        ProgressEngine(e, progress) if isinstance(e, str) else e for e in names or ()
    ]
    return engines, CountingTransport(progress)


def _open(
    args: argparse.Namespace,
    token: str,
    kb: bytes,
    previous: bytes | None,
    names: list[Engine | str] | None,
    progress: Any,
) -> SyncClient:
    engines, transport = _watched(names, progress)
    try:
        return SyncClient(
            token_server_url=args.token_server,
            access_token=token,
            kb=kb,
            keys_changed_at=args.keys_changed_at,
            state_path=args.state,
            engines=engines,
            transport=transport,
            previous_kb=previous,
        )
    except UsageError as exc:
        if str(args.state) in str(exc) and "beacon reset" not in str(exc):
            raise UsageError(
                f"{exc}; to start this device over: beacon reset --state {args.state}"
            ) from None
        raise


def _given(value: str | None, variable: str) -> bool:
    return bool(value if value is not None else os.environ.get(variable))


def _signed_in(args: argparse.Namespace) -> Any:
    """The account ``beacon login`` stored (same ``--profile``/``--config-dir``)."""
    from beacon.cli.login import _config_dir, _passphrase
    from beacon.fxa import DEFAULT_AUTH_SERVER, FirefoxAccount, default_store

    store = default_store(_config_dir(args), profile=args.profile, passphrase=_passphrase)
    if store.load() is None:
        raise UsageError(
            "no signed-in account: run `beacon login EMAIL` first, or give --access-token"
            f" (or set {_TOKEN_ENV}), --kb (or set {_KB_ENV}) and --keys-changed-at"
        )
    return FirefoxAccount(store, auth_server_url=args.auth_server or DEFAULT_AUTH_SERVER)


def _open_account(
    args: argparse.Namespace,
    account: Any,
    previous: bytes | None,
    names: list[Engine | str] | None,
    progress: Any,
) -> SyncClient:
    from beacon.fxa import sync_client

    engines, transport = _watched(names, progress)
    return sync_client(
        account,
        args.token_server,
        args.state,
        engines,
        transport=transport,
        previous_kb=previous,
    )


def _save_trace(args: argparse.Namespace, client: SyncClient | None) -> None:
    if args.trace_out is None or client is None or client.last_result is None:
        return
    from beacon.charts import Trace

    try:
        Trace.from_json(client.last_result.trace).save(args.trace_out)
    except OSError as exc:
        print(
            f"beacon: note: cannot write the trace to {args.trace_out}: {exc.strerror}",
            file=sys.stderr,
        )
    args.trace_out = None  # once


def _summary(counts: dict[str, Any]) -> str:
    return "+{}/-{}".format(counts.get("applied", 0), counts.get("uploaded", 0))


def _run_fields(result: SyncResult | None, client: SyncClient | None) -> dict[str, Any]:
    last = result if result is not None else (client.last_result if client else None)
    return {
        "states": list(last.states) if last is not None else [],
        "requests": last.requests if last is not None else 0,
        "engines": dict(last.engines) if last is not None else {},
        "alerts": list(last.alerts) if last is not None else [],
    }


def _report(
    result: SyncResult | None, error: BeaconError | None, client: SyncClient | None
) -> dict[str, Any]:
    described: dict[str, Any] | None = None
    if error is not None:
        described = {
            "kind": error.kind,
            "message": str(error),
            "status": exit_status(error),
        }
        if isinstance(error, BackoffError):
            described["until"] = error.until
            described["until_local"] = local_time(error.until)
    return {
        "outcome": "ok" if error is None else "error",
        "error": described,
        **_run_fields(result, client),
    }


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through the beacon command")
