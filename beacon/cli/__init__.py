"""The ``beacon`` command: one program, one subcommand per job.

Each subcommand lives in its own module under ``beacon.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning the exit status. Nothing imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from beacon._errors import BeaconError

# Modules providing subcommands, in the order `beacon --help` lists them.
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "serve",
    "account",
    "chart",
    "sync",
    "explore",
    "demo",
    "data",
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="beacon",
        description="A Firefox Sync 1.5 client driven by declarative statecharts.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in _SUBCOMMAND_MODULES:
        module = importlib.import_module(f"beacon.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (console-script entry point)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except BeaconError as exc:
        # One line, no traceback: the error tree's messages carry no secrets.
        print(f"beacon: error: {exc.kind}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
