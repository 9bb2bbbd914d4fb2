"""The structure of a chart document, as beacon reads it: states, transitions, guard formulas.

Contract: built from python-statemachine's intermediate representation of the document (the
``StateMachineDefinition`` its loader builds the machine class from); no I/O. Everything
else in ``beacon.charts`` (checks, binding, diagrams, paths, coverage) reads a chart through
:class:`Structure`, so there is one interpretation of the vocabulary:

* states nest through ``states``; history pseudo-states come from ``history``;
* a compound state without an ``initial`` child starts in its first child (as the library does);
* a transition's ``event`` may list several space-separated events; no ``event`` means eventless;
* ``target`` may list several space-separated targets; no ``target`` means a targetless
  transition (it runs its ``on`` content without leaving the state);
* bare strings in ``enter``/``exit``/``on``/``before``/``after`` are callback names (actions);
  the names in ``cond``/``unless`` expressions that are not datamodel variables are guards.

Transitions are identified by ``<source>#<n>``, ``n`` counting the transitions declared on that
source from 0, which survives edits elsewhere in the document and keys traces and coverage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from statemachine.io import model as ir
from statemachine.io.model import StateMachineDefinition

# normalize_guard and parse_guard lived here first; beacon.testing imports them from here.
from beacon.charts._guards import normalize_guard, parse_guard

__all__ = [
    "StateInfo",
    "Structure",
    "TransitionInfo",
    "event_matches",
    "normalize_guard",
    "parse_guard",
]


@dataclass(frozen=True)
class TransitionInfo:
    """One declared transition, in document order."""

    id: str
    source: str
    events: tuple[str, ...]
    targets: tuple[str, ...]
    cond: tuple[str, ...]
    unless: tuple[str, ...]
    actions: tuple[str, ...]
    internal: bool
    effects: tuple[str, ...] = ()
    #: The datamodel assignments the transition runs, (location, expression), in order.
    assigns: tuple[tuple[str, str], ...] = ()

    @property
    def event(self) -> str:
        """The events as written (space-separated), ``""`` when eventless."""
        return " ".join(self.events)

    @property
    def guard(self) -> str:
        """The guard as one readable expression, ``""`` when unguarded."""
        parts = [f"({c})" if len(self.cond) + len(self.unless) > 1 else c for c in self.cond]
        parts += [f"not ({u})" if " " in u.strip() else f"not {u}" for u in self.unless]
        return " and ".join(parts)

    @property
    def label(self) -> str:
        """``source --event [guard]--> target``: how messages and reports name a transition."""
        guard = f" [{self.guard}]" if self.guard else ""
        target = " ".join(self.targets) or "(no target)"
        return f"{self.source} --{self.event or '(eventless)'}{guard}--> {target}"


@dataclass
class StateInfo:
    """One state of the document (``kind`` is ``state``, ``history``)."""

    id: str
    parent: str | None
    children: list[str] = field(default_factory=list)
    initial: bool = False
    final: bool = False
    parallel: bool = False
    kind: str = "state"
    enter: tuple[str, ...] = ()
    exit: tuple[str, ...] = ()
    transitions: list[TransitionInfo] = field(default_factory=list)
    enter_effects: tuple[str, ...] = ()
    #: The datamodel assignments run on entry, (location, expression), in order.
    enter_assigns: tuple[tuple[str, str], ...] = ()

    @property
    def compound(self) -> bool:
        """Whether the state has children (compound or parallel)."""
        return bool(self.children)


class Structure:
    """The states and transitions of one chart, read from python-statemachine's own IR.

    ``definition`` is the library's :class:`~statemachine.io.model.StateMachineDefinition`
    of the document (``native_dict_to_definition``), the same object the machine class is
    built from, so beacon and the library read each document once and alike.
    """

    def __init__(self, definition: StateMachineDefinition) -> None:
        self.name: str = str(definition.name or "")
        self.states: dict[str, StateInfo] = {}
        self.top: list[str] = []
        items = definition.datamodel.data if definition.datamodel is not None else []
        self.datamodel_exprs: list[tuple[str, Any]] = [(str(i.id), i.expr) for i in items]
        self.datamodel: tuple[str, ...] = tuple(name for name, _ in self.datamodel_exprs)
        #: Top-level final → its ``donedata`` as (content, params), for the role check.
        self.donedata: dict[str, tuple[str | None, dict[str, str | None]] | None] = {}
        for sid, state in definition.states.items():
            self._add_state(str(sid), state, None)
        self.top = [s.id for s in self.states.values() if s.parent is None]
        for siblings in [self.top, *(s.children for s in self.states.values())]:
            real = [c for c in siblings if self.states[c].kind == "state"]
            if real and not any(self.states[c].initial for c in real):
                self.states[real[0]].initial = True
        self.transitions: list[TransitionInfo] = [
            t for s in self.states.values() for t in s.transitions
        ]
        self.by_id: dict[str, TransitionInfo] = {t.id: t for t in self.transitions}

    @property
    def finals(self) -> list[str]:
        """The top-level final states, in document order."""
        return [sid for sid in self.top if self.states[sid].final]

    def _add_state(self, sid: str, state: ir.State, parent: str | None) -> None:
        info = StateInfo(
            id=sid,
            parent=parent,
            initial=bool(state.initial),
            final=bool(state.final),
            parallel=bool(state.parallel),
            enter=tuple(state.enter_refs),
            exit=tuple(state.exit_refs),
            enter_effects=_effects(state.onentry, state.enter_refs),
            enter_assigns=_assigns(state.onentry),
        )
        self.states[sid] = info
        if parent is not None:
            self.states[parent].children.append(sid)
        elif state.final:
            done = state.donedata
            self.donedata[sid] = (
                None if done is None else (done.content_expr, {p.name: p.expr for p in done.params})
            )
        info.transitions = [_transition(sid, n, t) for n, t in enumerate(state.transitions)]
        for cid, child in state.states.items():
            self._add_state(str(cid), child, sid)
        for hid, hist in state.history.items():
            node = StateInfo(id=str(hid), parent=sid, kind="history")
            node.transitions = [_transition(str(hid), n, t) for n, t in enumerate(hist.transitions)]
            self.states[str(hid)] = node
            info.children.append(str(hid))

    # -- navigation ------------------------------------------------------------------------

    def ancestors(self, sid: str) -> list[str]:
        """The proper ancestors of a state, innermost first."""
        out: list[str] = []
        parent = self.states[sid].parent
        while parent is not None:
            out.append(parent)
            parent = self.states[parent].parent
        return out

    def is_descendant(self, sid: str, of: str) -> bool:
        """Whether ``sid`` is ``of`` or lies inside it."""
        return sid == of or of in self.ancestors(sid)

    def entry_leaves(self, sid: str) -> list[str]:
        """The atomic states entered when a transition targets ``sid`` (default entry)."""
        info = self.states[sid]
        if info.kind == "history":
            targets = [t for tr in info.transitions for t in tr.targets]
            if targets:
                return [leaf for t in targets for leaf in self.entry_leaves(t)]
            parent = info.parent
            return self.entry_leaves(parent) if parent is not None else []
        real = [c for c in info.children if self.states[c].kind == "state"]
        if not real:
            return [sid]
        if info.parallel:
            return [leaf for c in real for leaf in self.entry_leaves(c)]
        first = next((c for c in real if self.states[c].initial), real[0])
        return self.entry_leaves(first)

    def initial_leaves(self) -> list[str]:
        """The atomic states of the start configuration."""
        real = [s for s in self.top if self.states[s].kind == "state"]
        first = next((s for s in real if self.states[s].initial), real[0])
        return self.entry_leaves(first)

    def leaves(self) -> list[str]:
        """Every atomic state (no children, not a history pseudo-state), in document order."""
        return [s.id for s in self.states.values() if s.kind == "state" and not s.compound]

    def available(self, leaf: str) -> Iterator[TransitionInfo]:
        """Transitions that can fire while ``leaf`` is active: its own, then its ancestors'."""
        for sid in [leaf, *self.ancestors(leaf)]:
            yield from self.states[sid].transitions

    def actions(self) -> set[str]:
        """Every callback name the document references."""
        names = {n for s in self.states.values() for n in (*s.enter, *s.exit)}
        names.update(n for t in self.transitions for n in t.actions)
        return names

    def guards(self) -> set[str]:
        """Every name the guard expressions reference that is not a datamodel variable."""
        names: set[str] = set()
        for t in self.transitions:
            for expr in (*t.cond, *t.unless):
                names.update(parse_guard(expr).names)
        return names - set(self.datamodel)


