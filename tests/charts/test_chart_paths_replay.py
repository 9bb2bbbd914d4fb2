"""Paths that cover every transition, coverage counting, and replay of recorded traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beacon import ChartError
from beacon.charts import Chart, Coverage, Trace, bind, load_chart, replay, transition_paths
from beacon.cli import main
from tests.charts.chart_services import REPO, DoorService, FakeClock, Fetcher


@pytest.mark.parametrize(
    "path", sorted((REPO / "statecharts").glob("*.yaml")), ids=lambda p: p.stem
)
def test_paths_take_every_transition(path: Path) -> None:
    chart = load_chart(path)
    taken = {step.transition for p in transition_paths(chart) for step in p.steps}

    assert taken == {t.id for t in chart.structure.transitions}


def test_door_paths_start_at_the_initial_state_and_are_few(door_chart: Chart) -> None:
    paths = transition_paths(door_chart)

    assert [p.events for p in paths] == [
        ["open", "ok", "close", "lock", "unlock", "ok", "remove"],
        # Breaking needs two retries first: the path respects the counter's guard.
        ["open", "jammed", "jammed", "jammed"],
        ["lock", "unlock", "wrong_key", "wrong_key"],
    ]
    assert paths[1].steps[1].guard == "retries < 2"
    assert paths[1].steps[3].guard == "retries >= 2"


def test_the_jam_path_ends_where_a_door_jammed_as_often_ends(door_chart: Chart) -> None:
    # Before guards over the datamodel were evaluated, the jam path asked for "broken" after
    # one jam, which the running chart never does.
    jam_path = next(p for p in transition_paths(door_chart) if "jammed" in p.events)
    jams = jam_path.events.count("jammed")
    machine = bind(door_chart, [DoorService(jams=jams)])
    machine.send("open")

    assert machine.final_state == jam_path.steps[-1].target == "broken"
    assert machine.trace.transitions == [s.transition for s in jam_path.steps]


def test_a_path_drives_the_bound_chart_through_its_transitions(door_chart: Chart) -> None:
    [first, *_] = transition_paths(door_chart)
    machine = bind(door_chart, [DoorService()])
    for event in ["open", "close", "lock", "unlock", "remove"]:
        machine.send(event)

    assert machine.trace.transitions == [s.transition for s in first.steps]


def test_chart_paths_prints_json(capsys: pytest.CaptureFixture[str], door_chart: Chart) -> None:
    assert main(["chart", "paths", str(door_chart.path), "--json"]) == 0

    paths = json.loads(capsys.readouterr().out)
    assert paths[0]["steps"][0] == {
        "event": "open",
        "transition": "closed#0",
        "label": "closed --open--> opening",
        "guard": None,
        "target": "opening",
    }


def _door_run() -> Trace:
    machine = bind(
        load_chart(REPO / "statecharts" / "door.yaml"),
        [DoorService(jams=1, keys=("bad", "good"))],
        clock=FakeClock(),
    )
    for event in ["open", "close", "lock", "unlock", "remove"]:
        machine.send(event)
    return Trace.from_json(json.loads(machine.trace.dumps()))


def test_coverage_counts_nested_runs_and_names_never_taken_transitions(
    door_chart: Chart, fetcher_chart: Chart, tmp_path: Path
) -> None:
    coverage = Coverage()
    coverage.add(_door_run())
    coverage.add(bind(fetcher_chart, [Fetcher("ok")]).run().trace)
    coverage.save(tmp_path / "coverage.json")
    loaded = Coverage.load(tmp_path / "coverage.json")

    assert loaded.count("door", "opening#1") == 1
    assert loaded.runs == {"door": 1, "fetcher": 1}
    assert loaded.never_taken(door_chart) == [
        "door: opening --jammed [retries >= 2]--> broken",
        "door: unlocking --wrong_key [not has_spare_key]--> locked",
    ]
    assert loaded.ratio(fetcher_chart) == pytest.approx(1 / 4)


def test_chart_coverage_accumulates_trace_files(
    tmp_path: Path, door_chart: Chart, capsys: pytest.CaptureFixture[str]
) -> None:
    _door_run().save(tmp_path / "a.json")
    _door_run().save(tmp_path / "b.json")

    main(
        [
            "chart",
            "coverage",
            str(tmp_path / "a.json"),
            str(tmp_path / "b.json"),
            "-o",
            str(tmp_path / "cov.json"),
            "--chart",
            str(door_chart.path),
        ]
    )

    assert Coverage.load(tmp_path / "cov.json").count("door", "closed#0") == 2
    assert "never: door: opening --jammed [retries >= 2]--> broken" in capsys.readouterr().out


def test_a_recorded_run_replays_without_divergence(door_chart: Chart) -> None:
    recorded = _door_run()
    report = replay(door_chart, recorded)

    assert report.ok
    assert report.trace.transitions == recorded.transitions


def test_replay_reports_a_changed_outcome_at_the_next_event(door_chart: Chart) -> None:
    recorded = _door_run()
    recorded.steps[1].actions[0].outcome = "ok"  # the door no longer jammed

    report = replay(door_chart, recorded)

    assert report.divergence is not None
    assert (report.divergence.step, report.divergence.what) == (2, "event")
    assert (report.divergence.expected, report.divergence.actual) == ("jammed", "ok")


def test_replay_reports_a_changed_guard_as_other_transitions(door_chart: Chart) -> None:
    recorded = _door_run()
    recorded.steps[7].guards["has_spare_key"] = False

    report = replay(door_chart, recorded)

    assert str(report.divergence) == (
        "step 7: transitions: recorded ['unlocking#1'], replay ['unlocking#2']"
    )


def test_replay_against_a_changed_chart_finds_the_first_difference(
    tmp_path: Path,
) -> None:
    recorded = _door_run()
    changed = tmp_path / "door.yaml"
    text = (REPO / "statecharts" / "door.yaml").read_text()
    changed.write_text(
        text.replace("enter: check_key", "enter: [try_open]").replace("wrong_key", "jammed")
    )

    report = replay(load_chart(changed), recorded)

    assert report.divergence is not None
    assert report.divergence.step == 6
    assert report.divergence.what == "action"
    assert report.divergence.expected == "check_key in unlocking"


def test_replay_refuses_a_trace_of_another_chart(fetcher_chart: Chart) -> None:
    with pytest.raises(ChartError, match="of chart 'door', not 'fetcher'"):
        replay(fetcher_chart, _door_run())


def test_chart_replay_exits_1_on_divergence(tmp_path: Path, door_chart: Chart) -> None:
    recorded = _door_run()
    recorded.steps[7].guards["has_spare_key"] = False
    recorded.save(tmp_path / "run.json")

    assert main(["chart", "replay", str(door_chart.path), str(tmp_path / "run.json")]) == 1


def test_paths_leave_out_the_engines_own_done_events() -> None:
    chart = load_chart(REPO / "tests" / "charts" / "good" / "parallel.yaml")
    paths = transition_paths(chart)

    assert [p.events for p in paths] == [["fetched"], ["fetch_failed"], ["sent"]]
    assert [s.event for s in paths[0].steps] == ["fetched", "done.state.work"]
