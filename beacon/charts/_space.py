"""A chart's states together with the values of its datamodel: the space paths walk.

Contract: pure, over :class:`Structure`. A node is an atomic state plus the values of the
datamodel variables. A transition is possible from a node when its guard can hold: the guard's
comparisons over datamodel variables are evaluated with the node's values (by the library's
restricted evaluator, as the running machine would), and every other atom (a service guard)
may be either true or false. Taking a transition runs its ``assign`` actions and those of the
states it enters (outermost first), as SCXML orders them.

Bounded: a node whose numeric value leaves ``[-bound, bound]`` is not explored, so a counter
without a guard bounding it cannot make the space infinite (its transitions are still
reported as possible from the nodes inside the bound). Expressions the evaluator cannot
compute without a running machine (``In()``, names of the services) leave the atom free.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from statemachine.io.evaluators import RestrictedEvaluator

from beacon.charts._guards import conjunction, parse_guard
from beacon.charts._model import Structure, TransitionInfo

__all__ = ["Node", "Space"]

#: Counters beyond this magnitude are not explored.
DEFAULT_BOUND = 12


@dataclass(frozen=True)
class Node:
    """An atomic state and the datamodel values, in the chart's variable order."""

    leaf: str
    values: tuple[Any, ...]


class Space:
    """The reachable (state, datamodel) nodes of a chart and the transitions between them."""

    def __init__(self, s: Structure, *, bound: int = DEFAULT_BOUND) -> None:
        self.s = s
        self.bound = bound
        self._evaluator = RestrictedEvaluator()
        self._compiled: dict[str, Any] = {}
        self.names = s.datamodel
        start = tuple(self._eval(str(expr), {}) for _, expr in s.datamodel_exprs)
        self.initial = [Node(leaf, start) for leaf in s.initial_leaves()]

    def is_top_final(self, node: Node) -> bool:
        """Whether the node is a top-level final state (a run ends there)."""
        info = self.s.states[node.leaf]
        return info.final and info.parent is None

    def successors(self, node: Node) -> Iterator[tuple[TransitionInfo, Node]]:
        """Each transition possible from ``node`` with a node it leads to."""
        values = dict(zip(self.names, node.values, strict=True))
        for t in self.s.available(node.leaf):
            if not self._may_hold(t, values):
                continue
            targets = (
                [(x, leaf) for x in t.targets for leaf in self.s.entry_leaves(x)]
                if t.targets
                else [(None, node.leaf)]
            )
            for target, leaf in targets:
                after = self._apply(t, target, leaf, values)
                if after is not None:
                    yield t, Node(leaf, after)

    # -- guards ---------------------------------------------------------------------------

    def _may_hold(self, t: TransitionInfo, values: dict[str, Any]) -> bool:
        formula = conjunction(t)
        if formula is None:
            return True
        known: dict[str, bool] = {}
        free: list[str] = []
        for atom in sorted(formula.atoms()):
            value = self._atom(atom, values)
            if value is None:
                free.append(atom)
            else:
                known[atom] = value
        if len(free) > 12:  # too many service answers to enumerate: assume it can hold
            return True
        for answers in itertools.product((False, True), repeat=len(free)):
            if formula.evaluate({**known, **dict(zip(free, answers, strict=True))}):
                return True
        return False

    def _atom(self, atom: str, values: dict[str, Any]) -> bool | None:
        """The atom's value from the datamodel, or None when the services decide it."""
        if not self.names or "In(" in atom:
            return None
        try:
            names = parse_guard(atom).names
        except SyntaxError:
            return None
        if not names or not names <= set(self.names):
            return None
        value = self._eval(atom, values)
        return bool(value) if value is not _UNKNOWN else None

    # -- effects ---------------------------------------------------------------------------

    def _apply(
        self, t: TransitionInfo, target: str | None, leaf: str, values: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        if not self.names:
            return ()
        after = dict(values)
        for location, expr in t.assigns:
            after[location] = self._eval(expr, after)
        if target is not None:
            for sid in self._entered(t.source, target, leaf):
                for location, expr in self.s.states[sid].enter_assigns:
                    after[location] = self._eval(expr, after)
        out = tuple(after.get(n) for n in self.names)
        for v in out:
            if v is _UNKNOWN:
                return None
            if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > self.bound:
                return None
        return out

    def _entered(self, source: str, target: str, leaf: str) -> list[str]:
        """The states an external transition from ``source`` to ``target`` enters, outermost
        first: those below the transition's domain on the way to ``leaf``."""
        domain = next(
            (a for a in self.s.ancestors(source) if self.s.is_descendant(target, a)), None
        )
        chain = [leaf, *self.s.ancestors(leaf)]
        if domain is not None:
            chain = chain[: chain.index(domain)]
        return list(reversed(chain))

    def _eval(self, expr: str, values: dict[str, Any]) -> Any:
        fn = self._compiled.get(expr)
        if fn is None:
            try:
                fn = self._evaluator.compile_value(expr)
            except Exception:  # the library raises several types for what it cannot read
                fn = _unknown
            self._compiled[expr] = fn
        try:
            return fn(machine=SimpleNamespace(model=SimpleNamespace(**values)))
        except Exception:  # a name only a running machine has: the services decide
            return _UNKNOWN


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"


_UNKNOWN = _Unknown()


def _unknown(**_: Any) -> Any:
    return _UNKNOWN
