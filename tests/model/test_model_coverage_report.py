"""The coverage table: counts from nested traces, untaken transitions by name, the file."""

from __future__ import annotations

from pathlib import Path

from beacon.charts import Coverage
from beacon.charts._trace import ActionRecord, Trace
from beacon.charts._trace import Step as TraceStep
from beacon.testing import SYNC_CHARTS, format_table, sync_chart_report


def _token_run() -> Trace:
    return Trace(
        chart="token",
        steps=[
            TraceStep(
                n=0,
                time=0.0,
                event=None,
                entered=["no_token"],
                actions=[ActionRecord("recall_token", "no_token", "fresh")],
                configuration=["no_token"],
            ),
            TraceStep(
                n=1, time=0.0, event="fresh", transitions=["no_token#0"], configuration=["ok"]
            ),
        ],
        status="final",
        final_state="ok",
    )


def _session_run() -> Trace:
    return Trace(
        chart="session",
        steps=[
            TraceStep(
                n=0,
                time=0.0,
                event=None,
                actions=[ActionRecord("obtain_token", "assigning", "ok", children=[_token_run()])],
                configuration=["assigning"],
            ),
            TraceStep(n=1, time=0.0, event="ok", transitions=["married#0", "ghost#3"]),
        ],
    )


def test_counts_nested_runs_and_names_what_was_never_taken(tmp_path: Path) -> None:
    report = sync_chart_report()
    assert tuple(report.charts) == SYNC_CHARTS
    report.add_trace(_session_run())
    report.add_trace(_session_run())
    assert report.transitions["token"]["no_token#0"] == 2
    assert report.transitions["session"]["married#0"] == 2
    assert report.unknown["session"]["ghost#3"] == 2
    assert report.outcomes["token"][("no_token", "recall_token", "fresh")] == 2
    assert report.taken("token") == 1
    untaken = report.untaken()
    token_total = len(report.charts["token"].transitions)
    assert len(untaken["token"]) == token_total - 1
    assert all("-->" in label for label in untaken["token"])
    summary = report.to_json()
    assert summary["charts"]["token"]["taken"] == 1
    assert summary["charts"]["token"]["total"] == token_total
    text = format_table(report)
    assert f"token: 1/{token_total} transitions taken" in text
    assert "never taken:" in text
    assert "ghost#3 fired 2x but the chart does not declare it" in text

    path = tmp_path / "coverage.json"
    report.to_coverage().save(path)
    loaded = Coverage.load(path)
    assert loaded.count("token", "no_token#0") == 2
    assert loaded.runs["session"] == 2


def test_merge_adds_counts() -> None:
    a = sync_chart_report()
    b = sync_chart_report()
    a.add_trace(_token_run())
    b.add_trace(_token_run())
    a.merge(b)
    assert a.transitions["token"]["no_token#0"] == 2
    assert a.runs == 2
