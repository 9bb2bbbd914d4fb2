"""The checks that need service objects: names bound once, of the right kind, and completeness.

Contract: reads the chart structure and the services' ``@action``/``@guard`` marks; never calls
a service method. ``composition``: a nesting action (``@action(..., chart="token")``) declares
exactly the top-level final states of the chart it runs, so renaming a child's final without
its parent fails here, naming both charts. Used by ``check_chart(path, services)`` and by
``bind`` (whose errors raise).
"""

from __future__ import annotations

from pathlib import Path

from beacon._errors import ChartError
from beacon.charts._finding import Finding
from beacon.charts._guards import Formula, conjunction, satisfiable
from beacon.charts._model import Structure, event_matches
from beacon.charts._service import Binding, collect

__all__ = ["binding_findings"]


def binding_findings(file: str, s: Structure, services: list[object]) -> list[Finding]:
    found, twice = collect(services)
    out = [Finding("unbound", "error", file, message) for message in twice]
    enter_names = {n for info in s.states.values() for n in info.enter}
    for name in sorted(s.actions()):
        b = found.get(name)
        states = [sid for sid, i in s.states.items() if name in (*i.enter, *i.exit)]
        state = states[0] if states else None
        if b is None:
            out.append(
                Finding("unbound", "error", file, f"no service offers action {name!r}", state=state)
            )
        elif b.kind != "action":
            out.append(
                Finding(
                    "unbound",
                    "error",
                    file,
                    f"{name!r} is a @guard of {b.owner} but the chart runs it as an action",
                    state=state,
                )
            )
        elif b.outcomes and (name not in enter_names or _used_outside_enter(s, name)):
            out.append(
                Finding(
                    "unbound",
                    "error",
                    file,
                    f"action {name!r} declares outcomes {list(b.outcomes)}, so it "
                    "may only appear in a state's enter list",
                    state=state,
                )
            )
    for name in sorted(s.guards()):
        b = found.get(name)
        if b is None:
            out.append(Finding("unbound", "error", file, f"no service offers guard {name!r}"))
        elif b.kind != "guard":
            out.append(
                Finding(
                    "unbound",
                    "error",
                    file,
                    f"{name!r} is an @action of {b.owner} but the chart uses it as a guard",
                )
            )
    for info in s.states.values():
        for name in info.enter:
            b = found.get(name)
            if b is None or b.kind != "action":
                continue
            for outcome in b.outcomes:
                out.extend(_completeness(file, s, info.id, name, outcome))
    for name in sorted(s.actions()):
        b = found.get(name)
        if b is not None and b.chart is not None:
            out.extend(_composition(file, s, b))
    return out


def _composition(file: str, s: Structure, b: Binding) -> list[Finding]:
    """A nesting action declares exactly the top-level finals of the chart it runs."""
    from beacon.charts._load import child_chart_of  # _load imports the checks

    state = next((sid for sid, i in s.states.items() if b.name in i.enter), None)
    parent = s.name or Path(file).stem
    try:
        child = child_chart_of(Path(file), b.chart or "")
    except ChartError as exc:
        message = f"action {b.name!r} runs chart {b.chart!r}, which does not load: {exc}"
        return [Finding("composition", "error", file, message, state=state)]
    finals, declared = set(child.structure.finals), set(b.outcomes)
    if finals == declared:
        return []
    parts = []
    if declared - finals:
        parts.append(f"{sorted(declared - finals)} are not final states of {child.name!r}")
    if finals - declared:
        parts.append(f"{child.name!r} can end in {sorted(finals - declared)}, undeclared")
    message = (
        f"chart {parent!r}: action {b.name!r} ({b.owner}) runs chart {child.name!r} "
        f"({child.path}), so its outcomes must be exactly {child.name!r}'s top-level final "
        f"states: {'; '.join(parts)}"
    )
    return [Finding("composition", "error", file, message, state=state)]


def _used_outside_enter(s: Structure, name: str) -> bool:
    return any(name in i.exit for i in s.states.values()) or any(
        name in t.actions for t in s.transitions
    )


def _completeness(file: str, s: Structure, state: str, action: str, outcome: str) -> list[Finding]:
    handlers = [t for t in s.available(state) if any(event_matches(e, outcome) for e in t.events)]
    if not handlers:
        message = (
            f"action {action!r} can return {outcome!r}, and no transition of {state!r} "
            "or an enclosing state handles it"
        )
        return [Finding("completeness", "error", file, message, state=state, event=outcome)]
    guards: list[Formula] = []
    for t in handlers:
        g = conjunction(t)
        if g is None:
            return []
        guards.append(g)
    # Handled only under guards: is there an assignment where every guard is false?
    none_hold = [Formula(("not", g.tree), g.names) for g in guards]
    if satisfiable(none_hold) is False:
        return []
    labels = "; ".join(t.label for t in handlers)
    message = (
        f"action {action!r} can return {outcome!r}, handled only under guards that may all "
        f"be false ({labels})"
    )
    return [Finding("completeness", "warning", file, message, state=state, event=outcome)]