def _effects(blocks: list[ir.ExecutableContent], refs: list[Any]) -> tuple[str, ...]:
    """Short labels for what a slot runs, in the order the library runs it.

    The library runs a slot's executable content (``assign``, ``raise``...) first and its
    callback names after; the labels follow that order.
    """
    out = [_label(action) for block in blocks for action in block.actions]
    return (*out, *(str(r) for r in refs))


def _assigns(blocks: list[ir.ExecutableContent]) -> tuple[tuple[str, str], ...]:
    """The top-level ``assign`` actions of the blocks (those inside ``if``/``foreach`` are not
    followed: the path search treats a chart that needs them as unbounded)."""
    return tuple(
        (a.location, a.expr or "None")
        for block in blocks
        for a in block.actions
        if isinstance(a, ir.AssignAction)
    )


def _label(action: ir.Action) -> str:
    if isinstance(action, ir.AssignAction):
        expr = (action.expr or "").strip()
        head, plus, step = expr.partition(" + ")
        if plus and head.strip() == action.location and step.strip().isdigit():
            return f"{action.location} += {step.strip()}"  # a counter: the short form reads
        return f"{action.location} := {expr}"
    if isinstance(action, ir.RaiseAction):
        return f"raise {action.event}"
    return type(action).__name__.removesuffix("Action").lower()


def _as_exprs(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _transition(source: str, n: int, t: ir.Transition) -> TransitionInfo:
    actions: list[str] = []
    effects: list[str] = []
    assigns: list[tuple[str, str]] = []
    for content, refs in ((t.before, t.before_refs), (t.on, t.on_refs), (t.after, t.after_refs)):
        actions.extend(str(r) for r in refs)
        effects.extend(_effects([content] if content is not None else [], refs))
        assigns.extend(_assigns([content] if content is not None else []))
    return TransitionInfo(
        id=f"{source}#{n}",
        source=source,
        events=tuple(str(t.event or "").split()),
        targets=tuple(str(t.target or "").split()),
        cond=_as_exprs(t.cond),
        unless=_as_exprs(t.unless),
        actions=tuple(actions),
        internal=bool(t.internal),
        effects=tuple(effects),
        assigns=tuple(assigns),
    )


def event_matches(descriptor: str, event: str) -> bool:
    """SCXML event matching: ``error`` matches ``error`` and ``error.network``; ``*`` all."""
    if descriptor in ("*", event):
        return True
    descriptor = descriptor.removesuffix(".*")
    return event.startswith(descriptor + ".")
