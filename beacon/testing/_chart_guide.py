"""The coverage guide: the shortest path from the initial state to each coverage goal.

Contract: pure, over a chart's (state, datamodel) space (``beacon.charts`` ``Space``, the one
``beacon chart paths`` walks). Goals are ``transition:<id>`` (take the transition) and
``crash:<state>`` (be in the atomic state, then crash). :meth:`Guide.path` gives, for a goal,
the shortest transition sequence that reaches it; the campaign follows it by answering the
drawn actions and guards and sending the external events it names, and lets go as soon as
the running chart does something else (a bound service answered otherwise).

A transition out of a state whose entry action has declared outcomes is only offered on those
outcomes: the engine handles that action's outcome before any external event, so a path that
sent an external event there could not be followed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from beacon.charts import Node, Space, Structure, TransitionInfo

__all__ = ["Guide"]


def _automatic(t: TransitionInfo) -> bool:
    return not t.events or t.events[0].startswith("done.")


class Guide:
    """Shortest paths to every goal of one chart (see the module docstring)."""

    def __init__(self, s: Structure, outcomes: Mapping[str, Sequence[str]]) -> None:
        self.s = s
        self._outcomes = outcomes
        self._paths: dict[str, tuple[TransitionInfo, ...]] = {}
        self._search()

    def _allowed(self, node: Node, t: TransitionInfo) -> bool:
        if _automatic(t):
            return True
        actions = self.s.states[node.leaf].enter
        declared = {o for a in actions for o in self._outcomes.get(a, ())}
        return not actions or any(e in declared for e in t.events)

    def _search(self) -> None:
        space = Space(self.s)
        parent: dict[Node, tuple[Node, TransitionInfo] | None] = {}
        queue: deque[Node] = deque()
        for node in space.initial:
            parent.setdefault(node, None)
            queue.append(node)

        def path_to(node: Node) -> tuple[TransitionInfo, ...]:
            out: list[TransitionInfo] = []
            link = parent[node]
            while link is not None:
                node, t = link
                out.append(t)
                link = parent[node]
            return tuple(reversed(out))

        while queue:
            node = queue.popleft()
            here = path_to(node)
            if space.is_top_final(node):
                continue
            self._paths.setdefault(f"crash:{node.leaf}", here)
            for t, after in space.successors(node):
                if not self._allowed(node, t):
                    continue
                self._paths.setdefault(f"transition:{t.id}", (*here, t))
                if after not in parent:
                    parent[after] = (node, t)
                    queue.append(after)

    @property
    def goals(self) -> list[str]:
        """Every goal with a path, in a fixed order (transitions first, by document order)."""
        order = [f"transition:{t.id}" for t in self.s.transitions]
        order += [f"crash:{leaf}" for leaf in self.s.leaves()]
        return [g for g in order if g in self._paths]

    def path(self, goal: str) -> tuple[TransitionInfo, ...]:
        """The shortest path reaching ``goal`` (for ``crash:`` goals, to its state)."""
        return self._paths[goal]
