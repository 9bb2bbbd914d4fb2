"""A reused library instance keeps its engine, emptied, and runs as a new one would."""

from __future__ import annotations

from typing import Any

import pytest

from beacon.charts import _dispatch, action, bind, load_chart
from tests.charts.chart_services import DOOR, GOOD, DoorService, FakeClock, Fetcher


def _library_instance(machine: Any) -> Any:
    sm = machine._sm if machine._sm is not None else machine._pooled_sm
    assert sm is not None
    return sm


def test_runs_of_a_chart_share_one_engine_and_trace_as_a_fresh_instance_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chart = load_chart(GOOD / "fetcher.yaml")
    monkeypatch.setattr(_dispatch, "REUSE", False)
    plain = bind(chart, [Fetcher("busy", "ok")], clock=FakeClock())
    plain.run()
    monkeypatch.setattr(_dispatch, "REUSE", True)
    engines = []
    for _ in range(3):
        machine = bind(chart, [Fetcher("busy", "ok")], clock=FakeClock())
        machine.start()
        engines.append(_library_instance(machine)._engine)
        machine.run()
        assert machine.trace.to_json() == plain.trace.to_json()
    # The second and third runs reused the first run's instance and its engine.
    assert engines[1] is engines[2]


class _CrashingDoor(DoorService):
    """Its first attempt to open raises in the middle of the library's step (a crash)."""

    def __init__(self) -> None:
        super().__init__()
        self.crashes = 1

    @action("ok", "jammed")
    def try_open(self) -> str:
        if self.crashes:
            self.crashes = 0
            raise RuntimeError("the process died here")
        return super().try_open()


def _door_run() -> dict[str, Any]:
    machine = bind(load_chart(DOOR), [DoorService(jams=1)], clock=FakeClock())
    for event in ("open", "close", "lock"):
        machine.send(event)
    machine.close()
    return machine.trace.to_json()


def test_a_run_that_crashed_mid_step_leaves_nothing_for_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_dispatch, "REUSE", False)
    plain = _door_run()
    monkeypatch.setattr(_dispatch, "REUSE", True)
    _door_run()  # an idle instance for the crashing run
    crashed = bind(load_chart(DOOR), [_CrashingDoor()], clock=FakeClock())
    crashed.start()
    with pytest.raises(RuntimeError, match="died"):
        crashed.send("open")
    crashed.close()  # abandoned inside a compound state, mid-microstep
    for _ in range(2):
        assert _door_run() == plain


def test_an_engine_with_an_invocation_pending_is_not_reset_but_replaced() -> None:
    chart = load_chart(GOOD / "fetcher.yaml")
    bind(chart, [Fetcher("ok")], clock=FakeClock()).run()  # an idle instance for the next run
    machine = bind(chart, [Fetcher("ok")], clock=FakeClock())
    sm = _library_instance(machine)
    old = sm._engine
    pending: tuple[Any, dict[str, Any]] = (sm.states_map["fetching"], {})
    old._invoke_manager._pending.append(pending)
    assert not _dispatch.reset_engine(old)
    assert old._invoke_manager._pending == [pending]  # untouched
    assert machine.run().final_state == "done"
    assert sm._engine is not old


def test_reset_refuses_an_engine_it_does_not_recognise() -> None:
    class Stranger:
        running = False

    stranger = Stranger()
    assert not _dispatch.reset_engine(stranger)
    assert stranger.running is False
