"""What every subcommand shares: exit statuses, one-line errors, help text, checks, times.

Exit statuses, one per error family (the README lists them; ``beacon --help`` too):

====  ======================  ===============================================================
0     ok
1     failed                  the command ran and its verdict is no (a chart check found
                              errors, the demo's story or a campaign's invariant failed)
2     usage                   bad arguments or configuration, an unusable state file or folder
3     authentication          the token server or a storage node refused the credentials
4     backoff                 the server asked us to wait; the message says until when
5     network                 no complete HTTP exchange (connect, read, TLS, timeout)
6     server                  the server refused in protocol (5xx, conflicts)
7     protocol                the server answered out of protocol
8     trust                   a security check failed (record HMAC, keys under another kB)
9     upgrade required        the server's storage needs a newer client
130   interrupted             Ctrl-C (SIGINT)
====  ======================  ===============================================================
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from beacon._errors import (
    AuthenticationError,
    BackoffError,
    BeaconError,
    ClientUpgradeRequired,
    ProtocolViolation,
    ServerError,
    ServiceEndOfLife,
    TransportError,
    TrustError,
    UsageError,
)

__all__ = [
    "EXIT_STATUSES",
    "add_command",
    "error_line",
    "exit_status",
    "interrupted_report",
    "local_time",
    "plain",
    "require_dot",
    "writable_dir",
]

#: (status, family, meaning), in the order ``beacon --help`` lists them.
EXIT_STATUSES: tuple[tuple[int, str, str], ...] = (
    (0, "ok", "the command did what it was asked"),
    (1, "failed", "it ran and its verdict is no (chart check, demo story, campaign)"),
    (2, "usage", "bad arguments or configuration, unusable state file or folder"),
    (3, "authentication", "the credentials were refused"),
    (4, "backoff", "the server asked us to wait (the message says until when)"),
    (5, "network", "no complete HTTP exchange (connect, read, TLS, timeout)"),
    (6, "server", "the server refused in protocol (5xx, conflicts)"),
    (7, "protocol", "the server answered out of protocol"),
    (8, "trust", "a security check failed (record HMAC, keys under another kB)"),
    (9, "upgrade required", "the server's storage needs a newer client"),
    (130, "interrupted", "Ctrl-C"),
)
STATUS = {family: status for status, family, _ in EXIT_STATUSES}

# Most specific first: an upgrade is a protocol violation, a backoff a server error.
_FAMILIES: tuple[tuple[type[BeaconError], str], ...] = (
    (UsageError, "usage"),
    (AuthenticationError, "authentication"),
    (BackoffError, "backoff"),
    (ServiceEndOfLife, "upgrade required"),
    (ServerError, "server"),
    (TransportError, "network"),
    (ClientUpgradeRequired, "upgrade required"),
    (ProtocolViolation, "protocol"),
    (TrustError, "trust"),
)

_HINTS = {
    "authentication": "check the access token (it may have expired) and --keys-changed-at",
    "network": "check the URL and the network; beacon retries nothing by itself",
    "server": "the server failed; try again later",
    "protocol": "the server does not speak Sync 1.5 as beacon expects; is the URL right?",
    "trust": "is --kb the key of this account? after a password reset pass the new kB",
    "upgrade required": "the server's storage format is newer than this beacon: upgrade it",
}


def family(exc: BeaconError) -> str:
    """The error family of a beacon error (see the module docstring)."""
    for cls, name in _FAMILIES:
        if isinstance(exc, cls):
            return name
    return "failed"


def exit_status(exc: BeaconError) -> int:
    return STATUS[family(exc)]


def hint(exc: BeaconError) -> str | None:
    """What the user can do about ``exc``, when beacon knows something useful."""
    if isinstance(exc, BackoffError):
        return f"try again after {local_time(exc.until)}"
    own: str | None = getattr(type(exc), "hint", None)  # an error class may say it better
    if own is not None:
        return own or None
    return _HINTS.get(family(exc))


def _colour(text: str, code: str) -> str:
    """ANSI colour on a terminal only (and never with NO_COLOR set, https://no-color.org)."""
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        return f"\x1b[{code}m{text}\x1b[0m"
    return text


def error_line(exc: BeaconError) -> str:
    """One line for stderr: ``beacon: error: <kind>: <message> (hint: ...)``."""
    message = " ".join(str(exc).split())
    extra = hint(exc)
    if extra and extra not in message:
        message += f" (hint: {extra})"
    return f"{_colour('beacon: error:', '1;31')} {exc.kind}: {message}"


def interrupted_report(**extra: Any) -> dict[str, Any]:
    """The one JSON object a ``--json`` command prints when Ctrl-C ends it."""
    return {
        "outcome": "interrupted",
        "error": {"kind": "interrupted", "message": "interrupted by the user (Ctrl-C)"},
        **extra,
    }


def local_time(epoch: float) -> str:
    """``2026-12-01 10:15:03 CET (epoch 1796...)``: local and exact."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(epoch))
    return f"{stamp} (epoch {epoch:.0f})"


_ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc):`~?([^`]+)`")


def plain(doc: str | None) -> str:
    """A module docstring as help text: reST roles, literals and ``::`` markers removed."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], doc or "")
    text = text.replace("``", "'").replace("`", "'")
    return re.sub(r"::\n", ":\n", text).replace(" ::", ":").strip()


def add_command(
    subparsers: Any, name: str, *, help: str, doc: str | None, examples: str
) -> argparse.ArgumentParser:
    """A subcommand's parser with a plain description and an examples epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=plain(doc) or help,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples.strip().splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The global -v/-q also after the command (``beacon sync ... -q``); SUPPRESS keeps a
    # value given before the command from being reset by this parser's defaults.
    parser.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    return parser


def writable_dir(path: Path, option: str) -> Path:
    """``path`` as a directory beacon can write into (created if missing), else UsageError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UsageError(f"{option} {str(path)!r}: cannot write there ({why})") from None
    return path


def _install_command() -> str:
    if sys.platform == "darwin":
        return "brew install graphviz"
    if sys.platform == "win32":
        return "winget install graphviz"
    for tool, command in (
        ("apt-get", "sudo apt-get install graphviz"),
        ("dnf", "sudo dnf install graphviz"),
        ("pacman", "sudo pacman -S graphviz"),
        ("zypper", "sudo zypper install graphviz"),
        ("apk", "sudo apk add graphviz"),
    ):
        if shutil.which(tool):
            return command
    return "install Graphviz from https://graphviz.org/download/"


def require_dot(what: str) -> None:
    """Fail before any work when Graphviz's ``dot`` is missing, naming the install command."""
    if shutil.which("dot") is None:
        raise UsageError(
            f"{what} needs Graphviz's `dot`, which is not installed: {_install_command()}"
        )
