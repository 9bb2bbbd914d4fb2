"""Binding and running: outcomes become events, strictness, observers, nesting."""

from __future__ import annotations

import json

import pytest

from beacon import ChartError, UnhandledEvent
from beacon.charts import Chart, Step, action, bind, chart_path, guard, load_chart, packaged_charts
from tests.charts.chart_services import GOOD, REPO, DoorService, FakeClock, Fetcher


def test_an_actions_outcome_is_the_next_event(fetcher_chart: Chart, clock: FakeClock) -> None:
    service = Fetcher("busy", "ok")
    result = bind(fetcher_chart, [service], clock=clock).run()

    assert result.final_state == "done"
    assert service.calls == ["fetch", "wait", "fetch"]
    assert result.trace.events == ["busy", "ok", "ok"]
    assert result.trace.transitions == ["fetching#1", "waiting#0", "fetching#0"]


def test_a_datamodel_counter_bounds_the_retries(fetcher_chart: Chart, clock: FakeClock) -> None:
    machine = bind(fetcher_chart, [Fetcher("busy", "busy", "busy")], clock=clock)
    result = machine.run()

    assert result.final_state == "gave_up"
    assert machine.snapshot()["datamodel"] == {"tries": 2}


def test_the_trace_records_names_outcomes_and_clock_times(
    fetcher_chart: Chart, clock: FakeClock
) -> None:
    trace = bind(fetcher_chart, [Fetcher("ok")], clock=clock).run().trace
    data = json.loads(trace.dumps())

    assert data["status"] == "final"
    assert data["final_state"] == "done"
    first, second = data["steps"]
    assert first["event"] is None
    assert first["entered"] == ["fetching"]
    assert first["actions"] == [{"action": "fetch", "state": "fetching", "outcome": "ok"}]
    assert [first["time"], second["time"]] == [1001.0, 1002.0]
    assert second["transitions"] == ["fetching#0"]
    assert second["left"] == ["fetching"]
    assert second["entered"] == ["done"]


def test_guard_results_are_recorded_per_step(door_chart: Chart, clock: FakeClock) -> None:
    machine = bind(door_chart, [DoorService(keys=("bad", "good"))], clock=clock)
    machine.send("lock")
    steps = machine.send("unlock")

    assert [s.event for s in steps] == ["unlock", "wrong_key", "ok"]
    assert steps[1].guards == {"has_spare_key": True}
    assert machine.configuration == ("in_service", "closed")


def test_nothing_runs_until_the_machine_is_driven(fetcher_chart: Chart) -> None:
    service = Fetcher("ok")
    machine = bind(fetcher_chart, [service])

    assert service.calls == []
    assert machine.configuration == ()


def test_an_undeclared_outcome_is_an_error_naming_action_and_state(
    fetcher_chart: Chart,
) -> None:
    machine = bind(fetcher_chart, [Fetcher("gone")])

    with pytest.raises(ChartError, match=r"'fetch'.*'fetching'.*'gone'.*\['ok', 'busy'\]"):
        machine.run()
    assert machine.trace.status == "error"


def test_an_event_with_no_transition_raises_unhandled_event(
    door_chart: Chart,
) -> None:
    machine = bind(door_chart, [DoorService()])
    machine.start()

    with pytest.raises(UnhandledEvent, match="'unlock'") as caught:
        machine.send("unlock")
    assert caught.value.event == "unlock"
    assert caught.value.configuration == ("in_service", "closed")


class Exploding:
    @action("ok", "busy")
    def fetch(self) -> str:
        raise RuntimeError("bug in the service")

    @action("ok")
    def wait(self) -> str:
        return "ok"


def test_a_bug_in_an_action_propagates(fetcher_chart: Chart) -> None:
    machine = bind(fetcher_chart, [Exploding()])

    with pytest.raises(RuntimeError, match="bug in the service"):
        machine.run()
    assert machine.trace.error == "RuntimeError"


