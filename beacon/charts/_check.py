"""Static checks of a chart document: what python-statemachine skips for loaded documents.

Contract: reads the document and (optionally) service objects; never calls a service method
and never runs the chart. Every problem becomes a :class:`Finding` that names the file, and
the state, event and transition where it has them. The checks, by ``check`` name:

``schema``
    YAML syntax, the library's JSON schema (``statemachine/io/schemas``), unknown targets,
    guards that do not parse, and anything the library refuses while building the class.
``unreachable``
    a state no sequence of transitions enters from the initial configuration.
``trap``
    a non-final atomic state with no transition out of it or any ancestor (in a chart with
    final states; a reactive chart may rest anywhere).
``final-unreachable``
    in a chart with top-level final states, a reachable state from which none can be
    reached (run() would spin or stall there). A chart without any is *reactive*: it runs
    until it is stopped (driven by :meth:`Machine.send`), and this check does not apply.
``role``
    a top-level final state without a valid declared role (``_roles.py``), or a role on a
    final that is not top-level.
``unbound`` (only when services are given)
    a name the chart uses that no service offers, an action used as a guard or vice versa,
    an action with outcomes used outside ``enter``, or a name two services offer.
``nondeterminism``
    two transitions of one state on one event (or both eventless): an error when either is
    unguarded or both guards are the same; a warning when the guards cannot be shown to
    exclude each other (a truth table over the guard atoms; ``x``/``not x`` and
    ``n < 2``/``n >= 2`` are shown exclusive).
``goals``
    the datamodel constant ``sometimes`` is not a tuple of well-formed goals naming real
    states and transitions, or a transition assigns or reads it (``_goals.py``).
``completeness`` (only when services are given)
    an outcome an entered action declares that no transition of the state or an ancestor
    handles (an error), or handles only under guards that can all be false (a warning).

Reachability is over atomic states, ignoring guards and datamodel: a transition from a state
or any of its ancestors leads to the default entry of its target. It over-approximates what a
run can reach, so ``unreachable`` and ``trap`` never fire on a state a run can reach.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from statemachine import StateChart
from statemachine.io.evaluators import evaluator_for
from statemachine.io.interpreter import Interpreter
from statemachine.io.model import StateMachineDefinition
from statemachine.io.native import native_dict_to_definition
from statemachine.io.validation import load_schema
from statemachine.io.yaml.reader import YAMLReader

from beacon.charts._check_binding import binding_findings
from beacon.charts._finding import Finding
from beacon.charts._goals import goal_findings
from beacon.charts._guards import conjunction, in_states, parse_guard, satisfiable
from beacon.charts._model import Structure, TransitionInfo, event_matches
from beacon.charts._roles import read_role

__all__ = ["Analysis", "Finding", "analyse", "check_chart"]


@dataclass
class Analysis:
    """A document read once: its mapping, structure, library class and findings."""

    file: str
    doc: dict[str, Any]
    structure: Structure | None
    machine_class: type[StateChart[Any]] | None
    findings: list[Finding]


def check_chart(path: str | Path, services: Iterable[object] | None = None) -> list[Finding]:
    """Check a chart document; return its findings (errors and warnings), worst first.

    Args:
        path: the YAML document.
        services: when given, also check names against what the services offer and that every
            declared outcome is handled.
    """
    return analyse(Path(path), services).findings


def analyse(path: Path, services: Iterable[object] | None = None) -> Analysis:
    """Read, validate, build and check one document.

    The document is read once: python-statemachine's YAML reader gives the mapping, the
    library's schema validates it, ``native_dict_to_definition`` turns it into the library's
    IR, and both beacon's :class:`Structure` and the machine class are built from that IR.
    """
    file = str(path)
    analysis = Analysis(file, {}, None, None, [])
    try:
        text = path.read_text(encoding="utf-8")
        # The library's own loader: YAML 1.1 would read an ``on:`` key as True.
        doc: Any = YAMLReader().parse_document(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        analysis.findings.append(Finding("schema", "error", file, f"cannot read: {exc}"))
        return analysis
    if not isinstance(doc, dict):
        analysis.findings.append(Finding("schema", "error", file, "not a mapping of states"))
        return analysis
    analysis.doc = doc
    schema = _schema_findings(file, doc)
    if schema:
        analysis.findings.extend(schema)
        return analysis
    try:
        definition = native_dict_to_definition(doc, source_name=path.stem)
    except Exception as exc:  # the library raises several types for a bad document
        analysis.findings.append(Finding("schema", "error", file, f"python-statemachine: {exc}"))
        return analysis
    structure = Structure(definition)
    analysis.structure = structure
    found = _reference_findings(file, structure)
    if not found:
        try:
            analysis.machine_class = _build_class(definition, path.stem)
        except Exception as exc:  # the library raises several types for a bad document
            found.append(Finding("schema", "error", file, f"python-statemachine: {exc}"))
    if found:
        analysis.findings.extend(found)
        return analysis
    found += role_findings(file, structure)
    found += _structural_findings(file, structure)
    found += _nondeterminism_findings(file, structure)
    found += goal_findings(file, structure)
    if services is not None:
        found += binding_findings(file, structure, list(services))
    found.sort(key=lambda f: f.severity != "error")
    analysis.findings = found
    return analysis


def _build_class(definition: StateMachineDefinition, location: str) -> type[StateChart[Any]]:
    """The machine class, built from the IR as ``statemachine.io.load`` builds it."""
    interpreter = Interpreter(reader=YAMLReader(), evaluator=evaluator_for(False))
    interpreter.process_definition(definition, location=location)
    cls = interpreter.scs[location]
    cls._io_processor = interpreter  # type: ignore[attr-defined]  # as load() keeps it alive
    return cls


# -- schema and references ------------------------------------------------------------------


def _schema_findings(file: str, doc: Mapping[str, Any]) -> list[Finding]:
    import jsonschema  # type: ignore[import-untyped]  # no stubs installed

    # The library's own schema; its validate_document stops at the first error, this lists all.
    validator = jsonschema.Draft202012Validator(load_schema())
    out = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
        location = "/".join(str(p) for p in error.absolute_path) or "(document)"
        out.append(Finding("schema", "error", file, f"at {location}: {error.message}"))
    return out


def _reference_findings(file: str, s: Structure) -> list[Finding]:
    out = []
    for t in s.transitions:
        for target in t.targets:
            if target not in s.states:
                out.append(
                    Finding(
                        "schema",
                        "error",
                        file,
                        f"target {target!r} is not a state",
                        state=t.source,
                        event=t.event or None,
                        transition=t.label,
                    )
                )
        for expr in (*t.cond, *t.unless):
            try:
                parse_guard(expr)
            except SyntaxError as exc:
                problem = f"guard {expr!r} does not parse: {exc.msg}"
            else:
                unknown = [x for x in in_states(expr) if x not in s.states]
                if not unknown:
                    continue
                problem = f"guard {expr!r} tests In() of unknown state(s) {unknown}"
            out.append(
                Finding(
                    "schema",
                    "error",
                    file,
                    problem,
                    state=t.source,
                    event=t.event or None,
                    transition=t.label,
                )
            )
    for name, expr in s.datamodel_exprs:
        if not isinstance(expr, str):
            message = (
                f"datamodel {name!r}: write the initial value as an expression string "
                f'({name}: "{expr}"); the library drops non-string falsy values'
            )
            out.append(Finding("schema", "error", file, message))
    if not any(s.states[sid].kind == "state" for sid in s.top):
        out.append(Finding("schema", "error", file, "the chart has no states"))
    return out


# -- roles ----------------------------------------------------------------------------------


def role_findings(file: str, s: Structure) -> list[Finding]:
    """Every top-level final declares a role; nothing else does."""
    out = []
    for sid, done in s.donedata.items():
        role = read_role(*done) if done is not None else read_role(None, {})
        if isinstance(role, str):
            out.append(Finding("role", "error", file, role, state=sid))
    return out


# -- reachability ---------------------------------------------------------------------------


def successors(s: Structure, leaf: str) -> Iterable[tuple[TransitionInfo, list[str]]]:
    """Each transition available in ``leaf`` with the atomic states it enters."""
    for t in s.available(leaf):
        if t.targets:
            yield t, [x for target in t.targets for x in s.entry_leaves(target)]
        else:
            yield t, [leaf]


def reachable_leaves(s: Structure) -> set[str]:
    """Atomic states some sequence of transitions reaches from the initial configuration."""
    seen = set(s.initial_leaves())
    queue = deque(seen)
    while queue:
        leaf = queue.popleft()
        if _is_top_final(s, leaf):
            continue
        for _t, nxt in successors(s, leaf):
            for n in nxt:
                if n not in seen:
                    seen.add(n)
                    queue.append(n)
    return seen


def _is_top_final(s: Structure, sid: str) -> bool:
    return s.states[sid].final and s.states[sid].parent is None


def _structural_findings(file: str, s: Structure) -> list[Finding]:
    out = []
    reached = reachable_leaves(s)
    reached_all = reached | {a for leaf in reached for a in s.ancestors(leaf)}
    for sid, info in s.states.items():
        if info.kind == "state" and sid not in reached_all:
            out.append(
                Finding(
                    "unreachable",
                    "error",
                    file,
                    "no sequence of transitions from the initial state enters it",
                    state=sid,
                )
            )
    finals = s.finals
    if not finals:
        return out  # a reactive chart: it runs until it is stopped and may rest anywhere
    for leaf in s.leaves():
        if s.states[leaf].final or any(True for _ in s.available(leaf)):
            continue
        out.append(
            Finding(
                "trap",
                "error",
                file,
                "a non-final state with no transition out of it or any enclosing state",
                state=leaf,
            )
        )
    # Backwards search from the top-level finals over the same edges.
    preds: dict[str, set[str]] = {}
    for leaf in reached:
        for _t, nxt in successors(s, leaf):
            for n in nxt:
                preds.setdefault(n, set()).add(leaf)
    live = set(finals)
    queue = deque(finals)
    while queue:
        for p in preds.get(queue.popleft(), ()):
            if p not in live:
                live.add(p)
                queue.append(p)
    trapped = {leaf for leaf in reached - live if any(True for _ in s.available(leaf))}
    for leaf in sorted(trapped, key=list(s.states).index):
        out.append(
            Finding(
                "final-unreachable",
                "error",
                file,
                "no top-level final state can be reached from here",
                state=leaf,
            )
        )
    return out


# -- nondeterminism -------------------------------------------------------------------------


def _nondeterminism_findings(file: str, s: Structure) -> list[Finding]:
    out = []
    for info in s.states.values():
        ts = info.transitions
        for i, a in enumerate(ts):
            for b in ts[i + 1 :]:
                shared = _shared_events(a, b)
                if shared is None:
                    continue
                out.extend(_pair_finding(file, info.id, shared, a, b))
    return out


def _shared_events(a: TransitionInfo, b: TransitionInfo) -> str | None:
    """An event both transitions take (``""`` for eventless), ``None`` when they share none."""
    if not a.events and not b.events:
        return ""
    for ea in a.events:
        for eb in b.events:
            if event_matches(ea, eb) or event_matches(eb, ea):
                return eb if event_matches(ea, eb) else ea
    return None


def _pair_finding(
    file: str, state: str, event: str, a: TransitionInfo, b: TransitionInfo
) -> list[Finding]:
    where = {"state": state, "event": event or None, "transition": f"{a.label} / {b.label}"}
    ga, gb = conjunction(a), conjunction(b)
    if ga is None or gb is None:
        which = a if ga is None else b
        message = (
            f"both can fire: {which.id} has no guard, so the first in document order always "
            "wins; give both transitions guards that exclude each other"
        )
        return [Finding("nondeterminism", "error", file, message, **where)]
    if a.guard.replace(" ", "") == b.guard.replace(" ", ""):
        message = f"both can fire: they have the same guard [{a.guard}]"
        return [Finding("nondeterminism", "error", file, message, **where)]
    both = satisfiable([ga, gb])
    if both is False:
        return []
    reason = (
        "too many guard atoms to decide"
        if both is None
        else "their guards are not shown to exclude each other"
    )
    message = f"both may fire: {reason} ([{a.guard}] and [{b.guard}])"
    return [Finding("nondeterminism", "warning", file, message, **where)]
