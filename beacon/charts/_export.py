"""A chart as a W3C SCXML document that python-statemachine reads back as the same chart.

Contract: pure, drawn from the chart document as python-statemachine reads it (its IR,
``native_dict_to_definition``, the reading :class:`Structure` is built from), so nothing the
library would run is left out or invented. A construct SCXML cannot hold raises
:class:`~beacon.ChartError` naming the state; nothing is dropped silently. The mapping, and
what is lost, is in ``docs/charts.md`` (Export); the XState export is ``_xstate.py``.

SCXML (https://www.w3.org/TR/scxml/) is what python-statemachine's own loader
(``statemachine.io.load(text, format="scxml")``) reads back into a chart with the same states,
initial children, transitions, guards, datamodel, ``assign`` actions and ``donedata``. Its
reader keeps no callback names (it fills only the native format's ``*_refs``), so beacon
writes them as attributes in its own namespace, which SCXML allows on its elements and the
library ignores: ``beacon:enter``/``beacon:exit`` on a state, ``beacon:on``/``beacon:before``/
``beacon:after`` on a transition, space-separated. :func:`read_scxml` is the library's reader
plus those names: ``Structure(read_scxml(export_scxml(chart)))`` reads as the chart does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from statemachine.io import model as ir
from statemachine.io.native import native_dict_to_definition
from statemachine.io.scxml.reader import parse_scxml

from beacon._errors import ChartError
from beacon.charts._guards import normalize_guard
from beacon.charts._load import Chart

__all__ = ["BEACON_NS", "SCXML_NS", "export_scxml", "read_scxml"]

#: The W3C SCXML namespace.
SCXML_NS = "http://www.w3.org/2005/07/scxml"
#: beacon's namespace for what SCXML has no element for (callback names).
BEACON_NS = "urn:beacon:statechart"

# Callback slots written as beacon:* attributes: (attribute, IR field).
_STATE_SLOTS = (("enter", "enter_refs"), ("exit", "exit_refs"))
_TRANSITION_SLOTS = (("before", "before_refs"), ("on", "on_refs"), ("after", "after_refs"))


def _definition(chart: Chart) -> ir.StateMachineDefinition:
    """The library's IR of the chart: the reading its Structure and machine class come from."""
    return native_dict_to_definition(chart.doc, source_name=chart.path.stem)


def _description(chart: Chart) -> str:
    return " ".join(str(chart.doc.get("description") or "").split())


# -- SCXML ---------------------------------------------------------------------------------------


def export_scxml(chart: Chart) -> str:
    """The chart as an SCXML document (``datamodel="python"``), deterministic text.

    Raises:
        ChartError: the chart uses what SCXML cannot hold (``invoke``, executable content in
            ``before``/``after``, a transition marked ``initial``, transitions on a final).
    """
    definition = _definition(chart)
    root = ET.Element(
        "scxml",
        {
            "xmlns": SCXML_NS,
            "xmlns:beacon": BEACON_NS,
            "version": "1.0",
            "datamodel": "python",
            "name": chart.name,
            "initial": " ".join(definition.initial_states),
        },
    )
    root.append(ET.Comment(_comment(f"{chart.name}: exported by beacon chart export")))
    if description := _description(chart):
        root.append(ET.Comment(_comment(description)))
    if definition.datamodel is not None and definition.datamodel.data:
        data = ET.SubElement(root, "datamodel")
        for item in definition.datamodel.data:
            expr = None if item.expr is None else str(item.expr)
            el = ET.SubElement(data, "data", _attrs(id=item.id, expr=expr, src=item.src))
            el.text = item.content
    for state in definition.states.values():
        root.append(_scxml_state(state))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _comment(text: str) -> str:
    # "--" may not occur inside an XML comment.
    return f" {text.replace('--', '- -')} "


