"""The demo's terminal timeline: each sync run as a row, each device's path through its chart.

States are coloured by role: where a run succeeded (green), failed (red), or recovered from
something the service did to it (yellow: a dropped token, a fresh start, a node move).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from beacon.demo._story import Chapter, Story

__all__ = ["RECOVERY_STATES", "chapter_text", "print_checks", "print_timeline", "state_role"]

#: States entered only when something went wrong and the chart is putting it right.
RECOVERY_STATES = frozenset(
    {
        "invalidated",
        "drop_token",
        "leaving_old_node",
        "forgetting_old_key",
        "missing_meta_global",
        "missing_keys",
        "storage_outdated",
        "fresh_start",
        "uploading_meta_global",
        "uploading_keys",
        "refreshing_credentials",
        "token_expired",
        "node_reassigned",
    }
)
SUCCESS_STATES = frozenset({"synced", "done", "finished"})
FAILURE_STATES = frozenset(
    {
        "backed_off",
        "auth_failed",
        "unreachable",
        "failed",
        "client_upgrade_required",
        "untrusted_keys",
        "setup_race",
    }
)
DEVICE_STYLES = ("bold cyan", "bold magenta", "bold blue", "bold green")


def state_role(state: str) -> str | None:
    """How the demo shows a state: ``"ok"``, ``"fail"``, ``"recovery"``, or None (plain)."""
    leaf = state.rsplit(".", 1)[-1]
    if leaf in SUCCESS_STATES:
        return "ok"
    if leaf in FAILURE_STATES:
        return "fail"
    if leaf in RECOVERY_STATES:
        return "recovery"
    return None


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
    title.append(f"   {chapter.outcome}", style=_state_style(chapter.outcome) or "bold")
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
