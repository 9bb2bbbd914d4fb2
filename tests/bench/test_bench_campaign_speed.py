"""The campaign-speed benchmark runs both engines and refuses a reuse that changes the campaign
(nothing here is timed)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_a_tiny_round_runs_the_campaign_with_and_without_reuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    bench = importlib.import_module("bench.campaign_speed")
    result = bench.run(examples=2, steps=3, rounds=1)
    (fig,) = result["figures"]
    assert fig["baseline_name"] == "BEACON_CHART_REUSE=0"
    assert fig["value"] > 0
    assert fig["baseline"] > 0
    assert fig["ratio"] > 0
    assert fig["target"] == ">= 3"
    (pair,) = result["rounds"]
    assert pair["before"] > 0
    assert pair["after"] > 0