class BrokenDoor(DoorService):
    @guard
    def has_spare_key(self) -> bool:
        raise LookupError("key ring missing")


def test_a_guard_that_raises_propagates(door_chart: Chart) -> None:
    machine = bind(door_chart, [BrokenDoor(keys=("bad",))])
    machine.send("lock")

    with pytest.raises(LookupError, match="key ring missing"):
        machine.send("unlock")


class SloppyDoor(DoorService):
    @guard
    def has_spare_key(self) -> bool:
        return 1  # type: ignore[return-value]


def test_a_guard_must_return_a_bool(door_chart: Chart) -> None:
    machine = bind(door_chart, [SloppyDoor(keys=("bad",))])
    machine.send("lock")

    with pytest.raises(ChartError, match=r"'has_spare_key'.*int, not bool"):
        machine.send("unlock")


def test_guards_are_not_called_while_binding(door_chart: Chart) -> None:
    machine = bind(door_chart, [BrokenDoor()])
    machine.start()

    assert machine.configuration == ("in_service", "closed")


class Forever:
    @action("ok", "stop")
    def hit(self) -> str:
        return "ok"


def test_a_runaway_loop_is_stopped_by_max_steps() -> None:
    machine = bind(load_chart(GOOD / "loop.yaml"), [Forever()])

    with pytest.raises(ChartError, match="no final state after 50 steps"):
        machine.run(max_steps=50)


def test_run_reports_a_machine_waiting_for_an_external_event(door_chart: Chart) -> None:
    machine = bind(door_chart, [DoorService()])

    with pytest.raises(ChartError, match=r"stalled in \['in_service', 'closed'\]"):
        machine.run()


def test_events_after_the_final_state_are_refused(door_chart: Chart) -> None:
    machine = bind(door_chart, [DoorService()])
    machine.send("remove")

    assert machine.final_state == "removed"
    with pytest.raises(ChartError, match="finished in 'removed'"):
        machine.send("open")


def test_observers_see_every_step_and_may_stop_the_run(fetcher_chart: Chart) -> None:
    seen: list[tuple[int, str | None]] = []

    def crash_after_first_event(step: Step) -> None:
        seen.append((step.n, step.event))
        if step.n == 1:
            raise KeyboardInterrupt

    machine = bind(fetcher_chart, [Fetcher("busy", "ok")])
    machine.add_observer(crash_after_first_event)

    with pytest.raises(KeyboardInterrupt):
        machine.run()
    assert seen == [(0, None), (1, "busy")]
    assert machine.pending == ("ok",)


def test_a_name_offered_by_two_services_is_refused(fetcher_chart: Chart) -> None:
    with pytest.raises(ChartError, match="'fetch' is offered by both Fetcher and Fetcher"):
        bind(fetcher_chart, [Fetcher(), Fetcher()])


class OnlyWait:
    @action("ok")
    def wait(self) -> str:
        return "ok"


def test_a_name_no_service_offers_is_refused(fetcher_chart: Chart) -> None:
    with pytest.raises(ChartError, match="no service offers action 'fetch'") as caught:
        bind(fetcher_chart, [OnlyWait()])
    assert caught.value.findings


class Child:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    @action("ok", "failed")
    def sync_children(self) -> str:
        for script in (("ok",), ("busy", "ok")):
            chart = load_chart(GOOD / "fetcher.yaml")
            bind(chart, [Fetcher(*script)], clock=self.clock).run()
        return "ok"


def test_charts_run_by_an_action_nest_their_traces(clock: FakeClock) -> None:
    result = bind(load_chart(GOOD / "parent.yaml"), [Child(clock)], clock=clock).run()

    children = result.trace.children
    assert [c.chart for c in children] == ["fetcher", "fetcher"]
    assert [c.final_state for c in children] == ["done", "done"]
    assert [t.chart for t in result.trace.walk()] == ["parent", "fetcher", "fetcher"]
    nested = json.loads(result.trace.dumps())["steps"][0]["actions"][0]["children"]
    assert [len(c["steps"]) for c in nested] == [2, 4]


