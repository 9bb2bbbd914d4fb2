"""Chart engine costs against python-statemachine alone: per transition, and per load.

**Time per transition**: a bound beacon chart against bare python-statemachine.

Both sides run the same YAML document (a three-state cycle whose actions answer ``ok`` and a
guard that ends the run after ``transitions`` steps) with the same driving rule: each action's
outcome is queued and sent as the next external event. The bare side is the least code that
does that with the library alone: ``statemachine.io.load``, a model with a plain method and a
property, and a ``while queue: sm.send(...)`` loop. beacon adds binding by outcome, outcome
validation, the strict settings, a full trace (transitions, states entered/left, guards,
outcomes, clock times) and an observer. Both sides are checked to take the same transitions.
Target: at most 1.5× the bare library's time per transition.

**load_chart**, the session chart (the largest packaged one), against the library's own
``statemachine.io.load`` of the same file (YAML parse and class build):

* *cold*: no chart cache (``BEACON_CACHE_DIR=off``): beacon reads the YAML, validates it
  against the library's schema, runs every load-time check and builds the class.
* *warm*: from beacon's cache directory, as a new process finds it (the per-process memo is
  emptied before each load): the checked mapping read from JSON, the class built from it, no
  YAML and no checks.

Every figure pairs its rounds (the two sides alternate within a round), the ratio the median
of the per-round ratios.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from statemachine.io import load as library_load

from beacon.charts import Step, action, bind, chart_path, guard, load_chart
from beacon.charts import _load as chart_loading
from bench._figures import figure, median_ratio, pairwise_rounds

TARGET = 1.5

CHART = """\
name: bench_cycle
states:
  a:
    initial: true
    enter: step
    transitions:
      - {event: ok, cond: more, target: b}
      - {event: ok, unless: more, target: end}
  b:
    enter: step
    transitions:
      - {event: ok, target: c}
  c:
    enter: step
    transitions:
      - {event: ok, target: a}
  end: {final: true, donedata: {content: "{'role': 'success'}"}}
"""


class CycleService:
    """beacon's side: an action answering ``ok`` and a guard counting the remaining steps."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    @action("ok")
    def step(self) -> str:
        self.left -= 1
        return "ok"

    @guard
    def more(self) -> bool:
        return self.left > 0


class BareModel:
    """The bare side: the same behaviour as a plain model for python-statemachine."""

    def __init__(self, steps: int) -> None:
        self.left = steps
        self.queue: deque[str] = deque()

    def step(self) -> None:
        self.left -= 1
        self.queue.append("ok")

    @property
    def more(self) -> bool:
        return self.left > 0


@contextmanager
def _cache_dir(value: str) -> Iterator[None]:
    """``BEACON_CACHE_DIR`` set to ``value`` inside the block (load_chart reads it per load)."""
    found = os.environ.get("BEACON_CACHE_DIR")
    os.environ["BEACON_CACHE_DIR"] = value
    try:
        yield
    finally:
        if found is None:
            del os.environ["BEACON_CACHE_DIR"]
        else:
            os.environ["BEACON_CACHE_DIR"] = found


def _load_figures(*, loads: int, rounds: int) -> list[dict[str, Any]]:
    """Cold and warm ``load_chart`` of the session chart vs the library's load, per load."""
    path = chart_path("session")

    def beacon_load() -> None:
        for _ in range(loads):
            chart_loading._LOADED.clear()  # the per-process memo: every load reads the file
            load_chart(path)

    def bare_load() -> None:
        for _ in range(loads):
            library_load(path)

    figures = []
    with tempfile.TemporaryDirectory() as cache:
        for kind, where in (("cold", "off"), ("warm", cache)):
            with _cache_dir(where):
                beacon_load()  # imports, and for warm the cache entry
                times = pairwise_rounds({"beacon": beacon_load, "bare": bare_load}, rounds=rounds)
            ours = statistics.median(times["beacon"]) / loads * 1e3
            theirs = statistics.median(times["bare"]) / loads * 1e3
            what = (
                "YAML parse, schema validation, every load-time check, class build"
                if kind == "cold"
                else "from beacon's cache directory: JSON read, class build (no YAML, no checks)"
            )
            figures.append(
                figure(
                    f"load_chart, {kind} (session chart)",
                    ours,
                    "ms",
                    baseline=theirs,
                    baseline_name="statemachine.io.load",
                    ratio=median_ratio(times["beacon"], times["bare"]),
                    better="lower",
                    note=f"{what}; median of {rounds} pairwise rounds of {loads} loads each",
                )
            )
    return figures


def run(
    *, transitions: int = 3000, rounds: int = 7, loads: int = 10, quick: bool = False
) -> dict[str, Any]:
    """Time ``transitions`` transitions per round on each side, ``rounds`` pairwise rounds;
    then ``loads`` loads per round of each load figure."""
    if quick:
        transitions, rounds, loads = min(transitions, 300), min(rounds, 2), min(loads, 2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_cycle.yaml"
        path.write_text(CHART, encoding="utf-8")
        chart = load_chart(path)
        bare_class = library_load(path)

    seen: list[int] = []

    def observer(step: Step) -> None:
        seen.append(step.n)

    def beacon_run() -> list[str]:
        machine = bind(chart, [CycleService(transitions)], clock=lambda: 0.0)
        machine.add_observer(observer)
        result = machine.run(max_steps=transitions * 2)
        return [t.split("#")[0] for t in result.trace.transitions]

    def bare_run() -> list[str]:
        model = BareModel(transitions)
        taken: list[str] = []
        sm = bare_class(model=model)
        while model.queue:
            before = next(iter(sm.configuration_values))
            sm.send(model.queue.popleft())
            taken.append(str(before))
        return taken

    # Same work on both sides: the same number of transitions from the same states.
    ours, theirs = beacon_run(), bare_run()
    if ours != theirs:
        raise AssertionError("beacon and the bare library took different transitions")
    taken = len(ours)

    candidates: dict[str, Callable[[], object]] = {"beacon": beacon_run, "bare": bare_run}
    times = pairwise_rounds(candidates, rounds=rounds)
    per = {name: statistics.median(t) / taken * 1e6 for name, t in times.items()}
    return {
        "params": {"transitions": taken, "rounds": rounds, "loads": loads},
        "figures": [
            figure(
                "time per transition",
                per["beacon"],
                "µs",
                baseline=per["bare"],
                baseline_name="bare python-statemachine",
                ratio=median_ratio(times["beacon"], times["bare"]),
                target=TARGET,
                better="lower",
                note="bound chart with trace and observer vs the same YAML run by the library; "
                f"median of {rounds} pairwise rounds",
            ),
            *_load_figures(loads=loads, rounds=rounds),
        ],
    }


if __name__ == "__main__":  # pragma: no cover - manual run
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
