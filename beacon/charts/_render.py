"""Diagrams of a chart: Graphviz DOT (and SVG through ``dot``) and Mermaid.

Contract: drawn only from the chart document (its ``Structure``), a trace and a coverage file,
all of which hold names, never values, so a diagram cannot carry a secret. The DOT text is
deterministic (document order, no timestamps, no ids from memory) so it can be committed and
compared; SVG depends on the Graphviz version and is never compared.

Drawing rules:

* compound states are rounded clusters, parallel states dashed clusters whose regions are
  clusters; a small filled dot marks each initial state, a double border each final state;
* an edge reads ``event [guard] / effects``; eventless edges show only ``[guard]``;
* **failure** edges and states are red and dashed: an edge whose event, or whose target's id,
  contains a failure word as one of its ``_``/``.``-separated parts (see :data:`FAILURE_WORDS`),
  e.g. ``unauthorized``, ``network_error``, ``backoff``, ``auth_failed``;
* a trace overlay numbers the transitions taken (``#1 #4``) and draws them thick and blue,
  filling the states the run entered; a coverage overlay appends ``×n`` to every edge and draws
  never-taken edges grey and dotted with ``(never)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import graphviz

from beacon._errors import ChartError
from beacon.charts._coverage import Coverage
from beacon.charts._load import Chart
from beacon.charts._model import Structure, TransitionInfo
from beacon.charts._trace import Trace

__all__ = ["FAILURE_WORDS", "Overlay", "is_failure", "render_dot", "render_mermaid", "render_svg"]

#: Words that mark an outcome or state as a failure when they appear as a ``_``/``.`` part.
FAILURE_WORDS = frozenset(
    {
        "error",
        "errors",
        "fail",
        "failed",
        "failure",
        "unauthorized",
        "forbidden",
        "backoff",
        "timeout",
        "conflict",
        "mismatch",
        "race",
        "unreachable",
        "untrusted",
        "invalidated",
        "broken",
        "aborted",
    }
)

_FONT = "Helvetica"
_FAIL_COLOR = "#c0392b"
_TRACE_COLOR = "#1f5fbf"
_NEVER_COLOR = "#9a9a9a"


def is_failure(name: str) -> bool:
    """Whether an event or state name reads as a failure (see :data:`FAILURE_WORDS`)."""
    return any(part in FAILURE_WORDS for part in re.split(r"[_.\s]+", name.lower()))


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
    text = t.event
    if t.guard:
        text = f"{text} [{t.guard}]".strip()
    if t.effects:
        text = f"{text} / {', '.join(t.effects)}".strip()
    return text


def _failure_edge(s: Structure, t: TransitionInfo) -> bool:
    return any(is_failure(e) for e in t.events) or any(is_failure(x) for x in t.targets)


def _anchor(s: Structure, sid: str) -> str:
    """The node an edge to or from ``sid`` attaches to (a cluster's initial dot)."""
    return f"{sid}.__initial" if s.states[sid].compound else sid


def render_dot(chart: Chart, overlay: Overlay | None = None) -> str:
    """The chart as DOT text (deterministic); see the module docstring for the rules."""
    s = chart.structure
    overlay = overlay or Overlay()
    g = graphviz.Digraph(name=chart.name)
    g.attr("graph", rankdir="LR", compound="true", fontname=_FONT, label=chart.name, labelloc="t")
    g.attr("node", shape="box", style="rounded", fontname=_FONT, fontsize="10")
    g.attr("edge", fontname=_FONT, fontsize="9")
    g.node("__initial", label="", shape="point", width="0.15")
    _states(g, s, [sid for sid in s.top if s.states[sid].kind == "state"], overlay)
    first = next(sid for sid in s.top if s.states[sid].initial and s.states[sid].kind == "state")
    g.edge("__initial", _anchor(s, first), **_cluster_attrs(s, None, first))
    for t in s.transitions:
        _edge(g, s, t, overlay, chart.name)
    return str(g.source)


def _states(g: graphviz.Digraph, s: Structure, ids: list[str], overlay: Overlay) -> None:
    for sid in ids:
        info = s.states[sid]
        if info.kind == "history":
            g.node(sid, label="H*" if "deep" in sid else "H", shape="circle", width="0.3")
            continue
        if info.compound:
            with g.subgraph(name=f"cluster_{sid}") as sub:
                title = f"{sid} (parallel)" if info.parallel else sid
                if info.enter_effects:
                    title += f"\nenter / {', '.join(info.enter_effects)}"
                style = "dashed,rounded" if info.parallel else "rounded"
                if sid in overlay.visited:
                    style += ",bold"
                sub.attr(label=title, style=style, fontname=_FONT, fontsize="10")
                sub.node(f"{sid}.__initial", label="", shape="point", width="0.12")
                children = [c for c in info.children if s.states[c].kind == "state"]
                if not info.parallel and children:
                    first = next((c for c in children if s.states[c].initial), children[0])
                    sub.edge(
                        f"{sid}.__initial", _anchor(s, first), **_cluster_attrs(s, None, first)
                    )
                _states(sub, s, info.children, overlay)
            continue
        attrs: dict[str, str] = {}
        label = sid
        if info.enter_effects:
            label += f"\nenter / {', '.join(info.enter_effects)}"
        if info.final:
            attrs["peripheries"] = "2"
        if is_failure(sid):
            attrs["color"] = _FAIL_COLOR
            attrs["fontcolor"] = _FAIL_COLOR
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


def _edge(
    g: graphviz.Digraph, s: Structure, t: TransitionInfo, overlay: Overlay, chart: str
) -> None:
    label = _edge_label(t)
    attrs: dict[str, str] = {}
    if _failure_edge(s, t):
        attrs.update(color=_FAIL_COLOR, fontcolor=_FAIL_COLOR, style="dashed")
    if overlay.coverage is not None:
        hits = overlay.coverage.count(chart, t.id)
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
        g.edge(_anchor(s, t.source), _anchor(s, target), label=label, **edge_attrs)


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
    failures = [sid for sid, i in s.states.items() if i.kind == "state" and is_failure(sid)]
    if failures:
        lines.append(f"    classDef failure stroke:{_FAIL_COLOR},color:{_FAIL_COLOR}")
        lines.append(f"    class {','.join(failures)} failure")
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
