"""The demo's one self-contained HTML page: the devices side by side.

Each device gets a column: the session diagram with its path overlaid (the SVG inlined, so
the page needs no other file), then its runs in order with their paths and requests. Below,
the story's checks and every trace as JSON. No script, no external resource; everything that
came from a run is HTML-escaped.
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
.diagram svg { height: 380px; width: auto; max-width: none; display: block; }
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


def render_page(
    story: Story,
    *,
    diagrams: Mapping[str, Mapping[str, str]],
    traces: Mapping[str, Any],
) -> str:
    """The whole page. ``diagrams`` maps a device to its overlaid SVGs by chart name (the
    first is shown open, the others folded); ``traces`` maps a device to its traces."""
    columns = []
    for device in story.devices:
        charts = diagrams.get(device, {})
        figures = []
        for n, (chart, svg) in enumerate(charts.items()):
            link = f"{escape(chart)}-{escape(device)}.svg"
            drawing = f'<div class="diagram">{_inline_svg(svg)}</div>'
            caption = (
                f'<p class="meta">The {escape(chart)} chart with the path device '
                f"{escape(device)} took over all its runs: transitions taken are blue and "
                "numbered in order, states entered are filled (scroll sideways; "
                f'<a href="{link}">the SVG alone</a>).</p>'
            )
            if n == 0:
                figures.append(caption + drawing)
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
        "</body></html>\n"
    )