def _attrs(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def _names(refs: Sequence[Any], where: str) -> str | None:
    names = [str(r) for r in refs]
    for name in names:
        if not name or name.split() != [name]:
            raise ChartError(f"{where}: callback name {name!r} cannot be exported (whitespace)")
    return " ".join(names) or None


def _scxml_state(state: ir.State) -> ET.Element:
    where = f"state {state.id!r}"
    if state.invocations:
        raise ChartError(f"{where}: invoke is not exported")
    tag = "final" if state.final else "parallel" if state.parallel else "state"
    if tag == "final" and (state.states or state.history or state.transitions):
        raise ChartError(f"{where}: an SCXML <final> has no children and no transitions")
    attrs = {"id": state.id}
    if tag == "state" and state.states:
        # Always explicit: the library's reader groups children by tag, so "the first
        # child" of the document is not always the first it reads.
        attrs["initial"] = " ".join(_initial_children(state))
    for attr, field in _STATE_SLOTS:
        if names := _names(getattr(state, field), where):
            attrs[f"beacon:{attr}"] = names
    el = ET.Element(tag, attrs)
    for tag_name, blocks in (("onentry", state.onentry), ("onexit", state.onexit)):
        for block in blocks:
            _content(ET.SubElement(el, tag_name), block.actions)
    for n, t in enumerate(state.transitions):
        el.append(_scxml_transition(t, f"{where}, transition {n}"))
    for child in state.states.values():
        el.append(_scxml_state(child))
    for hist in state.history.values():
        h = ET.SubElement(el, "history", {"id": hist.id, "type": hist.type})
        for n, t in enumerate(hist.transitions):
            h.append(_scxml_transition(t, f"history {hist.id!r}, transition {n}"))
    if state.donedata is not None:
        done = ET.SubElement(el, "donedata")
        for p in state.donedata.params:
            ET.SubElement(done, "param", _attrs(name=p.name, expr=p.expr, location=p.location))
        if state.donedata.content_expr is not None:
            ET.SubElement(done, "content", {"expr": str(state.donedata.content_expr)})
    return el


def _initial_children(state: ir.State) -> list[str]:
    flagged = [cid for cid, c in state.states.items() if c.initial]
    return flagged or [next(iter(state.states))]


def _scxml_transition(t: ir.Transition, where: str) -> ET.Element:
    if t.initial:
        raise ChartError(f"{where}: a transition marked initial is not exported")
    for slot in (t.before, t.after):
        if slot is not None and not slot.is_empty:
            raise ChartError(f"{where}: SCXML has no slot for before/after executable content")
    attrs = _attrs(event=t.event or None, cond=_guard(t.cond, t.unless), target=t.target)
    if t.internal:
        attrs["type"] = "internal"
    for attr, field in _TRANSITION_SLOTS:
        if names := _names(getattr(t, field), where):
            attrs[f"beacon:{attr}"] = names
    el = ET.Element("transition", attrs)
    if t.on is not None:
        _content(el, t.on.actions)
    return el


def _guard(cond: Any, unless: Any) -> str | None:
    """``cond``/``unless`` as one Python expression: SCXML has ``cond`` only."""
    conds = [normalize_guard(str(c)) for c in _listed(cond)]
    nots = [normalize_guard(str(u)) for u in _listed(unless)]
    nots = [f"not ({u})" if " " in u else f"not {u}" for u in nots]
    if len(conds) == 1 and not nots:
        return conds[0]
    return " and ".join([*(f"({c})" for c in conds), *nots]) or None


def _listed(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _content(parent: ET.Element, actions: Sequence[ir.Action]) -> None:
    """Executable content, element for element as the library's SCXML reader reads it."""
    for action in actions:
        match action:
            case ir.AssignAction():
                el = ET.SubElement(parent, "assign", _attrs(location=action.location))
                if action.expr is not None:
                    el.set("expr", action.expr)
                elif action.child_xml is not None:
                    el.append(ET.fromstring(action.child_xml))
            case ir.RaiseAction():
                ET.SubElement(parent, "raise", {"event": action.event})
            case ir.LogAction():
                ET.SubElement(parent, "log", _attrs(label=action.label, expr=action.expr))
            case ir.IfAction():
                _if(parent, action)
            case ir.ForeachAction():
                attrs = _attrs(array=action.array, item=action.item, index=action.index)
                _content(ET.SubElement(parent, "foreach", attrs), action.content.actions)
            case ir.SendAction():
                _send(parent, action)
            case ir.CancelAction():
                attrs = _attrs(sendid=action.sendid, sendidexpr=action.sendidexpr)
                ET.SubElement(parent, "cancel", attrs)
            case ir.ScriptAction():
                ET.SubElement(parent, "script").text = action.content
            case _:  # pragma: no cover - the IR has no other action
                raise ChartError(f"{type(action).__name__} is not exported")


def _if(parent: ET.Element, action: ir.IfAction) -> None:
    first, *rest = action.branches
    el = ET.SubElement(parent, "if", {"cond": str(first.cond)})
    _content(el, first.actions)
    for branch in rest:
        if branch.cond is None:
            ET.SubElement(el, "else")
        else:
            ET.SubElement(el, "elseif", {"cond": branch.cond})
        _content(el, branch.actions)


def _send(parent: ET.Element, action: ir.SendAction) -> None:
    fields = ("event", "eventexpr", "target", "type", "id", "idlocation", "delay", "delayexpr")
    attrs = _attrs(**{f: getattr(action, f) for f in (*fields, "namelist")})
    el = ET.SubElement(parent, "send", attrs)
    for p in action.params:
        ET.SubElement(el, "param", _attrs(name=p.name, expr=p.expr, location=p.location))
    if action.content is not None:
        ET.SubElement(el, "content").text = action.content


def read_scxml(text: str) -> ir.StateMachineDefinition:
    """An SCXML document as the library's IR, with beacon's callback names restored.

    The library's reader (``statemachine.io.scxml``) does the reading; this adds the
    ``beacon:*`` names to the ``*_refs`` it leaves empty, and drops the transitions the
    reader makes of ``initial`` attributes (the child's ``initial`` flag says the same and
    is what the native format writes).

    Raises:
        ChartError: the text is not SCXML the library reads.
    """
    try:
        definition = parse_scxml(text)
    except Exception as exc:  # the reader raises ParseError, ValueError, KeyError, ...
        raise ChartError(f"not SCXML python-statemachine reads: {exc}") from None
    # Safe to parse again: the library's reader refused any DOCTYPE (entity expansion).
    elements = {
        el.get("id"): el
        for el in ET.fromstring(text).iter()
        if el.tag.rpartition("}")[2] in ("state", "parallel", "final", "history")
    }
    for state in _walk(definition.states.values()):
        el = elements.get(state.id)
        for attr, field in _STATE_SLOTS:
            setattr(state, field, _beacon_names(el, attr))
        state.transitions = [t for t in state.transitions if not _from_initial_attribute(t)]
        _transition_names(state.transitions, el)
        for hist in state.history.values():
            _transition_names(hist.transitions, elements.get(hist.id))
    return definition


def _from_initial_attribute(t: ir.Transition) -> bool:
    """The reader's transition for an ``initial`` attribute: no event, guard or content."""
    return t.initial and not (t.event or t.cond or (t.on is not None and not t.on.is_empty))


def _walk(states: Iterable[ir.State]) -> Iterator[ir.State]:
    for state in states:
        yield state
        yield from _walk(state.states.values())


def _beacon_names(el: ET.Element | None, attr: str) -> list[Any]:
    value = el.get(f"{{{BEACON_NS}}}{attr}") if el is not None else None
    return list(value.split()) if value else []


def _transition_names(transitions: list[ir.Transition], el: ET.Element | None) -> None:
    declared = [c for c in el if c.tag.rpartition("}")[2] == "transition"] if el is not None else []
    for t, tel in zip(transitions, declared, strict=False):
        for attr, field in _TRANSITION_SLOTS:
            setattr(t, field, _beacon_names(tel, attr))
