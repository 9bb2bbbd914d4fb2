"""Exports: SCXML that python-statemachine's own loader reads back into the same chart, XState v5
machine configs of the right shape, and ``beacon chart export``."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from statemachine import StateChart
from statemachine.io import load
from statemachine.io.model import IfAction

from beacon._errors import ChartError
from beacon.charts import (
    BEACON_NS,
    SCXML_NS,
    Chart,
    Structure,
    chart_path,
    export_scxml,
    export_xstate,
    load_chart,
    packaged_charts,
    read_scxml,
    render_mermaid,
    transition_paths,
)
from beacon.charts._guards import conjunction, parse_guard
from beacon.cli import main
from tests.charts.chart_services import DOOR, GOOD

# Every packaged chart, plus the test charts that use history, parallel states and effects.
CHARTS = [chart_path(name) for name in packaged_charts()] + sorted(GOOD.glob("*.yaml"))
assert DOOR.resolve() in {p.resolve() for p in CHARTS}


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


# -- comparing two readings of a chart ------------------------------------------------------------


def _flat(tree: tuple[Any, ...]) -> tuple[Any, ...]:
    """A guard formula with nested ``and``s flattened: ``cond: a`` + ``unless: b`` and SCXML's
    ``cond="(a) and not (b)"`` are one formula."""
    if tree[0] in ("atom", "const"):
        return tree
    parts = [_flat(t) for t in tree[1:]]
    if tree[0] == "and":
        parts = [p for part in parts for p in (part[1:] if part[0] == "and" else (part,))]
        if len(parts) == 1:
            return parts[0]
    return (tree[0], *parts)


def _guard(t: Any) -> tuple[Any, ...] | None:
    formula = conjunction(t)
    return None if formula is None else _flat(formula.tree)


_STATE_VIEW: tuple[str, ...] = ("kind", "parent", "children", "initial", "final", "parallel")
_STATE_VIEW += ("enter", "exit", "enter_effects", "enter_assigns")


def structure_diff(a: Structure, b: Structure) -> list[str]:
    """Every difference between two structures that a run, a check or a path could see."""
    out: list[str] = []
    if a.name != b.name:
        out.append(f"name {a.name!r} != {b.name!r}")
    if a.datamodel_exprs != b.datamodel_exprs:
        out.append(f"datamodel {a.datamodel_exprs} != {b.datamodel_exprs}")
    if a.donedata != b.donedata:
        out.append(f"donedata {a.donedata} != {b.donedata}")
    if a.top != b.top:
        out.append(f"top {a.top} != {b.top}")
    for sid in sorted(set(a.states) | set(b.states)):
        sa, sb = a.states.get(sid), b.states.get(sid)
        if sa is None or sb is None:
            out.append(f"state {sid} only in {'b' if sa is None else 'a'}")
            continue
        for field in _STATE_VIEW:
            if getattr(sa, field) != getattr(sb, field):
                out.append(f"state {sid}.{field}: {getattr(sa, field)} != {getattr(sb, field)}")
    for tid in sorted(set(a.by_id) | set(b.by_id)):
        ta, tb = a.by_id.get(tid), b.by_id.get(tid)
        if ta is None or tb is None:
            out.append(f"transition {tid} only in {'b' if ta is None else 'a'}")
            continue
        for field in ("source", "events", "targets", "actions", "effects", "assigns", "internal"):
            if getattr(ta, field) != getattr(tb, field):
                out.append(f"{tid}.{field}: {getattr(ta, field)} != {getattr(tb, field)}")
        if _guard(ta) != _guard(tb):
            out.append(f"{tid} guard: {ta.guard!r} != {tb.guard!r}")
    return out


def _paths(chart: Chart) -> list[list[tuple[Any, ...]]]:
    """The chart's transition paths; guards as formulas (``unless: x`` is SCXML's ``not (x)``)."""
    return [
        [
            (s.event, s.transition, s.target, _guard(chart.structure.by_id[s.transition]))
            for s in path.steps
        ]
        for path in transition_paths(chart)
    ]


def _library_view(cls: type[StateChart[Any]]) -> dict[str, Any]:
    """What python-statemachine built: states, their nesting and kinds, and the transitions
    the document declares (not the default-entry ones it adds), guards as formulas."""

    def guard(t: Any) -> tuple[Any, ...] | None:
        parts = [
            parse_guard(spec.attr_name).tree
            if spec.expected_value
            else ("not", parse_guard(spec.attr_name).tree)
            for spec in t.cond
        ]
        return _flat(("and", *parts)) if parts else None

    view: dict[str, Any] = {}
    for s in cls.states_map.values():
        view[s.id] = {
            "parent": s.parent.id if s.parent else None,
            "final": s.final,
            "parallel": s.parallel,
            "initial": s.initial,
            "children": [c.id for c in s.states],
            "history": [(h.id, str(h.type)) for h in s.history],
            "transitions": [
                (
                    [str(e) for e in t.events],
                    [x.id for x in t.targets],
                    guard(t),
                    t.internal,
                )
                for t in s.transitions
                if not t.initial
            ],
        }
    return view


def _roundtrip(chart: Chart, text: str) -> Chart:
    return dataclasses.replace(chart, structure=Structure(read_scxml(text)))


# -- SCXML ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CHARTS, ids=_ids(CHARTS))
def test_scxml_export_loads_back_in_python_statemachine_as_the_same_chart(path: Path) -> None:
    chart = load_chart(path)
    text = export_scxml(chart)
    # The library's own public loader, secure defaults (restricted evaluator, no <script>).
    cls = load(text, format="scxml")
    assert _library_view(cls) == _library_view(chart.machine_class)
    again = _roundtrip(chart, text)
    assert structure_diff(chart.structure, again.structure) == []
    assert _paths(again) == _paths(chart)
    assert len(_paths(chart)) >= 1


@pytest.mark.parametrize("path", CHARTS, ids=_ids(CHARTS))
def test_scxml_export_is_deterministic_and_namespaced(path: Path) -> None:
    chart = load_chart(path)
    text = export_scxml(chart)
    assert export_scxml(load_chart(path)) == text
    root = ET.fromstring(text)
    assert root.tag == f"{{{SCXML_NS}}}scxml"
    assert (root.get("version"), root.get("datamodel"), root.get("name")) == (
        "1.0",
        "python",
        chart.name,
    )
    # Every state of the chart is an element with its id, of the right kind.
    kinds = {el.get("id"): el.tag.rpartition("}")[2] for el in root.iter() if el.get("id")}
    for sid, info in chart.structure.states.items():
        expected = (
            "history"
            if info.kind == "history"
            else "final"
            if info.final
            else "parallel"
            if info.parallel
            else "state"
        )
        assert kinds[sid] == expected, sid


def test_the_door_exports_guards_actions_datamodel_and_roles_in_scxml_terms() -> None:
    text = export_scxml(load_chart(DOOR))
    root = ET.fromstring(text)
    ns = {"s": SCXML_NS}
    assert [(d.get("id"), d.get("expr")) for d in root.findall("s:datamodel/s:data", ns)] == [
        ("retries", "0")
    ]
    unlocking = root.find(".//s:state[@id='unlocking']", ns)
    assert unlocking is not None
    assert unlocking.get(f"{{{BEACON_NS}}}enter") == "check_key"
    conds = [t.get("cond") for t in unlocking.findall("s:transition", ns)]
    assert conds == [None, "has_spare_key", "not has_spare_key"]  # unless: as not
    jam = root.find(".//s:state[@id='opening']/s:transition[@event='jammed']", ns)
    assert jam is not None
    assert jam.get("cond") == "retries < 2"
    assign = jam.find("s:assign", ns)
    assert assign is not None
    assert (assign.get("location"), assign.get("expr")) == ("retries", "retries + 1")
    content = root.find(".//s:final[@id='broken']/s:donedata/s:content", ns)
    assert content is not None
    assert content.get("expr") == "{'role': 'failure', 'error': 'BeaconError'}"
    assert "A door that opens" in text  # the description, as a comment


def test_effects_on_exit_and_on_a_transition_keep_their_names() -> None:
    text = export_scxml(load_chart(GOOD / "effects.yaml"))
    root = ET.fromstring(text)
    idle = root.find(f".//{{{SCXML_NS}}}state[@id='idle']")
    assert idle is not None
    assert idle.get(f"{{{BEACON_NS}}}exit") == "note_leaving"
    go = idle.find(f"{{{SCXML_NS}}}transition")
    assert go is not None
    assert go.get(f"{{{BEACON_NS}}}on") == "note_going"

    # The library itself ignores beacon's attributes (its SCXML reader keeps no names): a
    # machine loaded straight from the export runs no service callbacks.
    def named(cls: type[StateChart[Any]]) -> list[str]:
        return [
            str(spec.attr_name) for spec in cls.states_map["idle"].exit if not spec.is_convention
        ]

    assert named(load_chart(GOOD / "effects.yaml").machine_class) == ["note_leaving"]
    assert named(load(text, format="scxml")) == []
    assert read_scxml(text).states["idle"].exit_refs == ["note_leaving"]


def _mutate(text: str, xpath: str, change: Any) -> str:
    root = ET.fromstring(text)
    el = root.find(xpath, {"s": SCXML_NS})
    assert el is not None, xpath
    change(el)
    return ET.tostring(root, "unicode")


MUTANTS = {
    "a guard dropped": (
        ".//s:state[@id='opening']/s:transition[@cond='retries &lt; 2']",
        lambda el: el.attrib.pop("cond"),
    ),
    "an unless dropped": (
        ".//s:state[@id='unlocking']/s:transition[@cond='not has_spare_key']",
        lambda el: el.attrib.pop("cond"),
    ),
    "a target changed": (
        ".//s:state[@id='closed']/s:transition[@event='lock']",
        lambda el: el.set("target", "opened"),
    ),
    "an event changed": (
        ".//s:state[@id='opened']/s:transition",
        lambda el: el.set("event", "slam"),
    ),
    "an action name dropped": (
        ".//s:state[@id='opening']",
        lambda el: el.attrib.pop(f"{{{BEACON_NS}}}enter"),
    ),
    "an assign dropped": (
        ".//s:state[@id='opening']/s:transition[@cond='retries &lt; 2']",
        lambda el: el.remove(el[0]),
    ),
    "a role changed": (
        ".//s:final[@id='removed']/s:donedata/s:content",
        lambda el: el.set("expr", "{'role': 'recovery'}"),
    ),
    "the initial child changed": (
        ".//s:state[@id='in_service']",
        lambda el: el.set("initial", "locked"),
    ),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_the_round_trip_comparison_sees_a_damaged_export(mutant: str) -> None:
    chart = load_chart(DOOR)
    xpath, change = MUTANTS[mutant]
    damaged = _mutate(export_scxml(chart), xpath.replace("&lt;", "<"), change)
    again = _roundtrip(chart, damaged)
    assert structure_diff(chart.structure, again.structure) != []


def test_a_dropped_guard_changes_the_library_view_and_the_paths() -> None:
    chart = load_chart(DOOR)
    xpath = ".//s:state[@id='opening']/s:transition[@cond='retries >= 2']"
    damaged = _mutate(export_scxml(chart), xpath, lambda el: el.attrib.pop("cond"))
    assert _library_view(load(damaged, format="scxml")) != _library_view(chart.machine_class)
    assert _paths(_roundtrip(chart, damaged)) != _paths(chart)


def test_read_scxml_refuses_what_is_not_scxml_with_a_chart_error() -> None:
    with pytest.raises(ChartError, match="not SCXML"):
        read_scxml("<scxml><state")
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><scxml>&a;</scxml>'
    with pytest.raises(ChartError, match="not SCXML"):
        read_scxml(bomb)


def _chart_from(tmp_path: Path, text: str) -> Chart:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_chart(path)


_BEFORE = """
name: c
states:
  a:
    initial: true
    transitions:
      - {event: go, target: b, before: [{assign: {location: n, expr: n + 1}}]}
  b: {final: true, donedata: {content: "{'role': 'success'}"}}
