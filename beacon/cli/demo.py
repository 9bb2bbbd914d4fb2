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

EXAMPLES = """\
beacon demo                          writes demo-output/ (open demo-output/index.html)
beacon demo --out /tmp/story --json
"""


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    from beacon.cli._common import add_command

    parser = add_command(
        subparsers,
        "demo",
        help="two devices syncing against the embedded Sync 1.5 service, told as a story",
        doc=__doc__,
        examples=EXAMPLES,
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

    from beacon.cli._common import require_dot, writable_dir
    from beacon.demo import print_checks, print_timeline, run_demo

    require_dot("beacon demo (its diagrams)")
    writable_dir(args.out, "--out")

    console = Console(quiet=args.json, stderr=False)
    progress = Console(stderr=True, quiet=args.json or getattr(args, "quiet", False))
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
