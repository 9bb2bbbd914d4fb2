"""The one way benchmarks pair their rounds: per-round ratios, then their median."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module("bench._figures")


def test_median_ratio_pairs_rounds_index_by_index(figures: object) -> None:
    median_ratio = figures.median_ratio  # type: ignore[attr-defined]
    # best-of minima would give 1/4; the rounds say the numerator costs twice its baseline
    assert median_ratio([2.0, 4.0, 8.0], [1.0, 2.0, 4.0]) == 2.0
    assert median_ratio([3.0, 1.0, 10.0], [1.0, 1.0, 1.0]) == 3.0


@pytest.mark.parametrize(("num", "den"), [([], []), ([1.0], [1.0, 2.0])])
def test_median_ratio_refuses_unpaired_lists(
    figures: object, num: list[float], den: list[float]
) -> None:
    with pytest.raises(ValueError, match="same length"):
        figures.median_ratio(num, den)  # type: ignore[attr-defined]


def test_pairwise_rounds_runs_every_candidate_once_per_round_in_turn(figures: object) -> None:
    calls: list[str] = []
    times = figures.pairwise_rounds(  # type: ignore[attr-defined]
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3
    )
    assert calls == ["a", "b"] * 3
    assert [len(times["a"]), len(times["b"])] == [3, 3]
    assert all(t >= 0 for t in times["a"] + times["b"])
