"""Replay: run a chart again against the outcomes and guard results a trace recorded.

Contract: no service is called. Every action the chart runs is answered by the next action
record of the trace (which must name the same action in the same state), every guard by the
value the trace recorded for it in the same step, and every external event is the one the
trace recorded. Times come from the trace. The replay stops at the first divergence (a
different action, a guard with no recorded value, another event, other transitions or another
configuration) and reports it; a chart that still behaves as recorded replays to the end.
Nested traces are not re-run: the action that ran them is answered by its recorded outcome.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from beacon._errors import ChartError
from beacon.charts._bind import Machine
from beacon.charts._load import Chart
from beacon.charts._service import Binding
from beacon.charts._trace import ActionRecord, Step, Trace

__all__ = ["Divergence", "ReplayReport", "replay"]


@dataclass(frozen=True)
class Divergence:
    """Where a replay first differed from the recording."""

    step: int
    what: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"step {self.step}: {self.what}: recorded {self.expected!r}, replay {self.actual!r}"


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of a replay: ``divergence`` is ``None`` when the chart behaved as recorded."""

    divergence: Divergence | None
    trace: Trace

    @property
    def ok(self) -> bool:
        """Whether the replay matched the recording to the end."""
        return self.divergence is None


class _Diverged(Exception):
    def __init__(self, divergence: Divergence) -> None:
        super().__init__(str(divergence))
        self.divergence = divergence


class _Script:
    """Answers the chart's calls from the recording."""

    def __init__(self, recorded: Trace) -> None:
        self.recorded = recorded
        self.actions: deque[tuple[int, ActionRecord]] = deque(
            (step.n, a) for step in recorded.steps for a in step.actions
        )
        self.machine: Machine | None = None

    def _step_no(self) -> int:
        assert self.machine is not None
        return len(self.machine.trace.steps)

    def act(self, name: str) -> str | None:
        n = self._step_no()
        running = self.machine._current_actions[-1] if self.machine else None
        state = running.state if running else None
        if not self.actions or self.actions[0][0] != n:
            raise _Diverged(Divergence(n, "action", None, f"{name} in {state}"))
        _, record = self.actions.popleft()
        if (record.action, record.state) != (name, state):
            raise _Diverged(
                Divergence(n, "action", f"{record.action} in {record.state}", f"{name} in {state}")
            )
        return record.outcome

    def guard(self, name: str) -> bool:
        n = self._step_no()
        guards = self.recorded.steps[n].guards if n < len(self.recorded.steps) else {}
        if name not in guards:
            raise _Diverged(Divergence(n, f"guard {name}", None, "evaluated"))
        return guards[name]

    def clock(self) -> float:
        n = self._step_no()
        steps = self.recorded.steps
        return steps[n].time if n < len(steps) else steps[-1].time


def _bindings(chart: Chart, script: _Script, recorded: Trace) -> dict[str, Binding]:
    outcomes: dict[str, set[str]] = {}
    for step in recorded.steps:
        for a in step.actions:
            if a.outcome is not None:
                outcomes.setdefault(a.action, set()).add(a.outcome)
    out: dict[str, Binding] = {}
    for name in chart.structure.actions():
        out[name] = Binding(
            name=name,
            kind="action",
            outcomes=tuple(sorted(outcomes.get(name, ()))),
            method=lambda name=name: script.act(name),  # type: ignore[misc]
            owner="replay",
        )
    for name in chart.structure.guards():
        out[name] = Binding(
            name=name,
            kind="guard",
            outcomes=(),
            method=lambda name=name: script.guard(name),  # type: ignore[misc]
            owner="replay",
        )
    return out


def replay(chart: Chart, recorded: Trace) -> ReplayReport:
    """Re-run ``chart`` against a recorded trace; report the first divergence.

    Raises:
        ChartError: the trace is of another chart, or does not start at the initial state.

    Example::

        report = replay(load_chart("statecharts/door.yaml"), Trace.load("run.json"))
        if not report.ok:
            print(report.divergence)
    """
    if recorded.chart != chart.name:
        raise ChartError(f"the trace is of chart {recorded.chart!r}, not {chart.name!r}")
    if not recorded.steps or recorded.steps[0].event is not None:
        raise ChartError("replay needs a trace that starts at the initial state (step 0)")
    script = _Script(recorded)
    machine = Machine(chart, _bindings(chart, script, recorded), clock=script.clock, restore=None)
    script.machine = machine
    try:
        _compare(0, recorded.steps[0], _first(machine))
        for expected in recorded.steps[1:]:
            if machine.pending and machine.pending[0] != expected.event:
                raise _Diverged(Divergence(expected.n, "event", expected.event, machine.pending[0]))
            if machine.pending:
                machine._pending.popleft()
            if expected.event is None:  # pragma: no cover - only step 0 has no event
                raise ChartError(f"step {expected.n} of the trace has no event")
            _compare(expected.n, expected, machine._step(expected.event))
    except _Diverged as exc:
        return ReplayReport(exc.divergence, machine.trace)
    except ChartError as exc:
        n = len(machine.trace.steps) - 1
        return ReplayReport(Divergence(n, "error", None, type(exc).__name__), machine.trace)
    if machine.pending and recorded.status == "final":  # pragma: no cover - final drops events
        return ReplayReport(
            Divergence(len(recorded.steps), "event", None, machine.pending[0]), machine.trace
        )
    return ReplayReport(None, machine.trace)


def _first(machine: Machine) -> Step:
    step = machine.start()
    assert step is not None
    return step


def _compare(n: int, expected: Step, actual: Step) -> None:
    for what in ("transitions", "configuration", "outcomes"):
        want, got = getattr(expected, what), getattr(actual, what)
        if want != got:
            raise _Diverged(Divergence(n, what, want, got))
