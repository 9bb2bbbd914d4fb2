"""The demo's one self-contained HTML page: the devices side by side.

Each device gets a column: the session diagram with its path overlaid (the SVG inlined, so
the page needs no other file), shown whole at the column's width (a click on it zooms to full
size, CSS only), with a stepper that walks the device's run transition by transition (the
one small inline script: it only moves a highlight); then its runs in order with their paths
and requests. Below, the story's checks and every trace as JSON. No external resource;
everything that came from a run is HTML-escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from beacon.demo._story import Chapter, Story
from beacon.demo._timeline import state_role

__all__ = ["render_page"]

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1500px; padding: 0 1rem; color: #1d2430; }
h1 { margin-bottom: .2rem; } .lede { color: #555; margin-top: 0; }
.devices { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
           gap: 1.5rem; }
.device { border: 1px solid #d8dde6; border-radius: 8px; padding: 1rem; background: #fbfcfe; }
.device h2 { margin-top: 0; }
.diagram { overflow: auto; background: white; border: 1px solid #e4e8ee; border-radius: 6px; }
.zoom { display: none; } .zoom + label { cursor: zoom-in; display: block; }
.diagram svg { width: 100%; height: auto; display: block; }
.zoom:checked + label { cursor: zoom-out; }
.zoom:checked + label .diagram svg { width: auto; max-width: none; }
.stepper { margin: .4rem 0; font-size: 13px; } .stepper button { font: inherit; }
.stepper output { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
svg .current path { stroke: #e8710a !important; stroke-width: 5px !important; }
svg .current text { fill: #e8710a !important; font-weight: bold; }
ol.runs { padding-left: 1.2rem; } ol.runs li { margin-bottom: .8rem; }
.path { font: 13px/1.6 ui-monospace, SFMono-Regular, Menlo, monospace; }
.s-ok { color: #137333; font-weight: 600; } .s-fail { color: #b3261e; font-weight: 600; }
.s-rec { color: #9a6700; background: #fff4d6; border-radius: 3px; padding: 0 2px; }
.arrow { color: #999; } .meta { color: #666; font-size: 13px; }
.req401 { color: #b3261e; font-weight: 600; }
.checks li { list-style: none; } .pass::before { content: "✓ "; color: #137333; }
.fail::before { content: "✗ "; color: #b3261e; }
details { margin: .6rem 0; }
details pre { max-height: 400px; overflow: auto; background: #f4f6f9; padding: .6rem;
              font-size: 12px; }
"""

_XML_PROLOG = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.S)


