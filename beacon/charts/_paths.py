"""Event sequences that together take every transition of a chart (for deterministic tests).

Contract: structural only. The walk is over atomic states: a transition of a state or of any
ancestor leads to the default entry of its target (each region of a parallel target is a
separate successor). Guards are not evaluated but reported with each step, so a test knows
which guard values (service answers, datamodel) a path needs; a path may therefore need
guard values that its own earlier steps rule out (e.g. a counter that must first grow).

Algorithm: starting from the initial state, repeatedly walk the shortest path (breadth-first,
document order breaking ties) to the nearest state where an untaken transition is available,
take it, and carry on; when no untaken transition is reachable from the current state (a final
state, say) start a new path from the initial state. Every path is a sequence of shortest
paths, and the set covers every transition reachable from the initial state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from beacon.charts._check import successors
from beacon.charts._load import Chart
from beacon.charts._model import Structure, TransitionInfo

__all__ = ["EventPath", "PathStep", "transition_paths"]


@dataclass(frozen=True)
class PathStep:
    """One transition of a path: the event to send (``None``: eventless) and its guard."""

    event: str | None
    transition: str
    label: str
    guard: str
    target: str

    def to_json(self) -> dict[str, Any]:
        """The step as a JSON-able dict."""
        return {
            "event": self.event,
            "transition": self.transition,
            "label": self.label,
            "guard": self.guard or None,
            "target": self.target,
        }


@dataclass(frozen=True)
class EventPath:
    """A sequence of transitions from the initial configuration."""

    steps: tuple[PathStep, ...]

    @property
    def events(self) -> list[str]:
        """The events to send, in order.

        Eventless steps and the engine's own ``done.state.*``/``done.invoke.*`` events fire on
        their own and are left out; ``steps`` still lists them.
        """
        return [
            s.event for s in self.steps if s.event is not None and not s.event.startswith("done.")
        ]

    def to_json(self) -> dict[str, Any]:
        """The path as a JSON-able dict."""
        return {"events": self.events, "steps": [s.to_json() for s in self.steps]}


def transition_paths(chart: Chart) -> list[EventPath]:
    """Paths from the initial state that together take every reachable transition."""
    s = chart.structure
    untaken = {t.id for t in s.transitions}
    reachable = _reachable_transitions(s)
    untaken &= reachable
    paths: list[EventPath] = []
    while untaken:
        steps: list[PathStep] = []
        positions = s.initial_leaves()
        while True:
            route = _nearest(s, positions, untaken)
            if route is None:
                break
            for t, leaf in route:
                untaken.discard(t.id)
                steps.append(_step(t, leaf))
            positions = [route[-1][1]]
        if not steps:  # pragma: no cover - untaken only holds reachable transitions
            break
        paths.append(EventPath(tuple(steps)))
    return paths


def _step(t: TransitionInfo, leaf: str) -> PathStep:
    return PathStep(
        event=t.events[0] if t.events else None,
        transition=t.id,
        label=t.label,
        guard=t.guard,
        target=leaf,
    )


def _is_top_final(s: Structure, leaf: str) -> bool:
    return s.states[leaf].final and s.states[leaf].parent is None


def _reachable_transitions(s: Structure) -> set[str]:
    seen = set(s.initial_leaves())
    queue = deque(seen)
    taken: set[str] = set()
    while queue:
        leaf = queue.popleft()
        if _is_top_final(s, leaf):
            continue
        for t, nxt in successors(s, leaf):
            taken.add(t.id)
            for n in nxt:
                if n not in seen:
                    seen.add(n)
                    queue.append(n)
    return taken


def _nearest(
    s: Structure, starts: list[str], untaken: set[str]
) -> list[tuple[TransitionInfo, str]] | None:
    """The shortest route from ``starts`` that ends by taking an untaken transition."""
    parent: dict[str, tuple[str, TransitionInfo] | None] = dict.fromkeys(starts)
    queue = deque(starts)
    while queue:
        leaf = queue.popleft()
        if _is_top_final(s, leaf):
            continue
        for t, nxt in successors(s, leaf):
            if t.id in untaken:
                return [*_route(parent, leaf), (t, nxt[0])]
        for t, nxt in successors(s, leaf):
            for n in nxt:
                if n not in parent:
                    parent[n] = (leaf, t)
                    queue.append(n)
    return None


def _route(
    parent: dict[str, tuple[str, TransitionInfo] | None], leaf: str
) -> list[tuple[TransitionInfo, str]]:
    out: list[tuple[TransitionInfo, str]] = []
    node = leaf
    while (link := parent[node]) is not None:
        prev, t = link
        out.append((t, node))
        node = prev
    out.reverse()
    return out
