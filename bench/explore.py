"""Model-based exploration speed: chart transitions per second, in-process.

Two figures, measured in the same run:

* **campaign**: the Hypothesis campaign of ``beacon.testing`` (two devices, the embedded
  service in-process, faults, invariants after every step, quiet periods), counting every
  transition of every chart run (session, token and collection charts) per wall second. This
  is the whole stack: Hypothesis, the chart engine, the client, HTTP over the in-process
  transport, SQLite on both sides, crypto and the oracles.
* **path walks**: :func:`beacon.testing.walk_chart` over the three Sync charts, transitions
  driven per wall second. No I/O (scripted services), but not the engine's stepping speed
  either: each walk enumerates the chart's paths (``beacon chart paths``), and every step of
  a path searches datamodel values and guard answers that enable it (guards parsed and
  evaluated), binds a machine restored from the previous step's snapshot (a new
  python-statemachine instance each time: restored machines are never pooled), sends one
  event and takes a snapshot. The campaign's engine runs reuse their instances; for the
  engine's cost per transition against the bare library see ``bench/charts.py``.
* **--workers 2 speed-up**: the same campaign (same total examples, no shrinking) run as one
  process (what ``beacon explore`` does) and as two shards in worker processes (``beacon
  explore --workers 2``: process start, the shared example database and the merge included),
  wall clock, side by side: each round runs both (alternating which goes first), the figure
  is the median of the rounds' ratios. The fork server the workers start from starts in round
  1 only, as in one ``beacon explore --workers`` run: the note gives that round's ratio too.
  The two shards draw other examples than the one process, so the note gives both sides'
  transitions. On a 2-core machine the ceiling is 2x; other load on the machine (the note
  gives the load average) lowers it.

Target: at least 2,000 transitions/s for the campaign (issue 6).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from typing import Any

from beacon.charts import load_chart
from beacon.testing import SYNC_CHARTS, CampaignShards, run_campaign, run_shards, walk_chart
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


def _workers(*, examples: int, steps: int, rounds: int) -> dict[str, Any]:
    """One process against two workers, pairwise rounds (see the module docstring)."""
    one: list[float] = []
    two: list[float] = []
    ratios: list[float] = []
    one_transitions = two_transitions = 0
    overhead: list[float] = []
    cores: dict[str, list[float]] = {"one": [], "two": []}
    for index in range(rounds):
        times: dict[str, float] = {}
        for side in ("one", "two") if index % 2 == 0 else ("two", "one"):
            gc.collect()
            start = time.perf_counter()
            if side == "one":
                cpu = time.process_time()
                result = run_campaign(examples=examples, steps=steps, seed=0, shrink=False)
                one_transitions = result.transitions
                cpu_seconds = time.process_time() - cpu
            else:
                runner = CampaignShards(examples=examples, steps=steps, shrink=False)
                merged = run_shards(runner, workers=2, base_seed=0)
                two_transitions = merged.total("transitions")
                overhead.append(merged.seconds - max(s.seconds for s in merged.shards))
                cpu_seconds = sum(s.cpu_seconds for s in merged.shards)
            times[side] = time.perf_counter() - start
            cores[side].append(cpu_seconds / times[side])
        one.append(times["one"])
        two.append(times["two"])
        ratios.append(times["one"] / times["two"])
    return {
        "speedup": statistics.median(ratios),
        "one_worker_seconds": round(statistics.median(one), 3),
        "two_workers_seconds": round(statistics.median(two), 3),
        "ratios": [round(r, 3) for r in ratios],
        "one_worker_transitions": one_transitions,
        "two_workers_transitions": two_transitions,
        "process_overhead_seconds": round(statistics.median(overhead), 3),
        # CPU seconds per wall second: how many cores each side actually got.
        "one_worker_cores": round(statistics.median(cores["one"]), 2),
        "two_workers_cores": round(statistics.median(cores["two"]), 2),
        "examples": examples,
        "steps": steps,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    """Run both measurements; ``quick`` shrinks them for smoke tests."""
    examples, steps = (5, 8) if quick else (60, 15)
    result = run_campaign(examples=examples, steps=steps, seed=0, shrink=False)
    walked, walk_seconds = _walks(1 if quick else 10)
    walk_rate = walked / walk_seconds if walk_seconds else 0.0
    workers = _workers(
        examples=4 if quick else 16, steps=4 if quick else 8, rounds=1 if quick else 3
    )
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
                "path-walk transitions/s (walk_chart: path search + one restored machine "
                "per step, no I/O)",
                walk_rate,
                "transitions/s",
                note=f"{walked} transitions over {len(SYNC_CHARTS)} charts x "
                f"{1 if quick else 10} rounds; each step: guard search, bind(restore=snapshot), "
                "a new library instance, send, snapshot",
            ),
            figure(
                "--workers 2 speed-up vs one process (same examples, wall clock)",
                workers["speedup"],
                "x",
                note=f"median of {workers['rounds']} pairwise rounds, {workers['examples']} "
                f"examples x {workers['steps']} steps: one process "
                f"{workers['one_worker_seconds']:.1f}s ({workers['one_worker_transitions']} "
                f"transitions), two workers {workers['two_workers_seconds']:.1f}s "
                f"({workers['two_workers_transitions']} transitions; "
                f"{workers['process_overhead_seconds']:.1f}s of process start and merge); "
                f"round 1, with the fork server's start as in one CLI run: "
                f"{workers['ratios'][0]:.2f}x; "
                f"cores obtained (CPU s per wall s): one process "
                f"{workers['one_worker_cores']:.2f}, two workers "
                f"{workers['two_workers_cores']:.2f}; "
                f"{workers['cpus']} CPUs, load average {workers['load_average_1min']}",
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
        "workers": workers,
    }