class Worker:
    def __init__(self, download: str) -> None:
        self.download = download

    @action("fetched", "fetch_failed")
    def fetch(self) -> str:
        return self.download

    @action("sent")
    def send(self) -> str:
        return "sent"


@pytest.mark.parametrize(
    ("download", "final"), [("fetched", "finished"), ("fetch_failed", "failed")]
)
def test_parallel_regions_run_their_actions_and_join_on_done_state(
    download: str, final: str
) -> None:
    chart = load_chart(GOOD / "parallel.yaml")
    result = bind(chart, [Worker(download)]).run()

    assert result.final_state == final
    first = result.trace.steps[0]
    assert first.entered == ["work", "download", "fetching", "upload", "sending"]
    assert first.outcomes == [download, "sent"]
    assert result.trace.steps[-1].transitions[-1] in {"work#0", "work#1"}


def test_outcomes_still_queued_at_the_final_state_are_dropped(door_chart: Chart) -> None:
    machine = bind(door_chart, [DoorService()])
    machine.start()
    machine._pending.extend([("remove", None), ("open", None)])

    steps = machine._drain(max_steps=None)

    assert [s.event for s in steps] == ["remove"]
    assert machine.pending == ()


def test_handled_events_follow_the_configuration(door_chart: Chart) -> None:
    machine = bind(door_chart, [DoorService()])
    machine.start()
    assert machine.handled_events() == ("lock", "open", "remove")

    machine.send("lock")
    assert machine.handled_events() == ("remove", "unlock")


def test_packaged_charts_are_found_by_name() -> None:
    assert {"door", "session", "token", "collection"} <= set(packaged_charts())
    assert chart_path("door").read_text() == (REPO / "statecharts" / "door.yaml").read_text()
    assert load_chart("door").name == "door"
    with pytest.raises(ChartError, match="no packaged chart named 'window'"):
        chart_path("window")


class Notes:
    def __init__(self, leaving: object = None) -> None:
        self.leaving = leaving
        self.notes: list[str] = []

    @action()
    def note_leaving(self) -> object:
        self.notes.append("leaving")
        return self.leaving

    @action()
    def note_going(self) -> None:
        self.notes.append("going")


def test_effects_run_on_exit_and_on_transitions_without_raising_events() -> None:
    notes = Notes()
    machine = bind(load_chart(GOOD / "effects.yaml"), [notes])
    [step] = machine.send("go")

    assert notes.notes == ["leaving", "going"]
    assert [(a.action, a.state, a.outcome) for a in step.actions] == [
        ("note_leaving", "idle", None),
        ("note_going", "idle", None),
    ]
    assert machine.final_state == "done"


def test_an_effect_that_returns_a_value_is_an_error() -> None:
    machine = bind(load_chart(GOOD / "effects.yaml"), [Notes(leaving="ok")])

    with pytest.raises(ChartError, match=r"'note_leaving' .*declares no outcomes but returned str"):
        machine.send("go")


class LoudNotes(Notes):
    @action("ok")
    def note_going(self) -> None:
        self.notes.append("going")


def test_an_action_with_outcomes_outside_enter_is_refused() -> None:
    with pytest.raises(ChartError, match="'note_going' declares outcomes"):
        bind(load_chart(GOOD / "effects.yaml"), [LoudNotes()])


def test_a_binding_that_misses_a_name_fails_every_time_not_just_the_first(
    door_chart: Chart,
) -> None:
    # bind() remembers the checks per chart and service classes: the verdict is remembered too.
    for _ in range(2):
        with pytest.raises(ChartError, match="cannot bind door"):
            bind(door_chart, [object()])
    assert bind(door_chart, [DoorService()]).chart is door_chart
