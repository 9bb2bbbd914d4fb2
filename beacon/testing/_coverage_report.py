"""What a campaign exercised: transitions and action outcomes per chart, as a table and JSON.

Contract:

* :class:`CoverageReport` is built from chart structures (every declared transition, by its
  ``source#n`` id) and from traces (what fired). It counts hits per transition and per
  ``(state, action, outcome)``; it never reads a transition id that the chart does not
  declare as covered (stale ids are listed under ``unknown``, so a renamed state shows up).
* :meth:`CoverageReport.merge` adds another report (the campaign plus the deterministic path
  tests), and :meth:`CoverageReport.untaken` names, per chart, the transitions nothing took.
* :func:`format_table` renders a plain-text table (no colour, no terminal needed); the CLI
  prints it, ``--json`` prints :meth:`CoverageReport.to_json` instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from beacon.charts import Coverage, Structure, Trace, load_chart

__all__ = ["SYNC_CHARTS", "CoverageReport", "format_table", "sync_chart_report"]

#: The charts a Sync run goes through; campaign coverage is reported for these.
SYNC_CHARTS: tuple[str, ...] = ("token", "session", "collection")


@dataclass
class CoverageReport:
    """Hit counts per transition and per action outcome, for a set of charts."""

    charts: Mapping[str, Structure]
    transitions: dict[str, Counter[str]] = field(default_factory=dict)
    outcomes: dict[str, Counter[tuple[str, str, str]]] = field(default_factory=dict)
    unknown: dict[str, Counter[str]] = field(default_factory=dict)
    runs: int = 0
    chart_runs: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for name in self.charts:
            self.transitions.setdefault(name, Counter())
            self.outcomes.setdefault(name, Counter())
            self.unknown.setdefault(name, Counter())

    def add_trace(self, trace: Trace) -> None:
        """Count one run, and every nested run of another chart inside it."""
        self.runs += 1
        for run in trace.walk():
            structure = self.charts.get(run.chart)
            if structure is None:
                continue
            self.chart_runs[run.chart] += 1
            for step in run.steps:
                for tid in step.transitions:
                    if tid in structure.by_id:
                        self.transitions[run.chart][tid] += 1
                    else:
                        self.unknown[run.chart][tid] += 1
                for act in step.actions:
                    if act.outcome is not None:
                        key = (act.state or "", act.action, act.outcome)
                        self.outcomes[run.chart][key] += 1

    def add_traces(self, traces: Iterable[Trace]) -> None:
        """Count several runs."""
        for trace in traces:
            self.add_trace(trace)

    def merge(self, other: CoverageReport) -> None:
        """Add ``other``'s counts to this report (charts must be the same set)."""
        for name in self.charts:
            self.transitions[name].update(other.transitions.get(name, Counter()))
            self.outcomes[name].update(other.outcomes.get(name, Counter()))
            self.unknown[name].update(other.unknown.get(name, Counter()))
        self.runs += other.runs
        self.chart_runs.update(other.chart_runs)

    def taken(self, chart: str) -> int:
        """How many of the chart's declared transitions fired at least once."""
        return sum(1 for t in self.charts[chart].transitions if self.transitions[chart][t.id])

    def untaken(self) -> dict[str, list[str]]:
        """Per chart, the labels of the transitions that never fired (empty lists omitted)."""
        out: dict[str, list[str]] = {}
        for name, structure in self.charts.items():
            missing = [t.label for t in structure.transitions if not self.transitions[name][t.id]]
            if missing:
                out[name] = missing
        return out

    def hits(self) -> dict[str, dict[str, int]]:
        """Per chart, every declared transition id with its hit count (zeros included)."""
        return {
            name: {t.id: self.transitions[name][t.id] for t in structure.transitions}
            for name, structure in self.charts.items()
        }

    def to_coverage(self) -> Coverage:
        """The counts as the engine's :class:`~beacon.charts.Coverage`, whose file
        ``beacon chart render --coverage`` draws."""
        coverage = Coverage()
        for name in self.charts:
            coverage.runs[name] = self.chart_runs[name]
            coverage.hits[name] = {t: n for t, n in sorted(self.transitions[name].items()) if n}
        return coverage

    def to_json(self) -> dict[str, Any]:
        """Totals, hits per transition, outcome counts and untaken transitions, per chart."""
        charts: dict[str, Any] = {}
        for name, structure in self.charts.items():
            charts[name] = {
                "taken": self.taken(name),
                "total": len(structure.transitions),
                "transitions": {
                    t.id: {"label": t.label, "hits": self.transitions[name][t.id]}
                    for t in structure.transitions
                },
                "outcomes": [
                    {"state": s, "action": a, "outcome": o, "hits": n}
                    for (s, a, o), n in sorted(self.outcomes[name].items())
                ],
                "unknown": dict(sorted(self.unknown[name].items())),
            }
        return {"runs": self.runs, "charts": charts, "untaken": self.untaken()}


def format_table(report: CoverageReport, *, show_hits: bool = True) -> str:
    """A plain-text coverage table: one block per chart, one line per transition."""
    lines: list[str] = []
    for name, structure in report.charts.items():
        total = len(structure.transitions)
        taken = report.taken(name)
        pct = 100.0 * taken / total if total else 100.0
        lines.append(f"{name}: {taken}/{total} transitions taken ({pct:.0f}%)")
        if show_hits:
            width = max((len(t.label) for t in structure.transitions), default=0)
            for t in structure.transitions:
                hits = report.transitions[name][t.id]
                mark = " " if hits else "!"
                lines.append(f"  {mark} {t.label:<{width}}  {hits:>7}")
        outcomes = report.outcomes[name]
        if outcomes:
            lines.append(f"  action outcomes ({len(outcomes)} distinct):")
            for (state, act, outcome), hits in sorted(outcomes.items()):
                lines.append(f"    {state}.{act} -> {outcome}: {hits}")
        for tid, hits in sorted(report.unknown[name].items()):
            lines.append(f"  ? {tid} fired {hits}x but the chart does not declare it")
    untaken = report.untaken()
    if untaken:
        lines.append("never taken:")
        for name, labels in untaken.items():
            lines.extend(f"  {name}: {label}" for label in labels)
    return "\n".join(lines)


def sync_chart_report() -> CoverageReport:
    """An empty coverage report over the Sync charts (the packaged documents)."""
    return CoverageReport({name: load_chart(name).structure for name in SYNC_CHARTS})
