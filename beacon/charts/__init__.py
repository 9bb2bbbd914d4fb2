"""beacon's declarative statechart engine: load, check, bind, run, trace, draw.

Charts are YAML documents in python-statemachine 3.2's native vocabulary (``states``,
``transitions``, ``enter``, ``cond``/``unless``, ``datamodel``, ``assign``...), loaded with
``statemachine.io.load`` and run by it with SCXML semantics. This package knows nothing about
Sync: any chart, any services. It adds what the library lacks for loaded documents:

**Checks** (:func:`check_chart`, run by :func:`load_chart` and :func:`bind`): schema,
unreachable states, trap states, states that cannot reach a final state, names nothing binds,
nondeterminism and completeness. Errors raise :class:`~beacon.ChartError` with ``findings``.

**Actions and outcomes.** A bare name in a state's ``enter`` list is an *action*: a service
method marked ``@action("ok", "not_found", ...)`` with the outcomes it can return. On entering
the state the engine calls it with no arguments; it returns exactly one declared outcome, a
``str`` (data travels through the service objects, never through the chart). The outcome is
queued as the next event and handled by a transition of the state or an enclosing state. An
undeclared outcome, or a non-``str``, raises ``ChartError``. Actions named in ``exit`` or a
transition's ``on``/``before``/``after`` are *effects*: ``@action()`` with no outcomes,
returning ``None``. Several actions entered in one step queue their outcomes in call order.

**Guards.** Names in ``cond``/``unless`` expressions that are not datamodel variables bind
to service methods marked ``@guard``: no arguments, return ``bool`` (anything else is a
``ChartError``), only read: the library may evaluate a guard more than once per selection.
Expressions use the library's dialect (``not x``, ``a and b``, ``n < 2``, ``In('state')``).
Two transitions of one state on one event need guards that exclude each other (``cond: x``
and ``unless: x``); the check proves that from the expressions.

**Parallel states.** An event goes to every region, so actions of different regions should
use distinct outcome names (``fetched``/``sent``, not ``ok``/``ok``). Outcomes still queued
when a top-level final state is reached are dropped.

**Datamodel.** ``datamodel:`` variables (write values as expression strings:
``attempts: "0"``; a bare ``0`` is an error) live on the machine's model, are initialised on
every fresh start, changed by ``assign`` and compared by guards, e.g. a fresh-start counter
bounded by ``cond: fresh_starts < 1``.

**Strictness.** A callback that raises (action, guard, observer) propagates out of
:meth:`Machine.run`/:meth:`Machine.send`; nothing becomes a silent ``error.execution``. An
event no transition takes raises :class:`~beacon.UnhandledEvent`. ``run(max_steps=...)``
raises ``ChartError`` on a runaway loop or when the machine stalls waiting for an external
event in a non-final state.

**Binding and running.** ``bind(chart, services, clock=...)`` maps every name to exactly one
service method (a name offered twice or never is an error) and returns a :class:`Machine`.
Nothing runs until ``machine.run()`` (until a top-level final state; returns
:class:`RunResult`) or ``machine.send(event)`` (one external event, then the outcomes it
leads to). ``machine.add_observer(fn)`` calls ``fn(step)`` after each step (a
:class:`Step`: the event, the transitions it fired, states left and entered, guard results,
action outcomes, the configuration). ``machine.handled_events()`` lists the events the
current configuration takes.

**Snapshots.** Between steps ``machine.snapshot()`` is JSON: configuration, datamodel,
history memory and queued outcomes. ``bind(chart, services, restore=snapshot)`` carries on
from there, in another process: no entry actions re-run, the queued outcome is processed
next, and step numbers continue (``trace.restored_at``). An observer that saves a snapshot
after a step sees the outcome of that step's actions queued, so a crash right after an
action's I/O resumes by handling its outcome.

**Roles.** Every top-level final state declares what it means to whoever runs the chart, in
its ``donedata``: ``success``, ``recovery`` or ``failure`` with the error class it raises
(``_roles.py``; :attr:`Chart.roles`, :attr:`RunResult.role`). A final without one does not
load. A chart with no final state at all is *reactive*: it runs until it is stopped, driven
by :meth:`Machine.send`.

**Errors travel with outcomes.** ``return outcome("backoff", exc)`` queues ``backoff`` and
keeps ``exc`` with it; :attr:`RunResult.error` is the error carried by the outcome on which
the run reached its final state.

**Nesting.** ``@action(*finals, chart="token")`` marks an action that runs another chart: its
body calls :func:`run_child` with the child's services and returns the child's final state
(perhaps as ``outcome(final, result.error)``). Its outcomes must be exactly the child's
top-level finals (the ``composition`` check, naming both charts). The child shares the
parent's clock and observers, and attaches its :class:`Trace` to the action's record, so one
run yields one JSON trace tree (``trace.children``, ``trace.walk()``).

**Goals.** A chart may declare "sometimes" goals, sequences a campaign must see at least
once, as the datamodel constant ``sometimes`` (``_goals.py``; :func:`read_goals`,
:func:`goals_met`); the ``goals`` check proves them well formed.

**Traces** hold names, never values (see ``_trace.py``). :func:`replay` re-runs a chart
against a trace's recorded outcomes and guard results and reports the first divergence.
:class:`Coverage` accumulates traces into hit counts per transition.

**Diagrams** (:func:`render_dot`, :func:`render_svg`, :func:`render_mermaid`;
``beacon chart render``) and **paths** (:func:`transition_paths`; ``beacon chart paths``)
are drawn from the document alone. ``statecharts/`` ships inside the wheel: :func:`chart_path`
finds a packaged chart.

**Exports** (:func:`export_scxml`, :func:`export_xstate`; ``beacon chart export``) are drawn
from the document alone too: SCXML that python-statemachine's own loader reads back into the
same chart (:func:`read_scxml` adds the callback names), and XState v5 machine configs.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from beacon.charts._bind import Machine, RunResult, bind, run_child
from beacon.charts._finding import Finding
from beacon.charts._load import Chart, chart_path, child_chart_of, load_chart, packaged_charts
from beacon.charts._model import StateInfo, Structure, TransitionInfo, normalize_guard
from beacon.charts._roles import ROLES, Role
from beacon.charts._service import Binding, Outcome, action, collect, guard, outcome
from beacon.charts._trace import ActionRecord, Step, Trace

if _typing.TYPE_CHECKING:
    from beacon.charts._check import check_chart
    from beacon.charts._coverage import Coverage
    from beacon.charts._export import BEACON_NS, SCXML_NS, export_scxml, read_scxml
    from beacon.charts._goals import (
        GOALS_VARIABLE,
        Goal,
        GoalStep,
        goal_findings,
        goals_met,
        read_goals,
    )
    from beacon.charts._matrix import MatrixCell, completeness_matrix, format_matrix
    from beacon.charts._paths import EventPath, PathStep, transition_paths
    from beacon.charts._render import Overlay, edge_class, render_dot, render_mermaid, render_svg
    from beacon.charts._replay import Divergence, ReplayReport, replay
    from beacon.charts._space import Node, Space
    from beacon.charts._xstate import export_xstate

# The renderer (and Graphviz behind it), the checker (YAML, jsonschema), the exporters and the
# analyses (coverage, goals, matrix, paths, replay, state space) load on first use (PEP 562):
# running a chart never draws, exports or explores it, and a chart from the load cache needs
# no check.
_LAZY = {
    **dict.fromkeys(("Coverage",), "beacon.charts._coverage"),
    **dict.fromkeys(
        ("GOALS_VARIABLE", "Goal", "GoalStep", "goal_findings", "goals_met", "read_goals"),
        "beacon.charts._goals",
    ),
    **dict.fromkeys(
        ("MatrixCell", "completeness_matrix", "format_matrix"), "beacon.charts._matrix"
    ),
    **dict.fromkeys(("EventPath", "PathStep", "transition_paths"), "beacon.charts._paths"),
    **dict.fromkeys(("Divergence", "ReplayReport", "replay"), "beacon.charts._replay"),
    **dict.fromkeys(("Node", "Space"), "beacon.charts._space"),
    "check_chart": "beacon.charts._check",
    **dict.fromkeys(
        ("BEACON_NS", "SCXML_NS", "export_scxml", "read_scxml"), "beacon.charts._export"
    ),
    "export_xstate": "beacon.charts._xstate",
    **dict.fromkeys(
        ("Overlay", "edge_class", "render_dot", "render_mermaid", "render_svg"),
        "beacon.charts._render",
    ),
}


def __getattr__(name: str) -> _typing.Any:
    """Import a lazy name from its home module when first asked for."""
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'beacon.charts' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BEACON_NS",
    "GOALS_VARIABLE",
    "ROLES",
    "SCXML_NS",
    "ActionRecord",
    "Binding",
    "Chart",
    "Coverage",
    "Divergence",
    "EventPath",
    "Finding",
    "Goal",
    "GoalStep",
    "Machine",
    "MatrixCell",
    "Node",
    "Outcome",
    "Overlay",
    "PathStep",
    "ReplayReport",
    "Role",
    "RunResult",
    "Space",
    "StateInfo",
    "Step",
    "Structure",
    "Trace",
    "TransitionInfo",
    "action",
    "bind",
    "chart_path",
    "check_chart",
    "child_chart_of",
    "collect",
    "completeness_matrix",
    "edge_class",
    "export_scxml",
    "export_xstate",
    "format_matrix",
    "goal_findings",
    "goals_met",
    "guard",
    "load_chart",
    "normalize_guard",
    "outcome",
    "packaged_charts",
    "read_goals",
    "read_scxml",
    "render_dot",
    "render_mermaid",
    "render_svg",
    "replay",
    "run_child",
    "transition_paths",
]
