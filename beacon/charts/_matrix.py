"""The completeness check as a table: every state × every outcome its actions declare.

Contract: reads the chart's structure and the services' marks (never calls them). Each cell
says which transition handles the outcome in that state (its own or an enclosing state's,
the first in document order when several are guarded), ``guarded`` when every handler has a
guard that may be false, or ``unhandled``. ``beacon chart check --matrix`` prints it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from beacon.charts._guards import Formula, conjunction, satisfiable
from beacon.charts._model import Structure, event_matches
from beacon.charts._service import collect

__all__ = ["MatrixCell", "completeness_matrix", "format_matrix"]


@dataclass(frozen=True)
class MatrixCell:
    """How one outcome of one action entered in one state is handled."""

    state: str
    action: str
    outcome: str
    status: str  # "handled", "guarded" or "unhandled"
    handlers: tuple[str, ...]  # transition labels, innermost state first

    def to_json(self) -> dict[str, Any]:
        """The cell as a JSON-able dict."""
        return {
            "state": self.state,
            "action": self.action,
            "outcome": self.outcome,
            "status": self.status,
            "handlers": list(self.handlers),
        }


def completeness_matrix(s: Structure, services: Iterable[object]) -> list[MatrixCell]:
    """One cell per (state, entered action, declared outcome), in document order."""
    found, _ = collect(services)
    cells = []
    for info in s.states.values():
        for name in info.enter:
            binding = found.get(name)
            if binding is None or binding.kind != "action":
                continue
            for outcome in binding.outcomes:
                handlers = [
                    t
                    for t in s.available(info.id)
                    if any(event_matches(e, outcome) for e in t.events)
                ]
                guards = [conjunction(t) for t in handlers]
                if not handlers:
                    status = "unhandled"
                elif any(g is None for g in guards) or _exhaustive(
                    [g for g in guards if g is not None]
                ):
                    status = "handled"
                else:
                    status = "guarded"
                labels = tuple(t.label for t in handlers)
                cells.append(MatrixCell(info.id, name, outcome, status, labels))
    return cells


def _exhaustive(guards: list[Formula]) -> bool:
    """Whether at least one of the guards always holds (none can all be false at once)."""
    none_hold = [Formula(("not", g.tree), g.names) for g in guards]
    return satisfiable(none_hold) is False


def format_matrix(cells: list[MatrixCell]) -> str:
    """The matrix as aligned text: state, action, outcome, then who handles it."""
    rows = [("state", "action", "outcome", "handled by")]
    for c in cells:
        where = "; ".join(c.handlers) if c.handlers else "-"
        shown = where if c.status == "handled" else f"{c.status.upper()}: {where}"
        rows.append((c.state, c.action, c.outcome, shown))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(r)).rstrip()
        for r in rows
    )
