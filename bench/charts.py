"""Chart dispatch overhead: a bound beacon chart against bare python-statemachine, per transition.

Both sides run the same YAML document (a three-state cycle whose actions answer ``ok`` and a
guard that ends the run after ``transitions`` steps) with the same driving rule: each action's
outcome is queued and sent as the next external event. The bare side is the least code that
does that with the library alone: ``statemachine.io.load``, a model with a plain method and a
property, and a ``while queue: sm.send(...)`` loop. beacon adds binding by outcome, outcome
validation, the strict settings, a full trace (transitions, states entered/left, guards,
outcomes, clock times) and an observer. Both sides are checked to take the same transitions.
Target: at most 1.5× the bare library's time per transition.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from statemachine.io import load as library_load

from beacon.charts import Step, action, bind, guard, load_chart
from bench._figures import best_of_interleaved, figure

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


def run(*, transitions: int = 3000, rounds: int = 7, quick: bool = False) -> dict[str, Any]:
    """Time ``transitions`` transitions per round on each side, best of ``rounds`` alternated."""
    if quick:
        transitions, rounds = min(transitions, 300), min(rounds, 2)
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
    best = best_of_interleaved(candidates, rounds=rounds)
    per = {name: seconds / taken * 1e6 for name, seconds in best.items()}
    return {
        "params": {"transitions": taken, "rounds": rounds},
        "figures": [
            figure(
                "time per transition",
                per["beacon"],
                "µs",
                baseline=per["bare"],
                baseline_name="bare python-statemachine",
                target=TARGET,
                better="lower",
                note="bound chart with trace and observer vs the same YAML run by the library",
            )
        ],
    }


if __name__ == "__main__":  # pragma: no cover - manual run
    import json

    print(json.dumps(run(), indent=2, ensure_ascii=False))
