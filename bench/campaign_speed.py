"""Campaign speed with the chart engine's reuse against without it, side by side.

The figure ``beacon explore`` reports as transitions/s: :func:`beacon.testing.run_campaign`
(two devices, the embedded service in-process, faults, invariants after every step), each
campaign in a fresh process after a one-example warm-up (chart loading costs both sides the
same). *Before* runs with ``BEACON_CHART_REUSE=0``: every run of a chart builds its
python-statemachine instance (and callback registry), service marks are looked up with
``inspect`` at every bind, the library calls beacon's callbacks through its signature
adapters, prepares SCXML system variables for every state entered and searches for eventless
transitions before and after every event: the engine as it was when issues 12 and 16
measured 1,381 transitions/s. *After* is the engine as it is. The rounds alternate the two
(which one goes first too), so both see the same machine load. The figure is transitions per
CPU second (one core), the ratio the median of the per-round ratios. Both sides must take
exactly the same transitions (same seed, same examples), or the bench fails: reuse must not
change behaviour.

Target: at least 3x (issue 16 item 6, issue 12 item 6).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._figures import figure

TARGET = 3.0

_ROOT = Path(__file__).resolve().parent.parent

# A one-example campaign first loads the charts and fills the process's caches (the same on
# both sides), so the figure is the campaign's steady speed, as over ``beacon explore``'s
# default 60 examples, not the cost of starting a process. The rate is per second of the
# process's CPU time (the campaign runs on one thread): on a shared machine the wall clock
# also counts the time other processes hold the core, which swings from one run to the next.
_CHILD = """\
import json, sys, time
from beacon.testing import run_campaign
examples, steps = int(sys.argv[1]), int(sys.argv[2])
run_campaign(examples=1, steps=2, seed=1, shrink=False)
cpu = time.process_time()
r = run_campaign(examples=examples, steps=steps, seed=0, shrink=False)
cpu = time.process_time() - cpu
print(json.dumps({"passed": r.passed, "transitions": r.transitions, "runs": r.runs,
                  "seconds": r.seconds, "wall_rate": r.transitions_per_second,
                  "rate": r.transitions / cpu}))
"""


def _campaign(*, reuse: bool, examples: int, steps: int) -> dict[str, Any]:
    env = dict(os.environ, BEACON_CHART_REUSE="1" if reuse else "0")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(examples), str(steps)],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(
    *, quick: bool = False, rounds: int = 3, examples: int = 20, steps: int = 20
) -> dict[str, Any]:
    """``rounds`` pairwise rounds of an ``examples`` x ``steps`` campaign (``quick``: one
    round of 5x8)."""
    if quick:
        rounds, examples, steps = 1, 5, 8
    before: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    for n in range(rounds):
        order = (False, True) if n % 2 == 0 else (True, False)
        for reuse in order:
            outcome = _campaign(reuse=reuse, examples=examples, steps=steps)
            (after if reuse else before).append(outcome)
    for old, new in zip(before, after, strict=True):
        if (old["transitions"], old["runs"], old["passed"]) != (
            new["transitions"],
            new["runs"],
            new["passed"],
        ):
            raise AssertionError(f"reuse changed the campaign: {old} vs {new}")
    ratios = [new["rate"] / old["rate"] for old, new in zip(before, after, strict=True)]
    rate_before = statistics.median(o["rate"] for o in before)
    rate_after = statistics.median(o["rate"] for o in after)
    return {
        "params": {"examples": examples, "steps": steps, "rounds": rounds},
        "figures": [
            figure(
                "campaign transitions per CPU second (engine reuse vs none)",
                rate_after,
                "transitions/s",
                baseline=rate_before,
                baseline_name="BEACON_CHART_REUSE=0",
                ratio=statistics.median(ratios),
                target=TARGET,
                note=f"median of {rounds} pairwise rounds, {examples}x{steps} campaign, "
                f"{before[0]['transitions']} transitions each, one warmed-up process per campaign",
            )
        ],
        "rounds": [
            {
                "before": round(old["rate"], 1),
                "after": round(new["rate"], 1),
                "before_wall": round(old["wall_rate"], 1),
                "after_wall": round(new["wall_rate"], 1),
            }
            for old, new in zip(before, after, strict=True)
        ],
    }


if __name__ == "__main__":  # pragma: no cover - manual run
    print(json.dumps(run(), indent=2))
