"""The campaign's HTML report: one self-contained page, a plot and a diagram per chart, the
goals, the shrunk failure on the charts, a live mode that refreshes, atomic writes."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from beacon.charts import load_chart
from beacon.cli import main
from beacon.cli.explore import _progress_bar, _progressed
from beacon.testing import (
    RULES,
    SYNC_CHARTS,
    CampaignResult,
    ReportRecorder,
    TimelinePoint,
    run_campaign,
    sync_chart_report,
    write_html_report,
)
from tests.model.planted_bugs import PLANTED
from tests.model.test_model_planted_bugs import FOCUS

NAMESPACES = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
}
VOID = {"meta", "input", "br", "hr", "img", "link", "col", "area", "base", "wbr", "source"}


class _Page(HTMLParser):
    """Checks that tags nest, and collects the plots, goals and failure steps."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.plots: dict[str, dict[str, str]] = {}
        self.goal_lines: list[tuple[float, float]] = []
        self.polylines: list[list[tuple[float, float]]] = []
        self.ids: list[str] = []
        self.tags: list[str] = []
        self._cells: list[str] | None = None
        self._in_goals = False
        self.goals: dict[str, str] = {}
        self.steps: list[tuple[str, bool]] = []
        self._step: bool | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, dict(attrs))

    def _open(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tags.append(tag)
        if attrs.get("id"):
            self.ids.append(str(attrs["id"]))
        if tag == "svg" and attrs.get("class") == "plot":
            self.plots[str(attrs["data-chart"])] = {k: str(v) for k, v in attrs.items()}
        if tag == "line" and attrs.get("class") == "goal":
            self.goal_lines.append((float(str(attrs["y1"])), float(str(attrs["y2"]))))
        if tag == "polyline":
            pairs = str(attrs["points"]).split()
            self.polylines.append([(float(a), float(b)) for a, b in (p.split(",") for p in pairs)])
        if tag == "table" and attrs.get("class") == "goals":
            self._in_goals = True
        if tag == "tr" and self._in_goals:
            self._cells = []
        if tag in {"td", "li"}:
            self._text = ""
        if tag == "li":
            self._step = attrs.get("class") == "culprit"

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if tag == "td" and self._cells is not None:
            self._cells.append(self._text)
        if tag == "tr" and self._cells:
            self.goals[self._cells[0]] = self._cells[1]
        if tag == "table":
            self._in_goals = False
        if tag == "li" and self._step is not None:
            self.steps.append((self._text, self._step))
            self._step = None

    def handle_data(self, data: str) -> None:
        self._text += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _section(text: str, ident: str) -> str:
    start = text.index(f'id="{ident}"')
    return text[start : text.index("</section>", start)]


@dataclass
class _Run:
    path: Path
    text: str
    result: CampaignResult


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> _Run:
    path = tmp_path_factory.mktemp("report") / "campaign.html"
    result = run_campaign(examples=3, steps=5, seed=0, report=path)
    assert result.passed
    return _Run(path, path.read_text(encoding="utf-8"), result)


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> _Run:
    path = tmp_path_factory.mktemp("failure") / "campaign.html"
    plant, _ = PLANTED["token_kept_on_401"]
    with pytest.MonkeyPatch.context() as patched:
        plant(patched)
        config = FOCUS["token_kept_on_401"]
        result = run_campaign(
            examples=100, steps=8, seed=config.seed, config=config, shrink_runs=5, report=path
        )
    assert not result.passed
    return _Run(path, path.read_text(encoding="utf-8"), result)


def test_the_report_is_one_file_without_external_resources(passing: _Run) -> None:
    assert [p.name for p in passing.path.parent.iterdir()] == ["campaign.html"]  # no temp file
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", passing.text))
    assert urls <= NAMESPACES, urls - NAMESPACES
    page = _parse(passing.text)
    assert {"script", "link", "img", "iframe", "object"}.isdisjoint(page.tags)
    assert "src=" not in passing.text
    assert "url(" not in passing.text
    assert "@import" not in passing.text


def test_each_chart_has_a_plot_ending_at_the_final_coverage(passing: _Run) -> None:
    result = passing.result
    last = result.timeline[-1]
    assert last.examples == result.examples
    assert last.transitions == result.transitions
    assert dict(last.covered) == {n: result.coverage.taken(n) for n in SYNC_CHARTS}
    assert result.timeline[0].examples == 0
    assert all(v == 0 for v in result.timeline[0].covered.values())

    page = _parse(passing.text)
    assert list(page.plots) == list(SYNC_CHARTS)
    assert len(page.polylines) == len(page.goal_lines) == len(SYNC_CHARTS)
    for name, line, (goal_y, _) in zip(SYNC_CHARTS, page.polylines, page.goal_lines, strict=True):
        plot = page.plots[name]
        total = len(load_chart(name).structure.transitions)
        covered = result.coverage.taken(name)
        assert (int(plot["data-covered"]), int(plot["data-total"])) == (covered, total)
        assert int(plot["data-examples"]) == result.examples
        # The line starts on the x axis (nothing covered) and ends at covered/total of the
        # height between the axis and the dashed goal line, at the right end of the plot.
        (x0, axis_y), (x_end, y_end) = line[0], line[-1]
        assert (axis_y - y_end) / (axis_y - goal_y) == pytest.approx(covered / total, abs=0.01)
        assert x_end == max(x for x, _ in line) > x0
        assert 0 < covered < total
        assert f"{covered}/{total} ({100 * covered / total:.0f}%)" in _section(
            passing.text, f"chart-{name}"
        )


def test_each_chart_is_drawn_with_its_coverage_overlaid(passing: _Run) -> None:
    for name in SYNC_CHARTS:
        section = _section(passing.text, f"chart-{name}")
        assert section.count('class="plot"') == 1
        assert section.count('class="graph"') == 1  # Graphviz's diagram, inlined
        assert f"<title>{name}</title>" in section
        assert "×" in section  # hit counts of the taken edges
        assert "(never)" in section  # and the edges nothing took
        assert "<?xml" not in section
        assert "<!DOCTYPE" not in section


def test_the_goals_are_listed_met_and_missed(passing: _Run) -> None:
    goals = _parse(passing.text).goals
    assert goals["every invariant held"] == "met"
    for name in SYNC_CHARTS:
        assert goals[f"every transition of the {name} chart taken"] == "missed"
    (drawn,) = [g for g in goals if g.startswith("every enabled rule drawn")]
    assert goals[drawn] == "missed"
    # Three short examples leave rules undrawn; the connecting syncs and the closing settle
    # of every example are always drawn.
    never = re.fullmatch(r"every enabled rule drawn at least once \(never: (.*)\)", drawn)
    assert never is not None
    undrawn = never.group(1).split(", ")
    assert set(undrawn) <= set(RULES)
    assert {"sync", "settle"}.isdisjoint(undrawn)
    assert len(undrawn) < len(RULES) - 2
    assert f"1 of {len(goals)} goals met." in passing.text
    assert 'id="failure"' not in passing.text


def test_the_coverage_table_counts_each_chart(passing: _Run) -> None:
    for name in SYNC_CHARTS:
        total = len(load_chart(name).structure.transitions)
        taken = passing.result.coverage.taken(name)
        assert (
            f'<tr><td>{name}</td><td class="n">{taken}</td><td class="n">{total}</td>'
            in passing.text
        )


def test_a_planted_bug_shows_its_shrunk_failure_and_trace_on_the_charts(failing: _Run) -> None:
    found = failing.result.failure
    assert found is not None
    assert found.failure is not None
    page = _parse(failing.text)
    assert page.errors == []
    assert page.stack == []
    assert "failure" in page.ids
    section = _section(failing.text, "failure")
    assert f"[{found.failure.invariant}] at step {found.failure.step + 1}" in section
    assert [text for text, _ in page.steps] == [str(s) for s in found.steps]
    assert [n for n, (_, culprit) in enumerate(page.steps) if culprit] == [found.failure.step]
    # The last run went through the session chart and the token chart nested in it: both are
    # drawn with the run's numbered path; the collection chart only if the run reached it.
    assert "The failing run on the session chart" in section
    assert "The failing run on the token chart" in section
    assert re.search(r"#1\b", section)
    assert _parse(failing.text).goals["every invariant held"] == "missed"
    assert "FAILED" in failing.text


@pytest.mark.parametrize("which", ["passing", "failing"])
def test_the_page_parses_with_balanced_tags(which: str, request: pytest.FixtureRequest) -> None:
    run: _Run = request.getfixturevalue(which)
    page = _parse(run.text)
    assert page.errors == []
    assert page.stack == []
    assert run.text.startswith("<!DOCTYPE html>")


def _write(path: Path, **kwargs: object) -> str:
    charts = {name: load_chart(name) for name in SYNC_CHARTS}
    report = sync_chart_report()
    point = TimelinePoint.of(report, examples=0, seconds=0.0, transitions=0)
    write_html_report(
        path,
        title=str(kwargs.pop("title", "t")),
        charts=charts,
        coverage=report,
        timeline=[point],
        **kwargs,  # type: ignore[arg-type]
    )
    return path.read_text(encoding="utf-8")


def test_data_is_html_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> & <b>'
    text = _write(
        tmp_path / "r.html",
        title=hostile,
        goals={hostile: False},
        failure_message=hostile,
        failure_steps=[hostile],
    )
    assert "<script" not in text
    assert "<b>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in text
    page = _parse(text)
    assert page.errors == []
    assert page.stack == []
    assert page.goals[hostile] == "missed"
    assert page.steps == [(hostile, False)]


def test_the_failure_section_is_there_iff_a_failure_is_given(tmp_path: Path) -> None:
    assert 'id="failure"' not in _write(tmp_path / "a.html")
    assert 'id="failure"' in _write(tmp_path / "b.html", failure_message="boom")
    assert 'id="failure"' in _write(tmp_path / "c.html", failure_steps=["sync(device=0)"])


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_live_page_refreshes_and_is_rewritten_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "live.html"
    clock = _Clock()
    points: list[TimelinePoint] = []
    recorder = ReportRecorder(
        sync_chart_report(), path=path, title="live", live=True, interval=5.0, clock=clock,
        on_point=points.append,
    )  # fmt: skip
    assert recorder.writes == 1  # a page from the start
    first = path.read_text(encoding="utf-8")
    assert '<meta http-equiv="refresh" content="2">' in first
    assert 'class="banner running"' in first
    clock.now = 103.0
    recorder.sample(examples=1, transitions=10)
    assert recorder.writes == 1  # not due yet
    clock.now = 105.0
    recorder.sample(examples=2, transitions=20)
    assert recorder.writes == 2
    assert "running: 2 examples, 20 chart transitions in 5.0 s" in path.read_text("utf-8")
    assert [p.examples for p in points] == [0, 1, 2]
    assert points[-1].rate == 4.0
    recorder.finish(goals={"g": True})
    final = path.read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' not in final
    assert 'class="banner running"' not in final
    assert "finished: 2 examples" in final
    assert recorder.writes == 3
    assert [p.name for p in tmp_path.iterdir()] == ["live.html"]


def test_a_live_campaign_shows_a_running_page_then_a_final_one(tmp_path: Path) -> None:
    path = tmp_path / "live.html"
    seen: list[str] = []
    result = run_campaign(
        examples=2,
        steps=3,
        seed=1,
        report=path,
        live=True,
        on_example=lambda n: seen.append(path.read_text(encoding="utf-8")),
    )
    assert result.examples == len(seen) >= 2
    assert all('http-equiv="refresh"' in page and "banner running" in page for page in seen)
    final = path.read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' not in final
    assert "finished:" in final


def test_a_failed_write_keeps_the_previous_page_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.html"
    before = _write(path, title="before")

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        _write(path, title="after")
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_a_failed_live_write_does_not_stop_the_campaign_but_the_final_write_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    recorder = ReportRecorder(
        sync_chart_report(), path=tmp_path / "r.html", live=True, interval=1.0, clock=clock
    )

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", refuse)
    clock.now += 10
    recorder.sample(examples=1, transitions=1)  # swallowed: the campaign goes on
    monkeypatch.undo()
    clock.now += 10
    recorder.sample(examples=2, transitions=2)
    assert recorder.writes == 2  # no more live writes after the failure
    with pytest.raises(OSError, match="disk full"):
        recorder.finish()


def test_without_a_path_the_recorder_only_keeps_the_timeline() -> None:
    recorder = ReportRecorder(sync_chart_report(), live=True)
    recorder.sample(examples=1, transitions=5)
    assert [p.examples for p in recorder.timeline] == [0, 1]
    assert recorder.finish() is None
    assert recorder.writes == 0


def test_explore_report_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out" / "report.html"
    argv = ["explore", "--examples", "2", "--steps", "3", "--json", "--report", str(path)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["report_file"] == str(path)
    page = _parse(path.read_text(encoding="utf-8"))
    assert list(page.plots) == list(SYNC_CHARTS)
    assert page.errors == []
    assert (
        int(page.plots["session"]["data-covered"]) == out["coverage"]["charts"]["session"]["taken"]
    )

    assert main(["explore", "--examples", "1", "--steps", "2", "--report", str(path)]) == 0
    assert f"report written to {path}" in capsys.readouterr().out


def test_explore_live_needs_a_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", "--live"]) == 2
    assert "--live needs --report FILE" in capsys.readouterr().err


def test_the_progress_bar_shows_examples_rate_and_coverage_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    point = TimelinePoint(
        examples=3,
        seconds=2.0,
        transitions=1000,
        covered={"a": 5, "b": 0},
        totals={"a": 10, "b": 10},
    )
    with _progress_bar(console, 10, show=True) as progress:
        _progressed(progress, point)
        progress.refresh()
    text = out.getvalue()
    assert "3/10" in text
    assert "500 transitions/s" in text
    assert "25% of transitions covered" in text


@pytest.mark.parametrize(("terminal", "show"), [(False, True), (True, False)])
def test_no_progress_bar_off_a_terminal_or_when_not_shown(terminal: bool, show: bool) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal)
    point = TimelinePoint(examples=1, seconds=1.0, transitions=1, covered={}, totals={})
    with _progress_bar(console, 10, show=show) as progress:
        _progressed(progress, point)
        progress.refresh()
    assert out.getvalue() == ""


def test_an_unwritable_report_is_refused_before_the_campaign_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[object] = []
    monkeypatch.setattr("beacon.testing.run_campaign", lambda **kw: ran.append(kw))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["explore", "--report", str(blocker / "r.html")]) == 2
    assert "--report" in capsys.readouterr().err
    assert main(["explore", "--report", str(tmp_path)]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err
    assert ran == []
    with pytest.raises(IsADirectoryError):
        ReportRecorder(sync_chart_report(), path=tmp_path)
    with pytest.raises(FileExistsError):
        ReportRecorder(sync_chart_report(), path=blocker / "r.html")
