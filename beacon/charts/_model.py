"""The structure of a chart document, as beacon reads it: states, transitions, guard formulas.

Contract: pure functions over the parsed YAML mapping; no python-statemachine objects, no I/O.
Everything else in ``beacon.charts`` (checks, binding, diagrams, paths, coverage) reads a chart
through :class:`Structure`, so there is one interpretation of the vocabulary:

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

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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

    @property
    def compound(self) -> bool:
        """Whether the state has children (compound or parallel)."""
        return bool(self.children)


class Structure:
    """The states and transitions of one chart document."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.name: str = str(doc.get("name") or "")
        self.states: dict[str, StateInfo] = {}
        self.top: list[str] = []
        datamodel = doc.get("datamodel") or {}
        if isinstance(datamodel, Mapping):
            self.datamodel_exprs = [(str(k), v) for k, v in datamodel.items()]
        else:
            self.datamodel_exprs = [(str(i["id"]), i.get("expr")) for i in datamodel if "id" in i]
        self.datamodel: tuple[str, ...] = tuple(name for name, _ in self.datamodel_exprs)
        states = doc.get("states") or {}
        for sid, sdef in states.items():
            self._add_state(str(sid), sdef or {}, None)
        self.top = [s.id for s in self.states.values() if s.parent is None]
        for siblings in [self.top, *(s.children for s in self.states.values())]:
            real = [c for c in siblings if self.states[c].kind == "state"]
            if real and not any(self.states[c].initial for c in real):
                self.states[real[0]].initial = True
        self.transitions: list[TransitionInfo] = [
            t for s in self.states.values() for t in s.transitions
        ]
        self.by_id: dict[str, TransitionInfo] = {t.id: t for t in self.transitions}

    def _add_state(self, sid: str, sdef: Mapping[str, Any], parent: str | None) -> None:
        info = StateInfo(
            id=sid,
            parent=parent,
            initial=bool(sdef.get("initial")),
            final=bool(sdef.get("final")),
            parallel=bool(sdef.get("parallel")),
            enter=_refs(sdef.get("enter")),
            exit=_refs(sdef.get("exit")),
            enter_effects=_effects(sdef.get("enter")),
        )
        self.states[sid] = info
        if parent is not None:
            self.states[parent].children.append(sid)
        info.transitions = [
            _transition(sid, n, t) for n, t in enumerate(sdef.get("transitions") or [])
        ]
        for cid, cdef in (sdef.get("states") or {}).items():
            self._add_state(str(cid), cdef or {}, sid)
        for hid, hdef in (sdef.get("history") or {}).items():
            hist = StateInfo(id=str(hid), parent=sid, kind="history")
            hist.transitions = [
                _transition(str(hid), n, t)
                for n, t in enumerate((hdef or {}).get("transitions") or [])
            ]
            self.states[str(hid)] = hist
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


def _refs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, Mapping)) else list(value)
    return tuple(item for item in items if isinstance(item, str))


def _effects(value: Any) -> tuple[str, ...]:
    """Short labels for an action list: names as they are, structured actions summarised."""
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, Mapping)) else list(value)
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and "assign" in item:
            body = item["assign"]
            out.append(f"{body.get('location')} := {body.get('expr')}")
        elif isinstance(item, Mapping) and "raise" in item:
            body = item["raise"]
            out.append(f"raise {body if isinstance(body, str) else body.get('event')}")
        elif isinstance(item, Mapping):
            out.append(next(iter(item), "?"))
    return tuple(out)


def _as_exprs(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _transition(source: str, n: int, tdef: Mapping[str, Any]) -> TransitionInfo:
    actions: list[str] = []
    effects: list[str] = []
    for slot in ("before", "on", "after"):
        actions.extend(_refs(tdef.get(slot)))
        effects.extend(_effects(tdef.get(slot)))
    return TransitionInfo(
        id=f"{source}#{n}",
        source=source,
        events=tuple(str(tdef.get("event") or "").split()),
        targets=tuple(str(tdef.get("target") or "").split()),
        cond=_as_exprs(tdef.get("cond")),
        unless=_as_exprs(tdef.get("unless")),
        actions=tuple(actions),
        internal=bool(tdef.get("internal")),
        effects=tuple(effects),
    )


def event_matches(descriptor: str, event: str) -> bool:
    """SCXML event matching: ``error`` matches ``error`` and ``error.network``; ``*`` all."""
    if descriptor in ("*", event):
        return True
    descriptor = descriptor.removesuffix(".*")
    return event.startswith(descriptor + ".")
