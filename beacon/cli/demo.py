"""``beacon demo``: the main job on the embedded default, told as a story and checked.

Two devices sync through the embedded Sync 1.5 service over loopback HTTP; the service
revokes a token mid-run and later moves the user to another node. The command prints a
timeline of each device's states, writes the traces, the overlaid diagrams and one HTML page
to ``--out``, and exits 1 when the story did not happen as told.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="two devices syncing against the embedded Sync 1.5 service, told as a story",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="directory for the traces, diagrams and the HTML page (default: demo-output)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the story as JSON (chapters, checks, files) instead of the timeline",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from beacon.demo import print_checks, print_timeline, run_demo

    console = Console(quiet=args.json, stderr=False)
    progress = Console(stderr=True, quiet=args.json)
    story = run_demo(args.out, progress=progress)
    if args.json:
        json.dump(story.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_timeline(story, console)
        print_checks(story, console)
        for what, path in story.files.items():
            console.print(f"[dim]{what}:[/dim] {path}")
        verdict = "[bold green]the story happened as told" if story.ok else "[bold red]FAILED"
        console.print(f"{verdict}[/] in {story.seconds:.1f} s")
    return 0 if story.ok else 1
