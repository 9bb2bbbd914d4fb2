"""Shared shape of a benchmark figure, and the side-by-side timing helper.

A benchmark module's ``run()`` returns ``{"figures": [figure(...), ...], ...}``; the runner
(``python -m bench``) prints every figure as one row of its table. A figure compares beacon
against a baseline measured in the same run, so the ratio means something on any machine.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any, Literal

Direction = Literal["higher", "lower"]


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_name: str | None = None,
    ratio: float | None = None,
    target: float | None = None,
    better: Direction = "higher",
    note: str | None = None,
) -> dict[str, Any]:
    """One row of the table: a measured value, its baseline, their ratio and the target.

    ``ratio`` defaults to value / baseline. ``target`` bounds the ratio (or the value when there
    is no baseline); ``better`` says which side of it passes.
    """
    if ratio is None and baseline:
        ratio = value / baseline
    met: bool | None = None
    if target is not None:
        checked = ratio if ratio is not None else value
        met = checked >= target if better == "higher" else checked <= target
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "ratio": ratio,
        "target": None
        if target is None
        else (">= " if better == "higher" else "<= ") + f"{target:g}",
        "met": met,
        "note": note,
    }


def best_of_interleaved(
    candidates: dict[str, Callable[[], object]], *, rounds: int
) -> dict[str, float]:
    """Best wall time (seconds) of each candidate over ``rounds``, run alternately.

    Alternating the candidates round by round exposes them to the same machine load (other
    processes, frequency scaling), so their ratio is fair even when the absolute times drift.
    """
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(rounds):
        for name, fn in candidates.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            best[name] = min(best[name], elapsed)
    return best


def pairwise_rounds(
    candidates: dict[str, Callable[[], object]], *, rounds: int
) -> dict[str, list[float]]:
    """Wall times (seconds) of each candidate in every round, run alternately within a round.

    Pair the lists index by index (:func:`median_ratio`): both sides of one round met the same
    machine load, which a ratio of two separate best-of-N minima does not guarantee.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the per-round ratios ``numerators[i] / denominators[i]``."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError("pairwise ratios need two non-empty lists of the same length")
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))