def _ident(text: str) -> str:
    """``text`` as an HTML id part."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _inline_svg(svg: str) -> str:
    """An SVG document as an element to inline in HTML (prolog and doctype dropped)."""
    return _XML_PROLOG.sub("", svg, count=1)


_ROLE_CLASSES = {"ok": "s-ok", "fail": "s-fail", "recovery": "s-rec"}


def _state_class(state: str) -> str:
    return _ROLE_CLASSES.get(state_role(state) or "", "")


def _path_html(path: Sequence[str]) -> str:
    arrow = '<span class="arrow"> → </span>'
    return arrow.join(f'<span class="{_state_class(s)}">{escape(s)}</span>' for s in path)


def _chapter_html(chapter: Chapter) -> str:
    count = len(chapter.requests)
    unusual = [r for r in chapter.requests if r.status >= 300 and r.status != 304]
    notes = "".join(
        f' · <span class="{"req401" if r.status == 401 else ""}">{escape(r.label())}</span>'
        for r in unusual
    )
    engines = "; ".join(
        f"{escape(name)}: "
        + (", ".join(f"{escape(k)} {v}" for k, v in sorted(counts.items()) if v) or "no changes")
        for name, counts in sorted(chapter.engines.items())
    )
    return (
        f'<li value="{chapter.number}"><strong>{escape(chapter.title)}</strong> '
        f'<span class="{_state_class(chapter.outcome)}">{escape(chapter.outcome)}</span>'
        f'<div class="path">{_path_html(chapter.path)}</div>'
        f'<div class="meta">{count} request{"" if count == 1 else "s"}{notes}'
        f"{' · ' + engines if engines else ''} · {chapter.seconds * 1000:.0f} ms</div></li>"
    )


# Moves the highlight along a device's transitions: each stepper names its diagram and holds
# the steps (edge class, label) as JSON; nothing else on the page is scripted.
_SCRIPT = """
document.querySelectorAll('.stepper').forEach(function (box) {
  var steps = JSON.parse(box.dataset.steps), at = -1;
  var svg = document.getElementById(box.dataset.diagram);
  var out = box.querySelector('output');
  function show(k) {
    at = Math.max(0, Math.min(steps.length - 1, k));
    svg.querySelectorAll('.current').forEach(function (e) { e.classList.remove('current'); });
    svg.querySelectorAll('.' + steps[at][0]).forEach(function (e) { e.classList.add('current'); });
    out.textContent = (at + 1) + ' / ' + steps.length + ': ' + steps[at][1];
  }
  box.querySelector('.prev').onclick = function () { show(at - 1); };
  box.querySelector('.next').onclick = function () { show(at + 1); };
});
"""


def _stepper(device: str, diagram_id: str, steps: Sequence[tuple[str, str]]) -> str:
    data = escape(json.dumps([list(s) for s in steps]), quote=True)
    return (
        f'<div class="stepper" data-diagram="{diagram_id}" data-steps="{data}">'
        f"Step through device {escape(device)}'s run: "
        '<button class="prev" type="button">◀</button> '
        '<button class="next" type="button">▶</button> '
        f"<output>{len(steps)} transitions</output></div>"
    )


def render_page(
    story: Story,
    *,
    diagrams: Mapping[str, Mapping[str, str]],
    traces: Mapping[str, Any],
    steps: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> str:
    """The whole page. ``diagrams`` maps a device to its overlaid SVGs by chart name (the
    first is shown open, the others folded); ``traces`` maps a device to its traces;
    ``steps`` to the transitions of the first chart it took, in order (edge class, label)."""
    columns = []
    for device in story.devices:
        charts = diagrams.get(device, {})
        figures = []
        for n, (chart, svg) in enumerate(charts.items()):
            link = f"{escape(chart)}-{escape(device)}.svg"
            ident = f"diagram-{_ident(device)}-{_ident(chart)}"
            drawing = (
                f'<input type="checkbox" class="zoom" id="zoom-{ident}">'
                f'<label for="zoom-{ident}"><div class="diagram" id="{ident}">'
                f"{_inline_svg(svg)}</div></label>"
            )
            caption = (
                f'<p class="meta">The {escape(chart)} chart with the path device '
                f"{escape(device)} took over all its runs: transitions taken are blue and "
                "numbered in order, states entered are filled (click the picture to zoom; "
                f'<a href="{link}">the SVG alone</a>).</p>'
            )
            if n == 0:
                walk = _stepper(device, ident, (steps or {}).get(device, ()))
                figures.append(caption + walk + drawing)
            else:
                figures.append(
                    f"<details><summary>The {escape(chart)} chart</summary>"
                    f"{caption}{drawing}</details>"
                )
        runs = "".join(_chapter_html(c) for c in story.for_device(device))
        columns.append(
            f'<section class="device"><h2>Device {escape(device)}</h2>'
            f"{''.join(figures) or '<p>(no diagram)</p>'}"
            f'<h3>Its runs</h3><ol class="runs">{runs}</ol></section>'
        )
    checks = "".join(
        f'<li class="{"pass" if c.passed else "fail"}">{escape(c.claim)}'
        + (f' <span class="meta">({escape(c.detail)})</span>' if c.detail else "")
        + "</li>"
        for c in story.checks
    )
    trace_blocks = "".join(
        f"<details><summary>Traces of device {escape(device)}</summary>"
        f"<pre>{escape(json.dumps(traces[device], indent=2))}</pre></details>"
        for device in story.devices
        if device in traces
    )
    verdict = "the story happened as told" if story.ok else "the story did NOT happen as told"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>beacon demo</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>beacon demo</h1>"
        '<p class="lede">Two devices sync through an embedded Firefox Sync 1.5 service over '
        "loopback HTTP. Device A uploads, device B downloads; the service revokes A's token in "
        "the middle of a run and A recovers; the service moves the user to another node and "
        f"both devices start afresh and converge. Run time {story.seconds:.1f} s: "
        f"<strong>{verdict}</strong>.</p>"
        f'<div class="devices">{"".join(columns)}</div>'
        f'<h2>Checks</h2><ul class="checks">{checks}</ul>'
        f"<h2>Traces</h2>{trace_blocks}"
        f"<script>{_SCRIPT}</script>"
        "</body></html>\n"
    )