datamodel: {n: "0"}
"""


def test_what_scxml_cannot_hold_is_refused_not_dropped(tmp_path: Path) -> None:
    chart = _chart_from(tmp_path, _BEFORE)
    with pytest.raises(ChartError, match="before/after executable content"):
        export_scxml(chart)


_RICH = """
name: rich
datamodel: {n: "0", label: "'x'"}
states:
  a:
    initial: true
    enter:
      - {raise: poke}
      - {log: {label: hello, expr: n}}
      - {if: {cond: n > 1, then: [{assign: {location: n, expr: "0"}}],
              elif: [{cond: n == 1, then: [{raise: one}]}], else: [{raise: other}]}}
    transitions:
      - {event: poke, target: b, before: [note], after: [noted], internal: false}
      - {event: "error.*", target: b}
  b:
    states:
      x:
        transitions:
          - {event: go, target: y}
      y: {final: true}
    initial: false
    transitions:
      - {event: done.state.b, target: c}
      - {event: reset, target: x, internal: true}
      - {event: restart, target: x}
  c: {final: true, donedata: {content: "{'role': 'success'}"}}
"""


def test_executable_content_and_slots_round_trip(tmp_path: Path) -> None:
    chart = _chart_from(tmp_path, _RICH)
    text = export_scxml(chart)
    again = _roundtrip(chart, text)
    assert structure_diff(chart.structure, again.structure) == []
    a = read_scxml(text).states["a"]
    kinds = [type(x).__name__ for x in a.onentry[0].actions]
    assert kinds == ["RaiseAction", "LogAction", "IfAction"]
    branching = a.onentry[0].actions[2]
    assert isinstance(branching, IfAction)
    assert [b.cond for b in branching.branches] == ["n > 1", "n == 1", None]
    poke = a.transitions[0]
    assert (poke.before_refs, poke.after_refs) == (["note"], ["noted"])
    assert _library_view(load(text, format="scxml")) == _library_view(chart.machine_class)
    b = ET.fromstring(text).find(f".//{{{SCXML_NS}}}state[@id='b']")
    assert b is not None
    assert [t.get("type") for t in b.findall(f"{{{SCXML_NS}}}transition")] == [
        None,
        "internal",
        None,
    ]


def test_executable_content_and_internal_transitions_in_xstate_terms(tmp_path: Path) -> None:
    config = export_xstate(_chart_from(tmp_path, _RICH))
    assert xstate_problems(config) == []
    a = _find(config, "a")
    assert [x["type"] for x in a["entry"]] == ["raise", "log", "if"]
    branches = a["entry"][2]["params"]["branches"]
    assert branches[0] == {
        "type": "ifbranch",
        "params": {
            "cond": "n > 1",
            "actions": [{"type": "assign", "params": {"location": "n", "expr": "0"}}],
        },
    }
    assert branches[2] == {
        "type": "ifbranch",
        "params": {"actions": [{"type": "raise", "params": {"event": "other"}}]},
    }
    assert a["on"]["poke"] == [{"target": "#b", "actions": ["note", "noted"]}]
    assert "error.*" in a["on"]
    b = _find(config, "b")
    assert b["onDone"] == [{"target": "#c"}]
    # reset is internal: no re-entry of b; restart is external, so b is left and re-entered.
    assert b["on"]["reset"] == [{"target": "#x"}]
    assert b["on"]["restart"] == [{"target": "#x", "reenter": True}]


# -- XState v5 -------------------------------------------------------------------------------------

_NODE_KEYS = {"id", "type", "initial", "states", "on", "always", "onDone", "entry", "exit"}
_NODE_KEYS |= {"output", "history", "target", "description", "tags", "meta"}
_TRANSITION_KEYS = {"target", "guard", "actions", "reenter", "description"}


def xstate_problems(config: dict[str, Any]) -> list[str]:
    """What an XState v5 machine config of this shape would be refused for, or misread.

    The structural rules ``createMachine`` applies: a compound state's ``initial`` names one
    of its children; a parallel or atomic state has none; a final state has no children and
    no transitions; a history state has no children and ``history`` is shallow or deep; ids
    are unique; every ``#id`` target is a state's id; transitions, guards and actions have
    the config's shapes (strings or ``{"type": ...}``).
    """
    problems: list[str] = []
    ids: dict[str, str] = {}
    targets: list[tuple[str, str]] = []
    if json.loads(json.dumps(config)) != config:
        problems.append("not JSON")

    def action_ok(a: Any) -> bool:
        if isinstance(a, str):
            return bool(a)
        return (
            isinstance(a, dict)
            and isinstance(a.get("type"), str)
            and set(a) <= {"type", "params"}
            and isinstance(a.get("params", {}), dict)
        )

    def transitions(where: str, value: Any) -> None:
        items = value if isinstance(value, list) else [value]
        for t in items:
            t = {"target": t} if isinstance(t, str) else t
            if not isinstance(t, dict) or not set(t) <= _TRANSITION_KEYS:
                problems.append(f"{where}: bad transition {t!r}")
                continue
            target = t.get("target", [])
            targets.extend((where, x) for x in (target if isinstance(target, list) else [target]))
            guard = t.get("guard")
            if guard is not None and not (
                isinstance(guard, str)
                or (isinstance(guard, dict) and isinstance(guard.get("type"), str))
            ):
                problems.append(f"{where}: bad guard {guard!r}")
            if not all(action_ok(a) for a in t.get("actions", [])):
                problems.append(f"{where}: bad actions {t.get('actions')!r}")
            if not isinstance(t.get("reenter", False), bool):
                problems.append(f"{where}: reenter is not a bool")

    def node(path: str, n: dict[str, Any], root: bool = False) -> None:
        unknown = set(n) - _NODE_KEYS - ({"context"} if root else set())
        if unknown:
            problems.append(f"{path}: unknown keys {sorted(unknown)}")
        sid = n.get("id")
        if sid is not None:
            if sid in ids:
                problems.append(f"{path}: id {sid!r} also at {ids[sid]}")
            ids[sid] = path
        kind = n.get("type", "compound" if n.get("states") else "atomic")
        children = n.get("states", {})
        if kind not in {"atomic", "compound", "parallel", "final", "history"}:
            problems.append(f"{path}: type {kind!r}")
        if kind == "compound" and n.get("initial") not in children:
            problems.append(f"{path}: initial {n.get('initial')!r} is not a child")
        if kind != "compound" and "initial" in n:
            problems.append(f"{path}: a {kind} state has no initial")
        if kind in ("final", "history") and (children or {"on", "always", "onDone"} & set(n)):
            problems.append(f"{path}: a {kind} state has children or transitions")
        if kind == "history":
            if n.get("history", "shallow") not in ("shallow", "deep"):
                problems.append(f"{path}: history {n.get('history')!r}")
            if "target" in n:
                transitions(path, {"target": n["target"]})
        for key in ("entry", "exit"):
            if not all(action_ok(a) for a in n.get(key, [])):
                problems.append(f"{path}: bad {key} {n.get(key)!r}")
        for event, value in n.get("on", {}).items():
            if not event or event != event.strip() or " " in event:
                problems.append(f"{path}: event {event!r}")
            transitions(f"{path} on {event}", value)
        for key in ("always", "onDone"):
            if key in n:
                transitions(f"{path} {key}", n[key])
        for cid, child in children.items():
            node(f"{path}.{cid}", child)

    node(str(config.get("id")), config, root=True)
    for where, target in targets:
        if not isinstance(target, str) or not target.startswith("#") or target[1:] not in ids:
            problems.append(f"{where}: target {target!r} resolves to no state id")
    return problems


def _xstate_transitions(config: dict[str, Any]) -> list[tuple[str, str | None, list[str], Any]]:
    """(source, event, targets, guard formula) for every transition of an XState config."""
    out: list[tuple[str, str | None, list[str], Any]] = []

    def walk(n: dict[str, Any]) -> None:
        keyed: list[tuple[str | None, list[dict[str, Any]]]] = list(n.get("on", {}).items())
        keyed.append((None, n.get("always", [])))
        keyed.append((f"xstate.done.state.{n['id']}", n.get("onDone", [])))
        for event, items in keyed:
            for t in items:
                target = t.get("target", [])
                guard = t.get("guard")
                formula = _flat(parse_guard(guard["type"]).tree) if guard else None
                targets = target if isinstance(target, list) else [target]
                out.append((n["id"], event, targets, formula))
        for child in n.get("states", {}).values():
            walk(child)

    for top in config["states"].values():
        walk(top)
    return out


@pytest.mark.parametrize("path", CHARTS, ids=_ids(CHARTS))
def test_xstate_export_has_the_v5_machine_config_shape(path: Path) -> None:
    chart = load_chart(path)
    config = export_xstate(chart)
    assert xstate_problems(config) == []
    s = chart.structure
    assert config["initial"] == s.top[[s.states[x].initial for x in s.top].index(True)]
    # One XState transition per (transition, event) of the chart, same source, targets, guard.
    expected = sorted(
        (
            t.source,
            e if e is None or not e.startswith("done.state.") else "xstate." + e,
            [f"#{x}" for x in t.targets],
            _guard(t),
        )
        for t in s.transitions
        for e in (t.events or (None,))
        if s.states[t.source].kind == "state"
    )
    assert sorted(_xstate_transitions(config), key=repr) == sorted(expected, key=repr)
    finals = [sid for sid in s.states if s.states[sid].final]
    for sid in s.finals:
        assert _find(config, sid)["output"] == chart.role(sid).to_json()
    assert all(_find(config, sid)["type"] == "final" for sid in finals)


def _find(config: dict[str, Any], sid: str) -> dict[str, Any]:
    stack = list(config["states"].values())
    while stack:
        n: dict[str, Any] = stack.pop()
        if n["id"] == sid:
            return n
        stack.extend(n.get("states", {}).values())
    raise KeyError(sid)


def test_the_door_in_xstate_reenters_on_a_self_transition_and_counts_in_context() -> None:
    config = export_xstate(load_chart(DOOR))
    assert config["context"] == {"retries": 0}
    opening = _find(config, "opening")
    assert opening["entry"] == ["try_open"]
    retry, give_up = opening["on"]["jammed"]
    assert retry == {
        "target": "#opening",
        "guard": {"type": "retries < 2"},
        "actions": [{"type": "assign", "params": {"location": "retries", "expr": "retries + 1"}}],
        "reenter": True,  # SCXML re-enters the state: try_open runs again
    }
    assert give_up == {"target": "#broken", "guard": {"type": "retries >= 2"}}
    assert _find(config, "unlocking")["on"]["wrong_key"][1]["guard"] == {
        "type": "not has_spare_key"
    }


def test_parallel_and_history_states_in_xstate_terms() -> None:
    work = _find(export_xstate(load_chart(GOOD / "parallel.yaml")), "work")
    assert work["type"] == "parallel"
    assert "initial" not in work
    assert [t["target"] for t in work["onDone"]] == ["#finished", "#failed"]
    assert work["onDone"][0]["guard"] == {"type": "In('fetched')"}
    working = _find(export_xstate(load_chart(GOOD / "history.yaml")), "working")
    assert working["states"]["resume_point"] == {
        "id": "resume_point",
        "type": "history",
        "history": "shallow",
    }


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (
            lambda c: c["states"]["in_service"]["states"]["closed"]["on"]["open"][0].update(
                target="#nowhere"
            ),
            "resolves to no state",
        ),
        (lambda c: c["states"]["in_service"].update(initial="removed"), "is not a child"),
        (
            lambda c: c["states"]["broken"].update(on={"x": [{"target": "#removed"}]}),
            "final state has",
        ),
        (lambda c: c["states"]["removed"].update(id="broken"), "also at"),
        (
            lambda c: c["states"]["in_service"]["states"]["opening"].update(entry=[{"kind": "x"}]),
            "bad entry",
        ),
    ],
    ids=["dangling target", "initial not a child", "final with on", "duplicate id", "bad action"],
)
def test_the_xstate_validator_refuses_a_broken_config(mutate: Any, problem: str) -> None:
    config = export_xstate(load_chart(DOOR))
    mutate(config)
    assert any(problem in p for p in xstate_problems(config)), xstate_problems(config)


# -- the command line -----------------------------------------------------------------------------


def test_cli_export_prints_scxml_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chart", "export", "--format", "scxml", str(DOOR)]) == 0
    out = capsys.readouterr().out
    assert out == export_scxml(load_chart(DOOR))
    parent = load(out, format="scxml").states_map["opening"].parent
    assert parent is not None
    assert parent.id == "in_service"


def test_cli_export_writes_xstate_and_mermaid_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "door.json"
    assert main(["chart", "export", "--format", "xstate", str(DOOR), "-o", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == export_xstate(load_chart(DOOR))
    assert str(out) in capsys.readouterr().out
    assert main(["chart", "export", "--format", "mermaid", "door"]) == 0
    assert capsys.readouterr().out == render_mermaid(load_chart(DOOR))


def test_cli_export_bad_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["chart", "export", "--format", "dot", str(DOOR)])
    assert done.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_export_of_a_missing_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chart", "export", "--format", "scxml", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope.yaml" in err
    assert "Traceback" not in err


def test_cli_export_of_an_unexportable_chart_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(_BEFORE, encoding="utf-8")
    assert main(["chart", "export", "--format", "scxml", str(path)]) == 2  # a ChartError
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(r"state 'a', transition 0: SCXML has no slot", err)
