"""Snapshots: a machine saved between steps carries on in a fresh binding."""

from __future__ import annotations

import json

import pytest

from beacon import ChartError
from beacon.charts import Chart, Step, bind, load_chart
from tests.charts.chart_services import GOOD, DoorService, FakeClock, Fetcher


def test_a_restored_machine_handles_the_queued_outcome_without_rerunning_actions(
    fetcher_chart: Chart, clock: FakeClock
) -> None:
    saved: list[str] = []

    def save_then_crash(step: Step) -> None:
        saved.append(json.dumps(machine.snapshot()))
        if step.n == 1:
            raise SystemExit("crash")

    first = Fetcher("busy")
    machine = bind(fetcher_chart, [first], clock=clock)
    machine.add_observer(save_then_crash)
    with pytest.raises(SystemExit):
        machine.run()

    second = Fetcher("ok")
    snap = json.loads(saved[-1])
    resumed = bind(fetcher_chart, [second], clock=clock, restore=snap)
    result = resumed.run()

    assert snap["configuration"] == ["waiting"]
    assert snap["pending"] == ["ok"]
    assert first.calls == ["fetch", "wait"]
    assert second.calls == ["fetch"]
    assert result.final_state == "done"
    assert resumed.snapshot()["datamodel"] == {"tries": 1}
    assert resumed.trace.restored_at == 2
    assert [s.n for s in resumed.trace.steps] == [2, 3]


def test_a_snapshot_keeps_nested_configuration_and_datamodel(door_chart: Chart) -> None:
    machine = bind(door_chart, [DoorService(jams=1)])
    machine.send("open")
    snap = json.loads(json.dumps(machine.snapshot()))

    resumed = bind(door_chart, [DoorService()], restore=snap)
    resumed.send("close")

    assert snap["configuration"] == ["in_service", "opened"]
    assert snap["datamodel"] == {"retries": 1}
    assert resumed.configuration == ("in_service", "closed")


def test_a_snapshot_of_another_chart_is_refused(door_chart: Chart, fetcher_chart: Chart) -> None:
    machine = bind(fetcher_chart, [Fetcher("ok")])
    machine.run()

    with pytest.raises(ChartError, match="not a snapshot of chart 'door'"):
        bind(door_chart, [DoorService()], restore=machine.snapshot())


def test_a_snapshot_naming_unknown_states_is_refused(door_chart: Chart) -> None:
    snap = bind(door_chart, [DoorService()]).snapshot()
    snap["configuration"] = ["in_service", "ajar"]

    with pytest.raises(ChartError, match=r"unknown states \['ajar'\]"):
        bind(door_chart, [DoorService()], restore=snap)


def test_history_memory_survives_a_snapshot() -> None:
    chart = load_chart(GOOD / "history.yaml")
    machine = bind(chart, [])
    machine.send("next")
    machine.send("pause")
    snap = json.loads(json.dumps(machine.snapshot()))

    resumed = bind(chart, [], restore=snap)
    resumed.send("resume")

    assert snap["history"] == {"resume_point": ["second"]}
    assert resumed.configuration == ("working", "second")
