"""A chart as an XState v5 machine config: JSON for ``createMachine`` and Stately's editor.

Contract: pure, from the same reading of the document as the SCXML export (``_export.py``),
whose guard text it shares. Every state carries ``id`` = its chart id and every target is
absolute (``#id``), so targets resolve wherever the node sits. Guards and executable content
are named implementations in XState: a guard is ``{"type": <expression>}``, an action
``{"type": "assign", "params": {...}}`` (a callback name stays a plain string); a JavaScript
``setup({guards, actions})`` supplies them. What maps to what is in ``docs/charts.md``
(Export); what an XState config cannot hold raises :class:`~beacon.ChartError`.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from statemachine.io import model as ir

from beacon._errors import ChartError
from beacon.charts._export import _definition, _description, _guard, _initial_children
from beacon.charts._load import Chart

__all__ = ["export_xstate"]


def export_xstate(chart: Chart) -> dict[str, Any]:
    """The chart as an XState v5 machine config (JSON-able; see the module docstring).

    Raises:
        ChartError: the chart uses what an XState config cannot hold (``invoke``, several
            initial states at one level, transitions on a final, actions on a history).
    """
    definition = _definition(chart)
    structure = chart.structure
    if len(definition.initial_states) != 1:
        raise ChartError(f"{chart.name}: XState starts in one top-level state")
    config: dict[str, Any] = {
        "id": chart.name if chart.name not in structure.states else f"{chart.name}.machine"
    }
    if description := _description(chart):
        config["description"] = description
    config["initial"] = definition.initial_states[0]
    if definition.datamodel is not None and definition.datamodel.data:
        config["context"] = {
            item.id: _json_value(item.expr if item.expr is not None else item.content)
            for item in definition.datamodel.data
        }
    config["states"] = {
        sid: _xstate_state(state, chart) for sid, state in definition.states.items()
    }
    return config


def _xstate_state(state: ir.State, chart: Chart) -> dict[str, Any]:
    where = f"state {state.id!r}"
    if state.invocations:
        raise ChartError(f"{where}: invoke is not exported")
    node: dict[str, Any] = {"id": state.id}
    if state.final:
        if state.states or state.transitions:
            raise ChartError(f"{where}: an XState final state has no children or transitions")
        node["type"] = "final"
    elif state.parallel:
        node["type"] = "parallel"
    elif state.states:
        first = _initial_children(state)
        if len(first) != 1:
            raise ChartError(f"{where}: XState starts a compound state in one child")
        node["initial"] = first[0]
    for key, blocks, refs in (
        ("entry", state.onentry, state.enter_refs),
        ("exit", state.onexit, state.exit_refs),
    ):
        if actions := _xstate_actions(blocks, refs):
            node[key] = actions
    for t in state.transitions:
        _xstate_transition(node, state.id, t, chart)
    if state.final and state.donedata is not None:
        done = state.donedata
        if done.content_expr is not None:
            node["output"] = _json_value(done.content_expr)
        else:
            node["output"] = {p.name: _json_value(p.expr) for p in done.params}
    children = {cid: _xstate_state(c, chart) for cid, c in state.states.items()}
    for hid, hist in state.history.items():
        children[hid] = _xstate_history(hist)
    if children:
        node["states"] = children
    return node


def _xstate_history(hist: ir.HistoryState) -> dict[str, Any]:
    node: dict[str, Any] = {"id": hist.id, "type": "history", "history": hist.type}
    targets = [x for t in hist.transitions for x in str(t.target or "").split()]
    for t in hist.transitions:
        if _xstate_actions([t.on] if t.on else [], t.on_refs) or t.cond or t.event:
            raise ChartError(f"history {hist.id!r}: only a default target is exported")
    if targets:
        node["target"] = [f"#{x}" for x in targets] if len(targets) > 1 else f"#{targets[0]}"
    return node


def _xstate_transition(node: dict[str, Any], source: str, t: ir.Transition, chart: Chart) -> None:
    if t.initial:
        raise ChartError(f"state {source!r}: a transition marked initial is not exported")
    out: dict[str, Any] = {}
    targets = str(t.target or "").split()
    if targets:
        out["target"] = [f"#{x}" for x in targets] if len(targets) > 1 else f"#{targets[0]}"
    if guard := _guard(t.cond, t.unless):
        out["guard"] = {"type": guard}
    blocks = [b for b in (t.before, t.on, t.after) if b is not None]
    if actions := _xstate_actions(blocks, [*t.before_refs, *t.on_refs, *t.after_refs]):
        out["actions"] = actions
    # SCXML's external transition to itself or a descendant exits and re-enters the source;
    # XState does that only with reenter.
    if not t.internal and any(chart.structure.is_descendant(x, source) for x in targets):
        out["reenter"] = True
    events = str(t.event or "").split()
    if not events:
        node.setdefault("always", []).append(out)
    for event in events:
        if event == f"done.state.{source}":
            node.setdefault("onDone", []).append(out)
            continue
        key = _xstate_event(event)
        node.setdefault("on", {}).setdefault(key, []).append(out)


def _xstate_event(event: str) -> str:
    """The library's internal event names in XState's spelling; every other name as written."""
    for ours, theirs in (
        ("done.state.", "xstate.done.state."),
        ("done.invoke.", "xstate.done.actor."),
    ):
        if event.startswith(ours):
            return theirs + event.removeprefix(ours)
    return event


def _xstate_actions(blocks: Sequence[ir.ExecutableContent], refs: Sequence[Any]) -> list[Any]:
    """Executable content first, then callback names: the order the library runs them."""
    out: list[Any] = [_action_json(action) for block in blocks for action in block.actions]
    out.extend(str(r) for r in refs)
    return out


def _action_json(action: ir.Action) -> dict[str, Any]:
    """``{"type": "assign", "params": {"location": ..., "expr": ...}}``: the IR action, named
    by its kind, its fields as params (nested actions alike)."""
    kind = type(action).__name__.removesuffix("Action").lower()
    params = {}
    for f in dataclasses.fields(action):
        value = _plain(getattr(action, f.name))
        if value not in (None, [], {}):
            params[f.name] = value
    return {"type": kind, "params": params} if params else {"type": kind}


def _plain(value: Any) -> Any:
    if isinstance(value, ir.Action):
        return _action_json(value)
    if isinstance(value, ir.ExecutableContent):
        return [_action_json(a) for a in value.actions]
    if isinstance(value, ir.Param):
        return {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json_value(expr: str | None) -> Any:
    """A literal expression as its JSON value; anything else stays its expression text."""
    if expr is None:
        return None
    try:
        value = ast.literal_eval(expr)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return expr
    return value if _is_json(value) else expr


def _is_json(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False
