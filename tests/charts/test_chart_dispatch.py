"""Reused library instances and direct calls run charts exactly as the plain engine does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from beacon.charts import Trace, _dispatch, action, bind, load_chart
from tests.charts.chart_services import DOOR, GOOD, DoorService, FakeClock, Fetcher


class _Children:
    """The parent chart's service: runs the fetcher chart twice from its action."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    @action("ok", "failed")
    def sync_children(self) -> str:
        for script in (("ok",), ("busy", "ok")):
            bind(load_chart(GOOD / "fetcher.yaml"), [Fetcher(*script)], clock=self.clock).run()
        return "ok"


Run = Callable[[Path], tuple[Trace, dict[str, Any]]]


def _fetcher(*script: str) -> Run:
    def run(tmp: Path) -> tuple[Trace, dict[str, Any]]:
        machine = bind(load_chart(GOOD / "fetcher.yaml"), [Fetcher(*script)], clock=FakeClock())
        machine.run()
        return machine.trace, machine.snapshot()

    return run


def _door(tmp: Path) -> tuple[Trace, dict[str, Any]]:
    machine = bind(load_chart(DOOR), [DoorService(jams=1, keys=("bad", "good"))], clock=FakeClock())
    for event in ("lock", "unlock", "open", "close", "remove"):
        machine.send(event)
    return machine.trace, machine.snapshot()


def _parent(tmp: Path) -> tuple[Trace, dict[str, Any]]:
    clock = FakeClock()
    machine = bind(load_chart(GOOD / "parent.yaml"), [_Children(clock)], clock=clock)
    machine.run()
    return machine.trace, machine.snapshot()


# Eventless transitions, in a state and in its parent, taken only once a counter allows.
GATE = """\
name: gate
datamodel:
  passes: "0"
states:
  inside:
    initial: true
    transitions:
      - {cond: passes >= 2, target: open}
    states:
      knocking:
        initial: true
        enter: knock
        transitions:
          - {event: ok, target: counting}
      counting:
        transitions:
          - cond: passes < 2
            target: knocking
            "on":
              - {assign: {location: passes, expr: passes + 1}}
  open: {final: true, donedata: {content: "{'role': 'success'}"}}
"""


class _Knock:
    @action("ok")
    def knock(self) -> str:
        return "ok"


def _gate(tmp: Path) -> tuple[Trace, dict[str, Any]]:
    path = tmp / "gate.yaml"
    path.write_text(GATE, encoding="utf-8")
    machine = bind(load_chart(path), [_Knock()], clock=FakeClock())
    machine.run()
    return machine.trace, machine.snapshot()


def _history(tmp: Path) -> tuple[Trace, dict[str, Any]]:
    machine = bind(load_chart(GOOD / "history.yaml"), [], clock=FakeClock())
    for event in ("next", "pause", "resume", "finish"):
        machine.send(event)
    return machine.trace, machine.snapshot()


class _Worker:
    @action("fetched", "fetch_failed")
    def fetch(self) -> str:
        return "fetched"

    @action("sent")
    def send(self) -> str:
        return "sent"


def _parallel(tmp: Path) -> tuple[Trace, dict[str, Any]]:
    machine = bind(load_chart(GOOD / "parallel.yaml"), [_Worker()], clock=FakeClock())
    machine.run()
    return machine.trace, machine.snapshot()


SCENARIOS: dict[str, Run] = {
    "retries then gives up": _fetcher("busy", "busy", "busy"),
    "retries then succeeds": _fetcher("busy", "ok"),
    "driven by events, guarded": _door,
    "nested charts": _parent,
    "eventless transitions": _gate,
    "history (not reused; direct calls)": _history,
    "parallel regions (not reused; direct calls)": _parallel,
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_reuse_and_direct_calls_trace_exactly_what_the_plain_engine_does(
    scenario: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = SCENARIOS[scenario]
    monkeypatch.setattr(_dispatch, "REUSE", False)
    plain_trace, plain_snapshot = run(tmp_path)
    monkeypatch.setattr(_dispatch, "REUSE", True)
    # The first run builds the instance, the next ones reuse it (and its direct calls).
    for _ in range(3):
        trace, snapshot = run(tmp_path)
        assert trace.to_json() == plain_trace.to_json()
        assert snapshot == plain_snapshot


def test_the_gate_takes_its_eventless_transitions(tmp_path: Path) -> None:
    for _ in range(2):  # a new instance, then the reused one
        trace, snapshot = _gate(tmp_path)
        assert trace.transitions == [
            "knocking#0",
            "counting#0",
            "knocking#0",
            "counting#0",
            "inside#0",
        ]
        assert snapshot["datamodel"] == {"passes": 2}


SYSTEM_VARIABLES = """\
name: sysvar
datamodel:
  was_ok: "False"
  machine_name: "None"
states:
  a:
    initial: true
    enter: go
    transitions:
      - event: ok
        target: b
        "on":
          - {assign: {location: was_ok, expr: "_event.name == 'ok'"}}
          - {assign: {location: machine_name, expr: _name}}
  b: {final: true, donedata: {content: "{'role': 'success'}"}}
"""


class _Go:
    @action("ok")
    def go(self) -> str:
        return "ok"


def test_a_chart_that_reads_system_variables_still_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "sysvar.yaml"
    path.write_text(SYSTEM_VARIABLES, encoding="utf-8")
    chart = load_chart(path)
    assert _dispatch.needs_system_variables(chart.doc)
    for _ in range(2):  # a new instance, then the reused one
        machine = bind(chart, [_Go()], clock=FakeClock())
        machine.run()
        assert machine.snapshot()["datamodel"] == {"was_ok": True, "machine_name": "sysvar"}


def test_charts_naming_no_system_variable_go_without_them() -> None:
    fetcher = load_chart(GOOD / "fetcher.yaml")
    assert not _dispatch.needs_system_variables(fetcher.doc)
    # A name that merely contains one is not one; an invoke keeps them (the library's invoker
    # passes ``_event`` on).
    assert not _dispatch.needs_system_variables({"enter": ["check_event", "x_name"]})
    assert _dispatch.needs_system_variables({"invoke": [{"src": "child.yaml"}]})


def test_every_beacon_callback_of_an_instance_gets_a_direct_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chart = load_chart(GOOD / "fetcher.yaml")
    # Build it plain (no reused instance, whose callbacks are direct already), then count.
    monkeypatch.setattr(_dispatch, "REUSE", False)
    machine = bind(chart, [Fetcher("ok")], clock=FakeClock())
    machine.start()
    sm, model = machine._sm, machine._model
    assert sm is not None
    listener = next(iter(sm._listeners.values()))
    changed = _dispatch.direct_calls(
        sm, listener=listener, model=model, actions=chart.structure.actions(), keep_prepare=False
    )
    states, transitions = chart.structure.states, chart.structure.transitions
    # Entry and exit of every state, every transition, each action's slot, the preparation.
    assert changed == 2 * len(states) + len(transitions) + 2 + 1
    # And the instance still runs: the outcome queued at the start is handled.
    assert machine.run().final_state == "done"
    assert json.loads(machine.trace.dumps())["steps"][1]["transitions"] == ["fetching#0"]
