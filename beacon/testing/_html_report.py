"""A campaign's HTML report: coverage over time, the charts, the goals, the shrunk failure.

Contract:

* :func:`write_html_report` writes ONE self-contained page: inline CSS and inline SVG, no
  script, no external resource (the only URLs are the SVG namespaces). Per chart: a plot of
  the transitions covered against the examples run (drawn here from the timeline) and the
  chart's diagram with the coverage overlaid (``render_svg`` + ``Overlay``: hit counts on the
  edges, never-taken edges grey and dotted). Then the goals met and missed, the coverage table,
  and, when given a failure, its message, its steps and the failing trace drawn on every chart
  it ran through. Without Graphviz's ``dot`` the diagrams are replaced by a note saying so.
* Everything taken from data is HTML-escaped. The inputs hold names and counts only (traces
  hold names, never values: ``beacon/charts/_trace.py``), so the page carries no secret.
* ``live=True`` adds a refresh every :data:`LIVE_REFRESH` seconds and a "running" banner; the
  final write has neither. Every write goes to a temporary file in the same directory that is
  then renamed over the page, so a browser reloading it never reads half a page.
* :class:`ReportRecorder` builds the timeline while a campaign runs: :meth:`~ReportRecorder.sample`
  once per example (the campaign's ``on_example``), a point per call; with ``live`` it rewrites
  the page at most every ``interval`` seconds of its injected clock; :meth:`~ReportRecorder.finish`
  writes the final page.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from beacon._errors import ChartError
from beacon.charts import Chart, Overlay, Trace, render_dot, render_svg
from beacon.testing._coverage_report import CoverageReport

__all__ = ["LIVE_REFRESH", "ReportRecorder", "TimelinePoint", "coverage_goals", "write_html_report"]

#: Seconds between reloads of a live page, and the default least interval between its rewrites.
LIVE_REFRESH = 2


@dataclass(frozen=True)
class TimelinePoint:
    """Where a campaign stood after some examples: counts, and coverage per chart."""

    examples: int
    seconds: float
    transitions: int
    #: chart name -> distinct transitions taken so far
    covered: Mapping[str, int]
    #: chart name -> transitions the chart declares (empty: unknown)
    totals: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, coverage: CoverageReport, *, examples: int, seconds: float, transitions: int
    ) -> TimelinePoint:
        """The point for ``coverage`` as it stands now."""
        return cls(
            examples=examples,
            seconds=seconds,
            transitions=transitions,
            covered={name: coverage.taken(name) for name in coverage.charts},
            totals={name: len(s.transitions) for name, s in coverage.charts.items()},
        )

    @property
    def rate(self) -> float:
        """Chart transitions per second so far."""
        return self.transitions / self.seconds if self.seconds > 0 else 0.0

    @property
    def percent(self) -> float:
        """The share of all charts' transitions taken so far, in percent."""
        total = sum(self.totals.values())
        return 100.0 * sum(self.covered.values()) / total if total else 0.0


def coverage_goals(coverage: CoverageReport) -> dict[str, bool]:
    """One goal per chart: every transition it declares was taken."""
    return {
        f"every transition of the {name} chart taken": coverage.taken(name) == len(s.transitions)
        for name, s in coverage.charts.items()
    }


