"""The ``beacon`` command: one program, one subcommand per job.

Each subcommand lives in its own module under ``beacon.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning the exit status. Errors of beacon's tree become one line on
stderr and the exit status of their family (``beacon.cli._common``); Ctrl-C ends with 130
and, under ``--json``, one JSON object saying so. Nothing imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import re
import sys
from collections.abc import Sequence

from beacon._errors import BeaconError, UsageError
from beacon.cli._common import EXIT_STATUSES, STATUS, error_line, exit_status, interrupted_report

# Modules providing subcommands, in the order `beacon --help` lists them: one a line, so
# that a new subcommand is a one-line change.
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "serve",
    "proxy",
    "account",
    "sync",
    "reset",
    "login",
    "chart",
    "explore",
    "demo",
    "data",
    "devices",  # after data: it adds `tabs received`
)

#: Modules a subcommand's module needs registered before it (it extends their parsers).
_NEEDS: dict[str, tuple[str, ...]] = {"devices": ("data",)}

_EXAMPLES = """\
examples:
  beacon demo                                   two devices, a 401 and a node move, checked
  beacon serve --port 8000 --data ./server      a Sync 1.5 service on loopback
  beacon account create --server http://127.0.0.1:8000
  beacon sync --token-server URL --keys-changed-at MS --state ./device --engines notes
  beacon COMMAND --help                         each command's options and examples
"""


def _version() -> str:
    # importlib.metadata costs more than a sync's own work: imported for --version only.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("beacon")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _Version(argparse.Action):
    """``--version``, the version looked up only when asked for (see :func:`_version`)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"beacon {_version()}")
        parser.exit()


def _epilog() -> str:
    statuses = "\n".join(f"  {code:>3}  {name:<17} {what}" for code, name, what in EXIT_STATUSES)
    return f"{_EXAMPLES}\nexit statuses:\n{statuses}\n"


def _requested(argv: Sequence[str] | None) -> str | None:
    """The subcommand ``argv`` names, when nothing before it needs the others (``--help``)."""
    for arg in sys.argv[1:] if argv is None else argv:
        if arg in ("-q", "--quiet", "--verbose") or re.fullmatch(r"-v+", arg):
            continue
        return arg if arg in _SUBCOMMAND_MODULES else None
    return None


def build_parser(argv: Sequence[str] | None = (), /) -> argparse.ArgumentParser:
    """The whole command line, with every subcommand registered.

    Given the arguments, only the subcommand they name is registered (when they name one):
    its module alone is imported, so ``beacon sync`` never loads the server, the demo or the
    renderer. ``beacon --help`` and an unknown command still see every subcommand.
    """
    parser = argparse.ArgumentParser(
        prog="beacon",
        description="A Firefox Sync 1.5 client driven by declarative statecharts.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-v", "--verbose", action="count", default=0, help="say more on stderr (-vv: debug log)"
    )
    loudness.add_argument(
        "-q", "--quiet", action="store_true", help="errors only on stderr: no progress, no notes"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    only = _requested(argv) if argv != () else None
    wanted = None if only is None else {only, *_NEEDS.get(only, ())}
    for name in _SUBCOMMAND_MODULES:
        if wanted is not None and name not in wanted:
            continue
        module = importlib.import_module(f"beacon.cli.{name}")
        module.register(subparsers)
    return parser


def _logging(verbose: int) -> None:
    """-v: beacon's own log at INFO; -vv: DEBUG. httpx logs request lines (never headers)."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    for name in ("beacon", "httpx"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(getattr(h, "_beacon_cli", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("beacon: %(name)s: %(message)s"))
            handler._beacon_cli = True  # type: ignore[attr-defined]  # added once per process
            logger.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (console-script entry point)."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    _logging(args.verbose)
    try:
        status: int = args.func(args)
    except BeaconError as exc:
        # One line, no traceback: the error tree's messages carry no secrets.
        print(error_line(exc), file=sys.stderr)
        return exit_status(exc)
    except OSError as exc:
        # A file or folder the user named cannot be read or written: one line, no traceback.
        where = f" {exc.filename!r}" if exc.filename else ""
        print(
            error_line(UsageError(f"{exc.strerror or type(exc).__name__}:{where}")), file=sys.stderr
        )
        return STATUS["usage"]
    except KeyboardInterrupt:
        if getattr(args, "json", False):
            print(json.dumps(interrupted_report()), flush=True)
        else:
            print("beacon: interrupted", file=sys.stderr)
        return STATUS["interrupted"]
    return status


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
