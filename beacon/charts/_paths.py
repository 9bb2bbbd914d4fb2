"""Event sequences that together take every transition of a chart (for deterministic tests).

Contract: from the document alone. The walk is over atomic states with the values of the
datamodel (``_space.py``): a transition of a state or of any ancestor leads to the default
entry of its target (each region of a parallel target is a separate successor), guards over
datamodel variables are evaluated with the values the path has built up, and ``assign``
actions move them. Service guards are not evaluated but reported with each step, so a test
knows which answers a path needs. A path never needs a datamodel value its own earlier steps
rule out.

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

from beacon.charts._load import Chart
from beacon.charts._model import TransitionInfo
from beacon.charts._space import Node, Space

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
    """Paths from the initial state that together take every reachable transition.

    The walk is over states *and* datamodel values (``_space.py``): a path never asks for a
    transition whose guard its own earlier steps make false (``retries < 2`` after two
    retries), and a transition only a later value of a counter enables is reached by
    repeating the steps that move the counter.
    """
    space = Space(chart.structure)
    untaken = _reachable_transitions(space)
    paths: list[EventPath] = []
    while untaken:
        steps: list[PathStep] = []
        positions = space.initial
        while True:
            route = _nearest(space, positions, untaken)
            if route is None:
                break
            for t, node in route:
                untaken.discard(t.id)
                steps.append(_step(t, node.leaf))
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


def _reachable_transitions(space: Space) -> set[str]:
    seen = set(space.initial)
    queue = deque(seen)
    taken: set[str] = set()
    while queue:
        node = queue.popleft()
        if space.is_top_final(node):
            continue
        for t, nxt in space.successors(node):
            taken.add(t.id)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return taken


def _nearest(
    space: Space, starts: list[Node], untaken: set[str]
) -> list[tuple[TransitionInfo, Node]] | None:
    """The shortest route from ``starts`` that ends by taking an untaken transition."""
    parent: dict[Node, tuple[Node, TransitionInfo] | None] = dict.fromkeys(starts)
    queue = deque(starts)
    while queue:
        node = queue.popleft()
        if space.is_top_final(node):
            continue
        moves = list(space.successors(node))
        for t, nxt in moves:
            if t.id in untaken:
                return [*_route(parent, node), (t, nxt)]
        for t, nxt in moves:
            if nxt not in parent:
                parent[nxt] = (node, t)
                queue.append(nxt)
    return None


def _route(
    parent: dict[Node, tuple[Node, TransitionInfo] | None], node: Node
) -> list[tuple[TransitionInfo, Node]]:
    out: list[tuple[TransitionInfo, Node]] = []
    while (link := parent[node]) is not None:
        prev, t = link
        out.append((t, node))
        node = prev
    out.reverse()
    return out
