"""A chart's "sometimes" goals: sequences a campaign must see at least once.

Contract: pure, over :class:`Structure` and traces. A chart declares its goals as one
constant of its datamodel, ``sometimes``: a literal tuple of strings, each
``"<name>: <step> -> <step> ..."``. A step is ``state`` (the state was entered) or
``state.event`` (a transition declared on ``state`` fired on ``event``). A goal is *met* by a
sequence of runs of the chart when its steps occur in that order (not necessarily adjacent)::

    datamodel:
      retries: "0"
      sometimes: "('a jam is retried and the door opens: opening.jammed -> opened',)"

Why the datamodel: python-statemachine's schema refuses keys it does not know, so a goal list
elsewhere would either break the document for the library or live in a second file that can
drift from it; SCXML's datamodel is where a document keeps its data. The check (``goals``)
proves the constant is a tuple of well-formed goals that name real states and transitions,
and that no transition assigns it or guard reads it, so it cannot change what a run does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from beacon.charts._finding import Finding
from beacon.charts._guards import parse_guard
from beacon.charts._model import Structure
from beacon.charts._trace import Trace

__all__ = ["GOALS_VARIABLE", "Goal", "GoalStep", "goal_findings", "goals_met", "read_goals"]

#: The datamodel constant that holds the goals.
GOALS_VARIABLE = "sometimes"


@dataclass(frozen=True)
class GoalStep:
    """One step of a goal: a state entered (``event`` None) or a transition on ``event``."""

    state: str
    event: str | None = None

    def __str__(self) -> str:
        return self.state if self.event is None else f"{self.state}.{self.event}"


@dataclass(frozen=True)
class Goal:
    """A named sequence of steps that some run must show at least once."""

    name: str
    steps: tuple[GoalStep, ...]

    def __str__(self) -> str:
        return f"{self.name}: " + " -> ".join(str(s) for s in self.steps)


def _parse_goal(text: str, s: Structure) -> Goal | str:
    """The goal, or a message saying what is wrong with ``text``."""
    name, colon, rest = text.partition(":")
    if not colon or not name.strip() or not rest.strip():
        return f"goal {text!r} is not '<name>: <step> -> <step> ...'"
    steps: list[GoalStep] = []
    for raw in rest.split("->"):
        word = raw.strip()
        state, dot, event = word.partition(".")
        if not word or (dot and not event):
            return f"goal {name.strip()!r}: empty step in {rest.strip()!r}"
        if state not in s.states:
            return f"goal {name.strip()!r}: no state {state!r}"
        if dot and not any(event in t.events for t in s.states[state].transitions):
            return f"goal {name.strip()!r}: state {state!r} declares no transition on {event!r}"
        steps.append(GoalStep(state, event or None))
    return Goal(name.strip(), tuple(steps))


def _literal(s: Structure) -> object:
    expr = dict(s.datamodel_exprs).get(GOALS_VARIABLE)
    if expr is None:
        return ()
    try:
        return ast.literal_eval(str(expr))
    except (ValueError, SyntaxError):
        return expr


def read_goals(s: Structure) -> tuple[Goal, ...]:
    """The chart's goals (empty when it declares none); malformed ones are skipped (the
    ``goals`` check reports them)."""
    value = _literal(s)
    if not isinstance(value, tuple):
        return ()
    goals = [_parse_goal(v, s) for v in value if isinstance(v, str)]
    return tuple(g for g in goals if isinstance(g, Goal))


def goal_findings(file: str, s: Structure) -> list[Finding]:
    """The ``goals`` check (see the module docstring)."""
    if GOALS_VARIABLE not in s.datamodel:
        return []
    out: list[Finding] = []

    def error(message: str) -> None:
        out.append(Finding("goals", "error", file, message))

    value = _literal(s)
    if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
        error(f"datamodel {GOALS_VARIABLE!r} must be a literal tuple of strings")
        return out
    names: set[str] = set()
    for text in value:
        goal = _parse_goal(text, s)
        if isinstance(goal, str):
            error(goal)
        elif goal.name in names:
            error(f"goal {goal.name!r} is declared twice")
        else:
            names.add(goal.name)
    for t in s.transitions:
        if any(location == GOALS_VARIABLE for location, _ in t.assigns):
            error(f"transition {t.label} assigns the goals constant {GOALS_VARIABLE!r}")
        if any(GOALS_VARIABLE in parse_guard(e).names for e in (*t.cond, *t.unless)):
            error(f"transition {t.label} reads the goals constant {GOALS_VARIABLE!r}")
    for info in s.states.values():
        if any(location == GOALS_VARIABLE for location, _ in info.enter_assigns):
            error(f"state {info.id!r} assigns the goals constant {GOALS_VARIABLE!r}")
    return out


def _events(s: Structure, traces: Iterable[Trace]) -> list[GoalStep]:
    """What the runs did, in order, as goal steps (a transition, then the states it entered)."""
    out: list[GoalStep] = []
    for trace in traces:
        for step in trace.steps:
            for tid in step.transitions:
                t = s.by_id.get(tid)
                if t is not None and step.event is not None and step.event in t.events:
                    out.append(GoalStep(t.source, step.event))
            out.extend(GoalStep(state) for state in step.entered)
    return out


def goals_met(goals: Sequence[Goal], s: Structure, traces: Iterable[Trace]) -> set[str]:
    """The names of the goals whose steps the runs show in order."""
    seen = _events(s, traces)
    met: set[str] = set()
    for goal in goals:
        i = 0
        for event in seen:
            if i < len(goal.steps) and event == goal.steps[i]:
                i += 1
        if i == len(goal.steps):
            met.add(goal.name)
    return met
