"""Model-based exploration speed: chart transitions per second, in-process.

Two figures, measured in the same run:

* **campaign**: the Hypothesis campaign of ``beacon.testing`` (two devices, the embedded
  service in-process, faults, invariants after every step, quiet periods), counting every
  transition of every chart run (session, token and collection charts) per wall second. This
  is the whole stack: Hypothesis, the chart engine, the client, HTTP over the in-process
  transport, SQLite on both sides, crypto and the oracles.
* **path walks**: the deterministic walks generated from ``beacon chart paths`` over the three
  Sync charts with scripted services (no I/O): the chart engine alone, exploring.

Target: at least 2,000 transitions/s for the campaign (issue 6).
"""

from __future__ import annotations

import time
from typing import Any

from beacon.charts import load_chart
from beacon.testing import SYNC_CHARTS, run_campaign, walk_chart
from bench._figures import figure

TARGET = 2000.0


def _walks(rounds: int) -> tuple[int, float]:
    charts = [load_chart(name) for name in SYNC_CHARTS]
    transitions = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for chart in charts:
            result = walk_chart(chart)
            transitions += sum(sum(c.values()) for c in result.coverage.transitions.values())
    return transitions, time.perf_counter() - start


def run(*, quick: bool = False) -> dict[str, Any]:
    """Run both measurements; ``quick`` shrinks them for smoke tests."""
    examples, steps = (5, 8) if quick else (60, 15)
    result = run_campaign(examples=examples, steps=steps, seed=0, shrink=False)
    walked, walk_seconds = _walks(1 if quick else 10)
    walk_rate = walked / walk_seconds if walk_seconds else 0.0
    per_run_ms = 1000 * result.seconds / result.runs if result.runs else 0.0
    return {
        "figures": [
            figure(
                "campaign transitions/s (whole stack, in-process)",
                result.transitions_per_second,
                "transitions/s",
                target=TARGET,
                note=f"{result.examples} examples, {result.runs} sync runs, "
                f"{per_run_ms:.1f} ms per sync run",
            ),
            figure(
                "path-walk transitions/s (chart engine alone)",
                walk_rate,
                "transitions/s",
            ),
        ],
        "campaign": {
            "passed": result.passed,
            "examples": result.examples,
            "steps": result.steps,
            "sync_runs": result.runs,
            "transitions": result.transitions,
            "seconds": round(result.seconds, 3),
            "ms_per_sync_run": round(per_run_ms, 2),
        },
        "walks": {"transitions": walked, "seconds": round(walk_seconds, 3)},
    }