# -- the page -----------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1500px; padding: 0 1rem; color: #1d2430; }
.banner { padding: .5rem .8rem; border-radius: 6px; font-weight: 600; }
.running { background: #fff4d6; color: #7a5200; } .done { background: #e6f4ea; color: #137333; }
.failed { background: #fce8e6; color: #b3261e; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1.5rem; }
.chart { border: 1px solid #d8dde6; border-radius: 8px; padding: 1rem; background: #fbfcfe; }
.chart h3 { margin-top: 0; }
.plot { display: block; width: 100%; max-width: 640px; height: auto; background: white; }
.plot text { font: 11px system-ui, sans-serif; fill: #444; }
.diagram { overflow: auto; background: white; border: 1px solid #e4e8ee; border-radius: 6px; }
.zoom { display: none; } .zoom + label { cursor: zoom-in; display: block; }
.diagram svg { width: 100%; height: auto; display: block; }
.zoom:checked + label { cursor: zoom-out; }
.zoom:checked + label .diagram svg { width: auto; max-width: none; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; padding: .2rem .7rem; border-bottom: 1px solid #e4e8ee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.met { color: #137333; font-weight: 600; } .missed { color: #b3261e; font-weight: 600; }
.never { color: #9a9a9a; } .meta { color: #666; font-size: 13px; }
ol.steps { font: 13px/1.6 ui-monospace, SFMono-Regular, Menlo, monospace; }
ol.steps li.culprit { color: #b3261e; font-weight: 700; }
"""

_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", re.S)


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _diagram(chart: Chart, overlay: Overlay, ident: str) -> str:
    """The chart drawn with ``overlay``, inlined (prolog, doctype and comments dropped), shown
    at the column's width; a click on it zooms to full size (CSS only)."""
    try:
        svg = render_svg(render_dot(chart, overlay))
    except ChartError as exc:
        return f'<p class="meta">(no diagram: {escape(str(exc))})</p>'
    return (
        f'<input type="checkbox" class="zoom" id="zoom-{ident}">'
        f'<label for="zoom-{ident}"><div class="diagram" id="{ident}">'
        f"{_PROLOG.sub('', svg).strip()}</div></label>"
    )


_W, _H = 480, 200  # the plot's size in px
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 14, 36


def _plot(name: str, total: int, timeline: Sequence[TimelinePoint]) -> str:
    """Transitions of ``name`` covered against examples run: a step line (coverage changes
    only when an example ends), axes with their labels, the goal (every transition) dashed."""
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    last_x = max((p.examples for p in timeline), default=0) or 1
    top = max(total, 1)

    def x(examples: int) -> float:
        return _LEFT + width * examples / last_x

    def y(covered: int) -> float:
        return _TOP + height * (1 - covered / top)

    points: list[str] = []
    previous: int | None = None
    for n, p in enumerate(timeline):
        covered = p.covered.get(name, 0)
        if previous is None or covered != previous or n == len(timeline) - 1:
            # Only the corners: a flat stretch of a long campaign costs no points.
            if previous is not None:
                points.append(f"{x(p.examples):.1f},{y(previous):.1f}")
            if covered != previous:
                points.append(f"{x(p.examples):.1f},{y(covered):.1f}")
        previous = covered
    final = timeline[-1].covered.get(name, 0) if timeline else 0
    examples = timeline[-1].examples if timeline else 0
    pct = 100.0 * final / total if total else 100.0
    x_ticks = sorted({0, last_x // 2, last_x})
    y_ticks = sorted({0, total // 2, total})
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" data-chart="{escape(name)}" '
        f'data-covered="{final}" data-total="{total}" data-examples="{examples}">',
        f"<title>{escape(name)}: {final} of {total} transitions covered after "
        f"{examples} examples</title>",
        f'<line x1="{_LEFT}" y1="{_TOP + height}" x2="{_LEFT + width}" y2="{_TOP + height}" '
        'stroke="#444"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + height}" stroke="#444"/>',
        f'<line class="goal" x1="{_LEFT}" y1="{y(total):.1f}" x2="{_LEFT + width}" '
        f'y2="{y(total):.1f}" '
        'stroke="#1e7b34" stroke-dasharray="4 3"/>',
    ]
    for t in x_ticks:
        parts.append(
            f'<text x="{x(t):.1f}" y="{_TOP + height + 14}" text-anchor="middle">{t}</text>'
        )
    for t in y_ticks:
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t}</text>'
            f'<line x1="{_LEFT - 3}" y1="{y(t):.1f}" x2="{_LEFT}" y2="{y(t):.1f}" stroke="#444"/>'
        )
    parts += [
        f'<text x="{_LEFT + width / 2:.1f}" y="{_H - 4}" text-anchor="middle">examples</text>',
        f'<text transform="translate(13 {_TOP + height / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">transitions covered</text>',
        f'<polyline class="covered" fill="none" stroke="#1f5fbf" stroke-width="2" '
        f'points="{" ".join(points)}"/>',
        f'<text x="{_LEFT + width}" y="{_TOP + 14}" text-anchor="end">'
        f"{final}/{total} ({pct:.0f}%)</text>",
        "</svg>",
    ]
    return "".join(parts)


def _goals_html(goals: Mapping[str, bool]) -> str:
    if not goals:
        return "<p>(no goals were set)</p>"
    met = sum(1 for ok in goals.values() if ok)
    rows = "".join(
        f'<tr><td>{escape(goal)}</td><td class="{"met" if ok else "missed"}">'
        f"{'met' if ok else 'missed'}</td></tr>"
        for goal, ok in goals.items()
    )
    return (
        f"<p>{met} of {len(goals)} goals met.</p>"
        f'<table class="goals"><tr><th>goal</th><th>result</th></tr>{rows}</table>'
    )


def _coverage_html(coverage: CoverageReport) -> str:
    rows, details = [], []
    for name, structure in coverage.charts.items():
        total = len(structure.transitions)
        taken = coverage.taken(name)
        pct = 100.0 * taken / total if total else 100.0
        rows.append(
            f'<tr><td>{escape(name)}</td><td class="n">{taken}</td><td class="n">{total}</td>'
            f'<td class="n">{pct:.0f}%</td><td class="n">{coverage.chart_runs[name]}</td></tr>'
        )
        lines = "".join(
            f'<tr class="{"" if hits else "never"}"><td>{escape(t.label)}</td>'
            f'<td class="n">{hits if hits else "never"}</td></tr>'
            for t in structure.transitions
            for hits in (coverage.transitions[name][t.id],)
        )
        unknown = "".join(
            f'<tr><td>{escape(tid)} (not declared by the chart)</td><td class="n">{hits}</td></tr>'
            for tid, hits in sorted(coverage.unknown[name].items())
        )
        details.append(
            f"<details><summary>The {escape(name)} chart's transitions</summary>"
            f"<table><tr><th>transition</th><th>hits</th></tr>{lines}{unknown}</table></details>"
        )
    return (
        "<table><tr><th>chart</th><th>taken</th><th>declared</th><th>covered</th>"
        f"<th>runs</th></tr>{''.join(rows)}</table>{''.join(details)}"
    )


def _failure_html(
    charts: Mapping[str, Chart],
    message: str | None,
    steps: Sequence[str],
    step: int | None,
    trace: Trace | None,
) -> str:
    items = "".join(
        f"<li{' class=culprit' if n == step else ''}>{escape(s)}</li>" for n, s in enumerate(steps)
    )
    parts = [
        '<section id="failure"><h2>The shrunk failure</h2>',
        f'<p class="banner failed">{escape(message or "a failure")}</p>',
        f'<ol class="steps">{items}</ol>' if steps else "",
    ]
    if trace is not None:
        ran = list(trace.walk())
        drawings = []
        for name, chart in charts.items():
            runs = [run for run in ran if run.chart == name]
            if not runs:
                continue
            # Every run of the chart in the tree joined in order, so the transitions are
            # numbered as the failing run took them.
            combined = Trace(chart=name, steps=[s for run in runs for s in run.steps])
            drawings.append(
                f'<div class="chart"><h3>The failing run on the {escape(name)} chart</h3>'
                '<p class="meta">Transitions taken are blue and numbered in order, states '
                "entered are filled (click the picture to zoom).</p>"
                f"{_diagram(chart, Overlay.for_chart(chart, combined), f'failure-{_ident(name)}')}"
                "</div>"
            )
        parts.append(f'<div class="charts">{"".join(drawings)}</div>')
        others = sorted({run.chart for run in ran} - set(charts))
        if others:
            parts.append(f'<p class="meta">It also ran: {escape(", ".join(others))}.</p>')
    parts.append("</section>")
    return "".join(parts)


def render_html_report(
    *,
    title: str,
    charts: Mapping[str, Chart],
    coverage: CoverageReport,
    timeline: Sequence[TimelinePoint],
    goals: Mapping[str, bool] | None = None,
    failure_message: str | None = None,
    failure_steps: Sequence[str] = (),
    failure_step: int | None = None,
    failure_trace: Trace | None = None,
    live: bool = False,
) -> str:
    """The page as text; see :func:`write_html_report`."""
    last = timeline[-1] if timeline else None
    failed = failure_message is not None or bool(failure_steps) or failure_trace is not None
    if last is None:
        summary = "no example has finished yet"
    else:
        summary = (
            f"{last.examples} examples, {last.transitions:,} chart transitions in "
            f"{last.seconds:.1f} s ({last.rate:,.0f} transitions/s)"
        )
    if live:
        banner = (
            f'<p class="banner running">running: {summary}; this page reloads every '
            f"{LIVE_REFRESH} s</p>"
        )
    elif failed:
        banner = f'<p class="banner failed">finished, FAILED: {summary}</p>'
    else:
        banner = f'<p class="banner done">finished: {summary}</p>'
    drawn = coverage.to_coverage()
    sections = []
    for name, chart in charts.items():
        total = len(chart.structure.transitions)
        sections.append(
            f'<section class="chart" id="chart-{_ident(name)}"><h3>{escape(name)}</h3>'
            f"{_plot(name, total, timeline)}"
            '<p class="meta">The chart with every transition\'s hit count; grey dotted edges '
            "were never taken (click the picture to zoom).</p>"
            f"{_diagram(chart, Overlay.for_chart(chart, coverage=drawn), f'cov-{_ident(name)}')}"
            "</section>"
        )
    refresh = f'<meta http-equiv="refresh" content="{LIVE_REFRESH}">' if live else ""
    failure = (
        _failure_html(charts, failure_message, failure_steps, failure_step, failure_trace)
        if failed
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"{refresh}<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{banner}"
        f"<h2>Goals</h2>{_goals_html(goals or {})}"
        f"{failure}"
        f'<h2>Coverage over time</h2><div class="charts">{"".join(sections)}</div>'
        f"<h2>Coverage</h2>{_coverage_html(coverage)}"
        "</body></html>\n"
    )


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # a report, not a secret: readable like any page
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_html_report(
    path: Path,
    *,
    title: str,
    charts: Mapping[str, Chart],
    coverage: CoverageReport,
    timeline: Sequence[TimelinePoint],
    goals: Mapping[str, bool] | None = None,
    failure_message: str | None = None,
    failure_steps: Sequence[str] = (),
    failure_step: int | None = None,
    failure_trace: Trace | None = None,
    live: bool = False,
) -> Path:
    """Write the report page to ``path`` atomically (see the module docstring) and return it.
    ``goals`` maps a goal to whether it was met; ``failure_step`` (an index into
    ``failure_steps``) marks the step that failed. A failure section appears when any of the
    ``failure_*`` arguments but ``failure_step`` is given."""
    _replace(
        path,
        render_html_report(
            title=title,
            charts=charts,
            coverage=coverage,
            timeline=timeline,
            goals=goals,
            failure_message=failure_message,
            failure_steps=failure_steps,
            failure_step=failure_step,
            failure_trace=failure_trace,
            live=live,
        ),
    )
    return path


class ReportRecorder:
    """The timeline of a running campaign, and its report page kept up to date.

    ``sample`` once per finished example (``examples`` and ``transitions`` so far; the
    coverage is read from ``coverage``); ``on_point`` sees every point (a progress bar). With a
    ``path`` and ``live``, the page is written when the recorder starts and then at most every
    ``interval`` seconds of ``clock``; a live write that fails stops the live writes (the
    campaign goes on) and :meth:`finish` raises the error. A ``path`` that cannot be written
    raises ``OSError`` at once.
    """

    def __init__(
        self,
        coverage: CoverageReport,
        *,
        path: Path | None = None,
        title: str = "campaign",
        charts: Mapping[str, Chart] | None = None,
        live: bool = False,
        interval: float = LIVE_REFRESH,
        clock: Callable[[], float] = time.monotonic,
        on_point: Callable[[TimelinePoint], None] | None = None,
    ) -> None:
        self.coverage = coverage
        self.path = path
        self.title = title
        self.charts: Mapping[str, Chart] = charts or {}
        self.live = live and path is not None
        self.interval = interval
        self._clock = clock
        self._on_point = on_point
        self._started = clock()
        self._next_write = self._started
        self._error: OSError | None = None
        self.timeline: list[TimelinePoint] = []
        self.writes = 0
        if path is not None:  # a page that cannot be written fails now, not after the campaign
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "a folder, not a file", str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        self.sample(examples=0, transitions=0)

    def sample(self, *, examples: int, transitions: int) -> TimelinePoint:
        """Add a point for now; rewrite the live page when it is due."""
        now = self._clock()
        point = TimelinePoint.of(
            self.coverage, examples=examples, seconds=now - self._started, transitions=transitions
        )
        self.timeline.append(point)
        if self._on_point is not None:
            self._on_point(point)
        if self.path is not None and self.live and self._error is None and now >= self._next_write:
            try:
                self.writes += 1
                write_html_report(
                    self.path,
                    title=self.title,
                    charts=self.charts,
                    coverage=self.coverage,
                    timeline=self.timeline,
                    live=True,
                )
            except OSError as exc:
                self._error = exc
            self._next_write = self._clock() + self.interval
        return point

    def finish(
        self,
        *,
        goals: Mapping[str, bool] | None = None,
        failure_message: str | None = None,
        failure_steps: Sequence[str] = (),
        failure_step: int | None = None,
        failure_trace: Trace | None = None,
    ) -> Path | None:
        """Write the final page (no refresh, no banner of a running campaign); ``None`` when
        the recorder has no path. Raises the ``OSError`` of a failed live write, if any."""
        if self.path is None:
            return None
        if self._error is not None:
            raise self._error
        self.writes += 1
        return write_html_report(
            self.path,
            title=self.title,
            charts=self.charts,
            coverage=self.coverage,
            timeline=self.timeline,
            goals=goals,
            failure_message=failure_message,
            failure_steps=failure_steps,
            failure_step=failure_step,
            failure_trace=failure_trace,
        )
