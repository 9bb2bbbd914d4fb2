"""The campaign-speed benchmark runs today's code, the issue-time code and the switch, and
refuses a reuse that changes the campaign (nothing here is timed)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_a_tiny_round_runs_the_campaign_on_every_side(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    bench = importlib.import_module("bench.campaign_speed")
    result = bench.run(examples=2, steps=3, rounds=1)
    issue, switch = result["figures"]
    assert issue["baseline_name"] == f"beacon at {bench.ISSUE_COMMIT[:7]}"
    assert issue["target"] == ">= 3"
    assert switch["baseline_name"] == "BEACON_CHART_REUSE=0"
    for fig in (issue, switch):
        assert fig["value"] > 0
        assert fig["baseline"] > 0
        assert fig["ratio"] > 0
    (pair,) = result["rounds"]
    assert pair["today"] > 0
    assert pair["issue"] > 0
    assert pair["switch_off"] > 0


def test_without_the_git_history_the_issue_time_figure_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    bench = importlib.import_module("bench.campaign_speed")
    result = bench.run(examples=1, steps=2, rounds=1, commit="0" * 40)
    issue, switch = result["figures"]
    assert issue["value"] is None
    assert issue["note"].startswith("skipped: git archive 000000000000 failed")
    assert result["issue_code"]["skipped"] == issue["note"].removeprefix("skipped: ")
    assert switch["value"] > 0
