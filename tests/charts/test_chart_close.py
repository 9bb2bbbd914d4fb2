"""A machine that is finished or closed never starts over, and a closed one refuses events."""

from __future__ import annotations

from pathlib import Path

import pytest

from beacon import ChartError
from beacon.charts import action, bind, guard, load_chart

DOOR = Path(__file__).resolve().parents[2] / "statecharts" / "door.yaml"


class CountingDoor:
    def __init__(self) -> None:
        self.calls = 0

    @action("ok", "jammed")
    def try_open(self) -> str:
        self.calls += 1
        return "ok"

    @action("ok", "wrong_key")
    def check_key(self) -> str:
        self.calls += 1
        return "ok"

    @guard
    def has_spare_key(self) -> bool:
        return True


def test_an_event_after_the_final_state_is_refused_without_starting_the_chart_again() -> None:
    door = CountingDoor()
    machine = bind(load_chart(DOOR), [door])
    machine.start()
    machine.send("remove")
    steps = len(machine.trace.steps)
    with pytest.raises(ChartError, match="finished in 'removed'"):
        machine.send("open")
    machine.drain()
    assert len(machine.trace.steps) == steps  # no second initial step
    assert machine.configuration == ("removed",)


def test_a_closed_machine_keeps_its_place_and_refuses_events() -> None:
    door = CountingDoor()
    machine = bind(load_chart(DOOR), [door])
    machine.start()
    machine.send("open")
    machine.close()
    assert set(machine.configuration) == {"in_service", "opened"}
    assert machine.snapshot()["configuration"] == list(machine.configuration)
    with pytest.raises(ChartError, match="closed"):
        machine.send("close")
    assert door.calls == 1


def test_a_closed_machines_instance_serves_the_next_run_from_the_initial_state() -> None:
    chart = load_chart(DOOR)
    first = bind(chart, [CountingDoor()])
    first.start()
    first.send("lock")
    first.close()
    second = bind(chart, [CountingDoor()])
    second.start()
    assert set(second.configuration) == {"in_service", "closed"}
    second.send("open")
    assert "opened" in second.configuration
    assert set(first.configuration) == {"in_service", "locked"}  # the first is unchanged
