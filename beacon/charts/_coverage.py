"""Transition coverage: how often each transition of each chart fired over many traces.

Contract: pure bookkeeping over :class:`~beacon.charts.Trace` objects (nested traces
included); keys are transition ids (``source#n``), never event names, because one event can
label several transitions. Saved as JSON that ``beacon chart render --coverage`` draws::

    {"version": 1, "charts": {"door": {"runs": 3, "transitions": {"closed#0": 2, ...}}}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from beacon._errors import ChartError
from beacon.charts._load import Chart
from beacon.charts._trace import Trace

__all__ = ["Coverage"]

COVERAGE_VERSION = 1


class Coverage:
    """Hit counts per (chart, transition), accumulated from traces.

    Example::

        coverage = Coverage()
        coverage.add(result.trace)
        coverage.never_taken(chart)     # ["door: in_service --remove--> removed", ...]
        coverage.save("coverage.json")
    """

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self.hits: dict[str, dict[str, int]] = {}

    def add(self, trace: Trace) -> None:
        """Count the transitions of a trace and of every trace nested in it."""
        for t in trace.walk():
            self.runs[t.chart] = self.runs.get(t.chart, 0) + 1
            counts = self.hits.setdefault(t.chart, {})
            for tid in t.transitions:
                counts[tid] = counts.get(tid, 0) + 1

    def extend(self, traces: Iterable[Trace]) -> None:
        """Add several traces."""
        for trace in traces:
            self.add(trace)

    def count(self, chart: str, transition: str) -> int:
        """How often ``transition`` of ``chart`` fired."""
        return self.hits.get(chart, {}).get(transition, 0)

    def never_taken(self, chart: Chart) -> list[str]:
        """Labels of the chart's transitions that never fired, in document order."""
        counts = self.hits.get(chart.name, {})
        return [
            f"{chart.name}: {t.label}" for t in chart.structure.transitions if not counts.get(t.id)
        ]

    def ratio(self, chart: Chart) -> float:
        """The fraction of the chart's transitions that fired at least once."""
        total = len(chart.structure.transitions)
        if not total:
            return 1.0
        return 1 - len(self.never_taken(chart)) / total

    def merge(self, other: Coverage) -> None:
        """Add another coverage's counts to this one."""
        for chart, runs in other.runs.items():
            self.runs[chart] = self.runs.get(chart, 0) + runs
        for chart, counts in other.hits.items():
            mine = self.hits.setdefault(chart, {})
            for tid, n in counts.items():
                mine[tid] = mine.get(tid, 0) + n

    def to_json(self) -> dict[str, Any]:
        """The counts as a JSON-able dict (sorted, so files diff well)."""
        charts = {
            name: {
                "runs": self.runs.get(name, 0),
                "transitions": dict(sorted(self.hits.get(name, {}).items())),
            }
            for name in sorted(set(self.runs) | set(self.hits))
        }
        return {"version": COVERAGE_VERSION, "charts": charts}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Coverage:
        """Read counts written by :meth:`to_json`."""
        if not isinstance(data, Mapping) or data.get("version") != COVERAGE_VERSION:
            raise ChartError(f"not a beacon coverage file (version {COVERAGE_VERSION})")
        out = cls()
        for name, entry in data.get("charts", {}).items():
            out.runs[name] = int(entry.get("runs", 0))
            out.hits[name] = {str(k): int(v) for k, v in entry.get("transitions", {}).items()}
        return out

    def save(self, path: str | Path) -> None:
        """Write the counts to a JSON file."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Coverage:
        """Read counts from a JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ChartError(f"{path}: cannot read coverage: {exc}") from exc
        return cls.from_json(data)
