"""The demo's terminal timeline: each sync run as a row, each device's path through its chart.

Final states are coloured by the role their chart declares: where a run succeeded (green),
failed (red), or ended for its caller to recover (yellow: a node move).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from beacon.charts import Chart, load_chart
from beacon.demo._story import Chapter, Story

__all__ = ["chapter_text", "print_checks", "print_timeline", "state_role"]

DEVICE_STYLES = ("bold cyan", "bold magenta", "bold blue", "bold green")
# The charts' declared roles (donedata of their finals), as the demo names them.
_DEMO_ROLES = {"success": "ok", "failure": "fail", "recovery": "recovery"}


def state_role(state: str) -> str | None:
    """How the demo shows a state: ``"ok"``, ``"fail"``, ``"recovery"``, or None (plain).

    ``state`` is a session chart state or ``chart:state`` of a nested chart; its role is
    the one its chart declares (only final states declare one).
    """
    chart, _, leaf = state.rpartition(":")
    role = _chart(chart or "session").roles.get(leaf.rsplit(".", 1)[-1])
    return _DEMO_ROLES[role.role] if role is not None else None


@functools.cache
def _chart(name: str) -> Chart:
    return load_chart(name)


_ROLE_STYLES = {"ok": "bold green", "fail": "bold red", "recovery": "yellow"}


def _state_style(state: str) -> str:
    return _ROLE_STYLES.get(state_role(state) or "", "")


def path_text(path: Iterable[str]) -> Text:
    """``married → assigning → … → synced``, each state styled by its role."""
    text = Text()
    for n, state in enumerate(path):
        if n:
            text.append(" → ", style="dim")
        text.append(state, style=_state_style(state))
    return text


def _requests_text(chapter: Chapter) -> Text:
    count = len(chapter.requests)
    text = Text(f"{count} request{'' if count == 1 else 's'}", style="dim")
    unusual = [r for r in chapter.requests if r.status >= 300 and r.status != 304]
    for r in unusual:
        text.append("  ")
        text.append(r.label(), style="bold yellow" if r.status == 401 else "yellow")
    return text


def _engines_text(chapter: Chapter) -> Text:
    parts = []
    for engine, counts in sorted(chapter.engines.items()):
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
        parts.append(f"{engine}: {shown or 'no changes'}")
    return Text("; ".join(parts), style="dim")


def chapter_text(chapter: Chapter) -> Group:
    """The cell of one run: its title, its path, its HTTP summary and engine counts."""
    title = Text(chapter.title, style="bold")
    # A run's outcome is "ok" (SyncResult's word for a success final) or its failure final.
    outcome_style = _ROLE_STYLES["ok"] if chapter.outcome == "ok" else _state_style(chapter.outcome)
    title.append(f"   {chapter.outcome}", style=outcome_style or "bold")
    parts = [title, path_text(chapter.path), _requests_text(chapter)]
    if chapter.engines:
        parts.append(_engines_text(chapter))
    return Group(*parts)


def print_timeline(story: Story, console: Console) -> None:
    """One table, one row per sync run, in the order they happened."""
    table = Table(title="beacon demo: two devices, one embedded Sync 1.5 service", expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("device", no_wrap=True)
    table.add_column("the run: its story, its path through the session chart, its requests")
    for chapter in story.chapters:
        style = DEVICE_STYLES[story.devices.index(chapter.device) % len(DEVICE_STYLES)]
        table.add_row(str(chapter.number), Text(chapter.device, style=style), chapter_text(chapter))
    console.print(table)


def print_checks(story: Story, console: Console) -> None:
    """What the story claimed and whether the run bore it out."""
    for check in story.checks:
        mark = Text("✓ ", style="bold green") if check.passed else Text("✗ ", style="bold red")
        line = mark + Text(check.claim)
        if check.detail:
            line.append(f"  ({check.detail})", style="dim")
        console.print(line)
