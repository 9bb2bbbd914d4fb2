"""A trace counts each transition taken once: entering a compound state's default child, the
library hands the entering transition to its listeners a second time, which is not a firing."""

from __future__ import annotations

from pathlib import Path

from beacon.charts import bind, load_chart

CHART = """
name: counts
datamodel:
  n: "0"
states:
  a:
    initial: true
    transitions:
      - {event: go, target: b}
  b:
    transitions:
      - cond: n < 3
        target: b
        on:
          - {assign: {location: n, expr: n + 1}}
      - {cond: n >= 3, target: done}
    states:
      inner:
        states:
          leaf: {initial: true}
  done:
    final: true
    donedata: {content: "{'role': 'success'}"}
"""


def test_a_transition_into_nested_compound_states_is_counted_once_and_loops_each_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "counts.yaml"
    path.write_text(CHART)
    machine = bind(load_chart(path), [])
    machine.start()
    machine.send("go")
    (step,) = [s for s in machine.trace.steps if s.event == "go"]
    # a -> b once, the eventless loop into b three times (each exits b), then out.
    assert step.transitions == ["a#0", "b#0", "b#0", "b#0", "b#1"]
    assert machine.final_state == "done"
