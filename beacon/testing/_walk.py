"""Deterministic chart walks generated from ``beacon chart paths``: every transition, on purpose.

Contract:

* :func:`walk_chart` takes each path of :func:`beacon.charts.transition_paths` and drives the
  chart through it with *scripted services*: a service class built from the chart itself, one
  ``@action`` per action name (declaring exactly the events its state can handle) and one
  ``@guard`` per guard name, bound with the real engine (``bind``), so the walk goes through
  the same checks, dispatch and tracing as a real run.
* A path is walked one event at a time through snapshots: before each event the snapshot's
  queued outcome is replaced by the path's event, and datamodel values and guard answers are
  chosen (by a small exhaustive search) so that the path's transition, and the eventless ones
  that follow it, are the ones enabled. Each step's trace must show exactly the transitions
  the path names; anything else is reported as a divergence, never papered over.
* The result counts coverage like a campaign (a :class:`CoverageReport`), lists the
  transitions driven, the divergences, and the transitions no path reaches (unreachable from
  the initial state), by label.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from beacon.charts import (
    Chart,
    Structure,
    Trace,
    TransitionInfo,
    action,
    bind,
    guard,
    normalize_guard,
    transition_paths,
)
from beacon.testing._coverage_report import CoverageReport

__all__ = ["WalkResult", "inferred_outcomes", "walk_chart"]

_VALUES = (0, 1, 2, 3)


class _Stop(Exception):
    """Ends a walk step once the step it was driving is complete."""


@dataclass
class WalkResult:
    """What walking a chart's paths took."""

    chart: str
    coverage: CoverageReport
    driven: set[str] = field(default_factory=set)
    divergences: dict[str, str] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)
    paths: int = 0


def _handled_events(s: Structure, state: str) -> list[str]:
    events: list[str] = []
    for sid in [state, *s.ancestors(state)]:
        for t in s.states[sid].transitions:
            events.extend(e for e in t.events if e not in events and not e.startswith("done."))
    return events


def inferred_outcomes(s: Structure) -> dict[str, tuple[str, ...]]:
    """For each entry action, the events its states (and their ancestors) handle, in document
    order: what a scripted or drawn action may return when no service declares its outcomes."""
    out: dict[str, list[str]] = {}
    for sid, info in s.states.items():
        for name in info.enter:
            merged = out.setdefault(name, [])
            merged.extend(e for e in _handled_events(s, sid) if e not in merged)
    return {name: tuple(events) for name, events in out.items()}


def _scripted_services(s: Structure, plan: dict[str, bool]) -> object:
    """A service object offering every action and guard the chart names (see the module doc)."""
    namespace: dict[str, Any] = {}
    outcomes = inferred_outcomes(s)
    for name, events in outcomes.items():

        def act(self: object, _first: str = events[0]) -> str:
            return _first

        namespace[name] = action(*events)(act)
    effects = {n for info in s.states.values() for n in info.exit}
    effects.update(n for t in s.transitions for n in t.actions)
    for name in effects - set(outcomes):

        def effect(self: object) -> None:
            return None

        namespace[name] = action()(effect)
    for name in s.guards():

        def answer(self: object, _name: str = name) -> bool:
            return plan.get(_name, False)

        namespace[name] = guard(answer)
    return type("Scripted", (), namespace)()


def _satisfying(
    s: Structure, transitions: Sequence[TransitionInfo], current: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, bool]] | None:
    """Datamodel values and guard answers under which every transition's guard holds."""
    conds = [normalize_guard(c) for t in transitions for c in t.cond]
    unless = [normalize_guard(u) for t in transitions for u in t.unless]
    names: set[str] = set()
    for expr in (*conds, *unless):
        names.update(
            n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)
        )
    names -= {"True", "False", "None"}
    variables = sorted(n for n in names if n in s.datamodel)
    guards = sorted(n for n in names if n not in s.datamodel)
    choices: list[Iterable[Any]] = []
    for var in variables:
        first = current.get(var)
        choices.append([first, *(v for v in _VALUES if v != first)])
    choices.extend([(True, False)] * len(guards))
    compiled_c = [compile(e, "<guard>", "eval") for e in conds]
    compiled_u = [compile(e, "<guard>", "eval") for e in unless]
    for combo in itertools.product(*choices):
        env: dict[str, Any] = dict(zip([*variables, *guards], combo, strict=True))
        try:
            ok = all(eval(c, {"__builtins__": {}}, env) for c in compiled_c) and not any(
                eval(u, {"__builtins__": {}}, env) for u in compiled_u
            )
        except TypeError:
            continue
        if ok:
            return (
                {v: env[v] for v in variables},
                {g: bool(env[g]) for g in guards},
            )
    return None


def _automatic(event: str | None) -> bool:
    return event is None or event.startswith("done.")


def walk_chart(chart: Chart) -> WalkResult:
    """Walk every path of ``chart`` (see the module docstring)."""
    s = chart.structure
    report = CoverageReport({chart.name: s})
    result = WalkResult(chart.name, report)
    paths = transition_paths(chart)
    result.paths = len(paths)
    reached = {step.transition for p in paths for step in p.steps}
    result.unreachable = [t.label for t in s.transitions if t.id not in reached]
    for path in paths:
        _walk_path(chart, [s.by_id[step.transition] for step in path.steps], result)
    return result


def _groups(steps: Sequence[TransitionInfo]) -> list[list[TransitionInfo]]:
    """Split a path into one eventful transition plus the automatic ones that follow it."""
    groups: list[list[TransitionInfo]] = []
    for t in steps:
        event = t.events[0] if t.events else None
        if groups and _automatic(event):
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def _walk_path(chart: Chart, steps: Sequence[TransitionInfo], result: WalkResult) -> None:
    s = chart.structure
    plan: dict[str, bool] = {}
    services = _scripted_services(s, plan)
    groups = _groups(steps)
    if groups and not groups[0][0].events:
        result.divergences.setdefault(
            groups[0][0].id, "an eventless transition out of the initial state cannot be staged"
        )
        return

    def stop(step: Any) -> None:
        raise _Stop

    machine = bind(chart, [services])
    machine.add_observer(stop)
    with contextlib.suppress(_Stop):
        machine.start()
    result.coverage.add_trace(machine.trace)
    snapshot = machine.snapshot()
    for group in groups:
        head = group[0]
        event = head.events[0]
        found = _satisfying(s, group, snapshot["datamodel"])
        if found is None:
            result.divergences.setdefault(head.id, f"no datamodel enables {head.label}")
            return
        values, answers = found
        plan.clear()
        plan.update(answers)
        staged = dict(snapshot)
        staged["datamodel"] = {**snapshot["datamodel"], **values}
        staged["pending"] = []
        machine = bind(chart, [services], restore=staged)
        machine.add_observer(stop)
        with contextlib.suppress(_Stop):
            machine.send(event)
        trace: Trace = machine.trace
        result.coverage.add_trace(trace)
        wanted = [t.id for t in group]
        fired = trace.transitions
        if fired[: len(wanted)] != wanted:
            result.divergences.setdefault(
                head.id, f"expected {wanted}, the chart fired {fired} ({head.label})"
            )
            return
        result.driven.update(wanted)
        snapshot = machine.snapshot()
