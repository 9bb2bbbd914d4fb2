"""Campaign speed of today's code against the code as it was when the issue was filed.

The figure ``beacon explore`` reports as transitions/s: :func:`beacon.testing.run_campaign`
(two devices, the embedded service in-process, faults, invariants after every step), each
campaign in a fresh process after a warm-up (a one-example campaign loads the charts and fills
the caches, and Hypothesis reads the constants of every loaded module, once per process).
The rate is per second of the process's CPU time (the campaign runs on one thread): on a
shared machine the wall clock also counts the time other processes hold the core.

Three sides, the same campaign (seed, examples, steps), one process each, rounds alternating
which goes first, every ratio the median of the per-round ratios:

* *today*: this checkout's ``beacon``.
* *issue time*: ``beacon`` and ``statecharts`` of :data:`ISSUE_COMMIT`, the commit before the
  chart engine's reuse work (the next one, "Chart engine reuses library instances", began it),
  when every chart run built its python-statemachine instance. They are extracted with ``git
  archive`` into a temporary directory and imported from there with the same interpreter and
  packages. Without the git history (an unpacked release, a shallow clone) this figure is
  skipped, with the reason. That code counted a transition into a compound state twice
  (today once), so both rates are given in today's count of the same campaign: the sides must
  agree on its sync runs and verdict, and the ratio is then issue-time CPU over today's.
* *switch off*: today's code with ``BEACON_CHART_REUSE=0`` (no instance reuse, no mark cache,
  the library's signature adapters, system variables and eventless search), which must take
  exactly the same transitions. Speed-ups in code both sides share do not show in it. It runs
  in the first round only by default (a switched-off campaign costs as much as an issue-time
  one, and the bench stays near a minute).

Target: at least 3x against the issue-time code (issue 12 item 6, issue 16 item 6).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bench._figures import figure

TARGET = 3.0

#: The commit before the reuse work began (``git log -- beacon/charts``: its child is
#: 0137b8e, "Chart engine reuses library instances").
ISSUE_COMMIT = "8f36c823105f186dbc1a8b8ef530835217c5e79b"

#: The campaign's seed: one whose 20x20 campaign passes on both codes (seed 0 meets, at the
#: issue-time code, a client bug fixed since, which ends its campaign early).
SEED = 3

_ROOT = Path(__file__).resolve().parent.parent

# The warm-up: a one-example campaign, then Hypothesis's scan of the loaded modules for
# constants (it scans them at the first draw that asks, which the tiny warm-up may not make).
_CHILD = """\
import json, sys, time
from beacon.testing import run_campaign
examples, steps, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run_campaign(examples=1, steps=2, seed=1, shrink=False)
try:
    from hypothesis.internal.conjecture.providers import _get_local_constants
    _get_local_constants()
except Exception:
    pass
cpu = time.process_time()
r = run_campaign(examples=examples, steps=steps, seed=seed, shrink=False)
cpu = time.process_time() - cpu
import beacon
print(json.dumps({"passed": r.passed, "transitions": r.transitions, "runs": r.runs,
                  "cpu": cpu, "wall": r.seconds, "beacon": beacon.__file__}))
"""

Side = str  # "today", "issue", "switch_off"


def _campaign(
    side: Side, *, examples: int, steps: int, seed: int, old_tree: Path | None
) -> dict[str, Any]:
    env = dict(os.environ, BEACON_CHART_REUSE="0" if side == "switch_off" else "1")
    cwd = _ROOT
    if side == "issue":
        assert old_tree is not None
        # ``python -c`` puts the working directory first on sys.path: run from the old tree.
        env["PYTHONPATH"] = str(old_tree)
        cwd = old_tree
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(examples), str(steps), str(seed)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {side} campaign failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    expected = old_tree if side == "issue" and old_tree is not None else _ROOT
    if not Path(result["beacon"]).resolve().is_relative_to(expected.resolve()):
        raise RuntimeError(f"the {side} campaign imported {result['beacon']}, not {expected}")
    return result


def extract_issue_code(dest: Path, commit: str = ISSUE_COMMIT) -> str | None:
    """Write ``beacon`` and ``statecharts`` of ``commit`` under ``dest``; the reason when the
    git history cannot give them (``None`` on success)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(_ROOT), "archive", "--format=tar", commit, "beacon", "statecharts"],
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        return f"git is not available ({exc.strerror or exc})"
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip().splitlines()
        return f"git archive {commit[:12]} failed: {stderr[-1] if stderr else done.returncode}"
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        try:
            archive.extractall(dest, filter="data")
        except TypeError:  # Python before 3.11.4: no filters (our own history, trusted)
            archive.extractall(dest)
    return None


