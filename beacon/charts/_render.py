"""Diagrams of a chart: Graphviz DOT (and SVG through ``dot``) and Mermaid.

Contract: drawn only from the chart document (its ``Structure``), a trace and a coverage file,
all of which hold names, never values, so a diagram cannot carry a secret. The DOT text is
deterministic (document order, no timestamps, no ids from memory) so it can be committed and
compared; SVG depends on the Graphviz version and is never compared.

Drawing rules:

* compound states are rounded clusters, parallel states dashed clusters whose regions are
  clusters; a small filled dot marks each initial state, a double border each final state;
* an edge reads ``event [guard] / effects``; eventless edges show only ``[guard]``;
* top-level final states carry their declared role (``success``, ``recovery``, ``failure``:
  ``_roles.py``) in their label and colour; an edge into a **failure** final is red and dashed,
  one into a **recovery** final amber; every other edge is plain (a retry is not a failure);
* a trace overlay numbers the transitions taken (``#1 #4``) and draws them thick and blue,
  filling the states the run entered; a coverage overlay appends ``×n`` to every edge and draws
  never-taken edges grey and dotted with ``(never)``.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import graphviz

from beacon._errors import ChartError
from beacon.charts._coverage import Coverage
from beacon.charts._load import Chart
from beacon.charts._model import Structure, TransitionInfo
from beacon.charts._trace import Trace

__all__ = [
    "ROLE_COLORS",
    "Overlay",
    "edge_class",
    "render_dot",
    "render_mermaid",
    "render_svg",
    "state_role",
]

_FONT = "Helvetica"
_LABEL_WIDTH = 26  # characters on one line of an edge label
_TRACE_COLOR = "#1f5fbf"
_NEVER_COLOR = "#9a9a9a"
#: How each declared role of a final state is drawn, and the edges that end there.
ROLE_COLORS = {"success": "#1e7b34", "recovery": "#b9770e", "failure": "#c0392b"}


def state_role(chart: Chart, sid: str) -> str | None:
    """The declared role of a top-level final state, ``None`` for every other state."""
    role = chart.roles.get(sid)
    return role.role if role is not None else None


@dataclass
class Overlay:
    """What to draw over the chart: one run's path, or a campaign's hit counts."""

    trace: Trace | None = None
    coverage: Coverage | None = None
    order: dict[str, list[int]] = field(default_factory=dict)
    visited: set[str] = field(default_factory=set)

    @classmethod
    def for_chart(
        cls, chart: Chart, trace: Trace | None = None, coverage: Coverage | None = None
    ) -> Overlay:
        """Pick the first run of ``chart`` in the trace tree, number its transitions."""
        run = next((t for t in trace.walk() if t.chart == chart.name), None) if trace else None
        overlay = cls(trace=run, coverage=coverage)
        if run is not None:
            for n, tid in enumerate(run.transitions, start=1):
                overlay.order.setdefault(tid, []).append(n)
            overlay.visited = {s for step in run.steps for s in step.entered}
        return overlay


def _edge_label(t: TransitionInfo) -> str:
    """``event [guard] / effects``; a long label breaks before its guard and its effects, and a
    long list of events into lines, so one edge does not widen the whole picture."""
    parts = ["\n".join(textwrap.wrap(t.event, _LABEL_WIDTH)) if t.event else ""]
    if t.guard:
        parts.append(f"[{t.guard}]")
    if t.effects:
        parts.append(f"/ {', '.join(t.effects)}")
    text = " ".join(p for p in parts if p)
    if len(text) <= _LABEL_WIDTH:
        return text
    return "\n".join(p for p in parts if p)


def _anchor(s: Structure, sid: str) -> str:
    """The node an edge to or from ``sid`` attaches to (a cluster's initial dot)."""
    return f"{sid}.__initial" if s.states[sid].compound else sid


def render_dot(chart: Chart, overlay: Overlay | None = None) -> str:
    """The chart as DOT text (deterministic); see the module docstring for the rules."""
    s = chart.structure
    overlay = overlay or Overlay()
    g = graphviz.Digraph(name=chart.name)
    # Top to bottom, tight: the main path reads downwards and the picture fits a laptop
    # screen at 96 dpi (9 pt state labels, 8 pt edge labels: 12 and 11 px).
    g.attr(
        "graph",
        rankdir="TB",
        newrank="true",
        nodesep="0.1",
        ranksep="0.25",
        compound="true",
        fontname=_FONT,
        label=chart.name,
        labelloc="t",
    )
    g.attr("node", shape="box", style="rounded", fontname=_FONT, fontsize="9")
    g.attr("edge", fontname=_FONT, fontsize="8")
    g.node("__initial", label="", shape="point", width="0.15")
    top = [sid for sid in s.top if s.states[sid].kind == "state"]
    failures = [sid for sid in top if state_role(chart, sid) == "failure"]
    if len(failures) > 1:  # grouped, so failure edges converge on one place
        _states(g, chart, [sid for sid in top if sid not in failures], overlay)
        with g.subgraph(name="cluster_failures") as group:
            color = ROLE_COLORS["failure"]
            group.attr(label="failures", style="dashed,rounded", color=color, fontcolor=color)
            group.attr(fontname=_FONT, fontsize="9")
            _states(group, chart, failures, overlay)
    else:
        _states(g, chart, top, overlay)
    first = next(sid for sid in s.top if s.states[sid].initial and s.states[sid].kind == "state")
    g.edge("__initial", _anchor(s, first), **_cluster_attrs(s, None, first))
    for t in s.transitions:
        _edge(g, chart, t, overlay)
    return str(g.source)


def _states(g: graphviz.Digraph, chart: Chart, ids: list[str], overlay: Overlay) -> None:
    s = chart.structure
    for sid in ids:
        info = s.states[sid]
        if info.kind == "history":
            g.node(sid, label="H*" if "deep" in sid else "H", shape="circle", width="0.3")
            continue
        if info.compound:
            with g.subgraph(name=f"cluster_{sid}") as sub:
                title = f"{sid} (parallel)" if info.parallel else sid
                if info.enter_effects:
                    title += "\nenter / " + "\n".join(info.enter_effects)
                style = "dashed,rounded" if info.parallel else "rounded"
                if sid in overlay.visited:
                    style += ",bold"
                sub.attr(label=title, style=style, fontname=_FONT, fontsize="9")
                sub.node(f"{sid}.__initial", label="", shape="point", width="0.12")
                children = [c for c in info.children if s.states[c].kind == "state"]
                if not info.parallel and children:
                    first = next((c for c in children if s.states[c].initial), children[0])
                    sub.edge(
                        f"{sid}.__initial", _anchor(s, first), **_cluster_attrs(s, None, first)
                    )
                _states(sub, chart, info.children, overlay)
            continue
        attrs: dict[str, str] = {}
        label = sid
        if info.enter_effects:
            label += "\nenter / " + "\n".join(info.enter_effects)
        if info.final:
            attrs["peripheries"] = "2"
        role = state_role(chart, sid)
        if role is not None:
            label += f"\n({role})"
            attrs["color"] = attrs["fontcolor"] = ROLE_COLORS[role]
        if sid in overlay.visited:
            attrs["style"] = "rounded,filled"
            attrs["fillcolor"] = "#dbe8fb"
        g.node(sid, label=label, **attrs)


def _cluster_attrs(s: Structure, source: str | None, target: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if source is not None and s.states[source].compound:
        attrs["ltail"] = f"cluster_{source}"
    if s.states[target].compound:
        attrs["lhead"] = f"cluster_{target}"
    return attrs


def _edge(g: graphviz.Digraph, chart: Chart, t: TransitionInfo, overlay: Overlay) -> None:
    s = chart.structure
    label = _edge_label(t)
    attrs: dict[str, str] = {}
    # An edge is drawn as the role of the final it ends in: failures red and dashed,
    # recoveries amber; every other edge (a retry, a fix-up) is plain.
    roles = {state_role(chart, x) for x in t.targets} - {None}
    if "failure" in roles:
        attrs.update(color=ROLE_COLORS["failure"], fontcolor=ROLE_COLORS["failure"])
        attrs["style"] = "dashed"
    elif "recovery" in roles:
        attrs.update(color=ROLE_COLORS["recovery"], fontcolor=ROLE_COLORS["recovery"])
    if overlay.coverage is not None:
        hits = overlay.coverage.count(chart.name, t.id)
        if hits:
            label = f"{label} ×{hits}"
            attrs["penwidth"] = str(min(1 + hits.bit_length() * 0.5, 5.0))
        else:
            label = f"{label} (never)"
            attrs.update(color=_NEVER_COLOR, fontcolor=_NEVER_COLOR, style="dotted")
    if t.id in overlay.order:
        label = f"{label} " + " ".join(f"#{n}" for n in overlay.order[t.id])
        attrs.update(color=_TRACE_COLOR, fontcolor=_TRACE_COLOR, penwidth="2.5")
    targets = t.targets or (t.source,)
    for target in targets:
        edge_attrs = dict(attrs, **_cluster_attrs(s, t.source, target))
        if t.source == target and s.states[target].compound:
            edge_attrs.pop("lhead", None)
        # The SVG element of the edge carries this class, so a page can point at a transition.
        edge_attrs["class"] = edge_class(chart.name, t.id)
        g.edge(_anchor(s, t.source), _anchor(s, target), label=label, **edge_attrs)


def edge_class(chart: str, transition: str) -> str:
    """The SVG class of a transition's edge: ``t-<chart>-<source>-<n>``, CSS-safe."""
    return "t-" + re.sub(r"[^A-Za-z0-9_-]", "-", f"{chart}-{transition.replace('#', '-')}")


# -- Mermaid ------------------------------------------------------------------------------------


def render_svg(dot: str) -> str:
    """Lay out DOT text with Graphviz's ``dot`` program and return the SVG.

    Raises:
        ChartError: the ``dot`` program is not installed (``make install`` installs it).
    """
    try:
        svg: bytes = graphviz.Source(dot).pipe(format="svg")
    except graphviz.ExecutableNotFound as exc:
        raise ChartError(
            "Graphviz `dot` is not installed (`make install` installs it;"
            " `beacon chart render --no-svg` writes DOT only)"
        ) from exc
    return svg.decode("utf-8")


def render_mermaid(chart: Chart) -> str:
    """The chart as a Mermaid ``stateDiagram-v2`` block (no overlays)."""
    s = chart.structure
    lines = ["stateDiagram-v2", f"    %% {chart.name}: generated by beacon chart render"]
    lines += _mermaid_states(s, [sid for sid in s.top if s.states[sid].kind == "state"], 1)
    for t in s.transitions:
        label = _edge_label(t).replace(":", "∶")
        suffix = f" : {label}" if label else ""
        for target in t.targets or (t.source,):
            lines.append(f"    {t.source} --> {target}{suffix}")
    for role, color in ROLE_COLORS.items():
        finals = [sid for sid in s.finals if state_role(chart, sid) == role]
        if finals:
            lines.append(f"    classDef {role} stroke:{color},color:{color}")
            lines.append(f"    class {','.join(finals)} {role}")
    return "\n".join(lines) + "\n"


def _mermaid_states(s: Structure, ids: list[str], depth: int) -> list[str]:
    pad = "    " * depth
    out: list[str] = []
    real = [sid for sid in ids if s.states[sid].kind == "state"]
    if real:
        first = next((sid for sid in real if s.states[sid].initial), real[0])
        out.append(f"{pad}[*] --> {first}")
    for sid in real:
        info = s.states[sid]
        if info.compound:
            out.append(f"{pad}state {sid} {{")
            for h in (c for c in info.children if s.states[c].kind == "history"):
                out.append(f'{pad}    state "H" as {h}')
            children = [c for c in info.children if s.states[c].kind == "state"]
            if info.parallel:
                for i, c in enumerate(children):
                    if i:
                        out.append(f"{pad}    --")
                    out += _mermaid_states(s, [c], depth + 1)
            else:
                out += _mermaid_states(s, children, depth + 1)
            out.append(f"{pad}}}")
        if info.final:
            out.append(f"{pad}{sid} --> [*]")
    return out