def _rate_rows(sides: dict[Side, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for n in range(len(sides["today"])):
        row: dict[str, Any] = {}
        for side, results in sides.items():
            if n >= len(results):
                continue
            r = results[n]
            row[side] = round(r["transitions"] / r["cpu"], 1)
            row[f"{side}_wall"] = round(r["transitions"] / r["wall"], 1) if r["wall"] else 0.0
        rows.append(row)
    return rows


def run(
    *,
    quick: bool = False,
    rounds: int = 3,
    switch_rounds: int = 1,
    examples: int = 20,
    steps: int = 20,
    seed: int = SEED,
    commit: str = ISSUE_COMMIT,
) -> dict[str, Any]:
    """``rounds`` rounds of an ``examples`` x ``steps`` campaign on today's and the issue-time
    code, the switched-off side in the first ``switch_rounds`` of them (``quick``: one round
    of 5x8)."""
    if quick:
        rounds, examples, steps = 1, 5, 8
    switch_rounds = max(1, min(switch_rounds, rounds))
    with tempfile.TemporaryDirectory(prefix="beacon-issue-code-") as tmp:
        old_tree = Path(tmp)
        skipped = extract_issue_code(old_tree, commit)
        every: list[Side] = ["today", "switch_off"] + ([] if skipped else ["issue"])
        sides: dict[Side, list[dict[str, Any]]] = {side: [] for side in every}
        for n in range(rounds):
            order = every if n < switch_rounds else [s for s in every if s != "switch_off"]
            shift = n % len(order)
            for side in order[shift:] + order[:shift]:
                sides[side].append(
                    _campaign(side, examples=examples, steps=steps, seed=seed, old_tree=old_tree)
                )
    today, off = sides["today"], sides["switch_off"]
    for new, old in zip(today, off, strict=False):
        if (old["transitions"], old["runs"], old["passed"]) != (
            new["transitions"],
            new["runs"],
            new["passed"],
        ):
            raise AssertionError(f"reuse changed the campaign: {old} vs {new}")
    transitions = today[0]["transitions"]
    rate = statistics.median(t["transitions"] / t["cpu"] for t in today)
    shape = f"{examples}x{steps} campaign (seed {seed}), {transitions} transitions"
    figures = []
    if skipped:
        issue_note = f"skipped: {skipped}"
        figures.append(
            {
                "name": "campaign transitions per CPU second vs the issue-time code",
                "value": None,
                "unit": "transitions/s",
                "baseline": None,
                "baseline_name": f"beacon at {commit[:7]}",
                "ratio": None,
                "target": f">= {TARGET:g}",
                "met": None,
                "note": issue_note,
            }
        )
    else:
        issue = sides["issue"]
        same = all(
            (o["runs"], o["passed"]) == (t["runs"], t["passed"])
            for o, t in zip(issue, today, strict=True)
        )
        if same:
            # The same campaign's work in today's count: the ratio of the CPU times.
            ratios = [o["cpu"] / t["cpu"] for o, t in zip(issue, today, strict=True)]
            baseline = statistics.median(transitions / o["cpu"] for o in issue)
            how = f"same campaign ({today[0]['runs']} sync runs, passed={today[0]['passed']})"
            if issue[0]["transitions"] != transitions:
                how += (
                    f"; that code counted {issue[0]['transitions']} transitions (a compound "
                    "state's entry twice), rates in today's count"
                )
        else:
            ratios = [
                (t["transitions"] / t["cpu"]) / (o["transitions"] / o["cpu"])
                for o, t in zip(issue, today, strict=True)
            ]
            baseline = statistics.median(o["transitions"] / o["cpu"] for o in issue)
            how = (
                f"the campaigns differ (sync runs {issue[0]['runs']} vs {today[0]['runs']}, "
                f"passed {issue[0]['passed']} vs {today[0]['passed']}): transitions per CPU "
                f"second, each in its own count"
            )
        figures.append(
            figure(
                "campaign transitions per CPU second vs the issue-time code",
                rate,
                "transitions/s",
                baseline=baseline,
                baseline_name=f"beacon at {commit[:7]}",
                ratio=statistics.median(ratios),
                target=TARGET,
                note=f"median of {rounds} pairwise rounds, {shape}; {how}; "
                "one warmed-up process per campaign",
            )
        )
    figures.append(
        figure(
            "campaign transitions per CPU second, BEACON_CHART_REUSE=1 vs 0 (today's code)",
            rate,
            "transitions/s",
            baseline=statistics.median(o["transitions"] / o["cpu"] for o in off),
            baseline_name="BEACON_CHART_REUSE=0",
            ratio=statistics.median(
                (t["transitions"] / t["cpu"]) / (o["transitions"] / o["cpu"])
                for o, t in zip(off, today, strict=False)
            ),
            note=f"median of {switch_rounds} pairwise round(s), {shape} on both sides; the switch "
            "turns off instance reuse, the mark cache and direct calls only: shared speed-ups "
            "count on both sides",
        )
    )
    return {
        "params": {
            "examples": examples,
            "steps": steps,
            "rounds": rounds,
            "switch_rounds": switch_rounds,
            "seed": seed,
            "issue_commit": commit,
        },
        "figures": figures,
        "rounds": _rate_rows(sides),
        "issue_code": {"skipped": skipped} if skipped else {"commit": commit},
    }


if __name__ == "__main__":  # pragma: no cover - manual run
    print(json.dumps(run(), indent=2))
