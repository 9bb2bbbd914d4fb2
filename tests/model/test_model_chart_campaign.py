"""Campaigns over any chart: the door with its example services, drawn charts, the guide, goals.

The door's example controller (``examples/door_service.py``) is the user's service here: the
correct ``Door`` passes, the ``PlantedDoor`` bug is found, shrunk and replayed; charts with
nothing bound are explored by drawing; the coverage guide is compared with the blind search
on the same budget and seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from beacon import ChartError, UsageError
from beacon.charts import action, check_chart, load_chart
from beacon.testing import (
    ChartSetup,
    ChartView,
    ReplayDiverged,
    load_chart_replay,
    load_spec,
    replay_chart_campaign,
    run_chart_campaign,
)

ROOT = Path(__file__).resolve().parents[2]
DOOR = ROOT / "statecharts" / "door.yaml"
SERVICES = ROOT / "examples" / "door_service.py"


def door_setup(cls: str = "Door", **kw: Any) -> ChartSetup:
    return ChartSetup(
        load_chart(DOOR),
        services=load_spec(f"{SERVICES}:{cls}"),  # type: ignore[arg-type]
        invariants=load_spec(f"{SERVICES}:INVARIANTS"),  # type: ignore[arg-type]
        **kw,
    )


def test_the_correct_door_controller_passes_every_invariant() -> None:
    result = run_chart_campaign(door_setup(), examples=60, seed=0)
    assert result.passed
    assert result.failure is None
    assert result.examples == 60
    # One jam only: the real controller never lets the door break, so that edge stays untaken.
    assert result.goals["transition:opening#2"] == 0
    assert result.goals["transition:unlocking#0"] > 0


def test_a_planted_bug_in_the_users_service_is_found_and_shrunk_to_its_four_events() -> None:
    result = run_chart_campaign(door_setup("PlantedDoor"), examples=150, seed=0)
    assert not result.passed
    assert result.failure is not None
    failure = result.failure.failure
    assert failure is not None
    assert failure.invariant == "unlocked_only_by_the_good_key"
    sent = [s for s in result.failure.description if s.startswith("send ")]
    assert sent == ["send lock", "send unlock", "send lock", "send unlock"]


def test_a_shrunk_failure_replays_from_its_file_decision_for_decision(tmp_path: Path) -> None:
    result = run_chart_campaign(door_setup("PlantedDoor"), examples=150, seed=0)
    assert result.failure is not None
    saved = load_chart_replay(result.failure.save(tmp_path / "door.json"))
    again = replay_chart_campaign(saved, door_setup("PlantedDoor"))
    assert again.failure is not None
    assert again.failure.invariant == "unlocked_only_by_the_good_key"
    assert again.description == list(result.failure.description)
    # On the correct controller the last unlock answers wrong_key, the door stays locked and
    # the run wants a decision the log does not hold: the planted bug is what failed.
    with pytest.raises(ReplayDiverged, match="log ends before pick"):
        replay_chart_campaign(saved, door_setup("Door"))


def test_the_same_seed_gives_the_same_shrunk_failure() -> None:
    one = run_chart_campaign(door_setup("PlantedDoor"), examples=150, seed=3)
    two = run_chart_campaign(door_setup("PlantedDoor"), examples=150, seed=3)
    assert one.failure is not None
    assert two.failure is not None
    assert one.failure.to_json() == two.failure.to_json()


def test_a_replay_of_another_version_of_the_chart_is_refused(tmp_path: Path) -> None:
    result = run_chart_campaign(door_setup("PlantedDoor"), examples=150, seed=0)
    assert result.failure is not None
    data = result.failure.to_json()
    data["digest"] = "0" * 64
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="digest differs"):
        replay_chart_campaign(load_chart_replay(path), door_setup("PlantedDoor"))


def test_a_malformed_replay_file_is_one_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"format": "beacon-chart-replay", "version": 1, "log": 3}')
    with pytest.raises(UsageError, match="malformed"):
        load_chart_replay(path)


def test_crashes_restore_the_machine_where_it_was_and_reach_every_state() -> None:
    result = run_chart_campaign(door_setup(), examples=60, seed=1)
    assert result.passed
    for leaf in ("closed", "opening", "opened", "locked", "unlocking"):
        assert result.goals[f"crash:{leaf}"] > 0, leaf


def test_forced_outcomes_reach_what_the_real_controller_never_answers() -> None:
    # Forcing try_open to jam three times breaks the door, which the one-jam controller
    # cannot do by itself. A forced outcome skips the service, so a check relating the
    # chart to the service (the good-key one) would blame the fault: keep the ring check.
    setup = ChartSetup(
        load_chart(DOOR),
        services=load_spec(f"{SERVICES}:Door"),  # type: ignore[arg-type]
        invariants=[load_spec(f"{SERVICES}:keys_are_never_reused")],  # type: ignore[list-item]
        force=True,
    )
    result = run_chart_campaign(setup, examples=80, seed=0)
    assert result.passed
    assert result.goals["transition:opening#2"] > 0
    assert result.goals["forced:opening"] > 0


def test_an_invariant_that_returns_false_or_a_message_fails_under_its_name() -> None:
    def never_locked(view: ChartView) -> bool:
        return "locked" not in view.configuration

    def no_retries(view: ChartView) -> str | None:
        return "a retry" if view.datamodel.get("retries") else None

    for check, name in ((never_locked, "never_locked"), (no_retries, "no_retries")):
        setup = ChartSetup(load_chart(DOOR), invariants=[check])
        result = run_chart_campaign(setup, examples=60, seed=0)
        assert result.failure is not None
        assert result.failure.failure is not None
        assert result.failure.failure.invariant == name


def test_a_service_that_raises_is_a_failure_naming_the_exception() -> None:
    class Boom:
        @action("ok", "jammed")
        def try_open(self) -> str:
            raise KeyError("motor")

    result = run_chart_campaign(ChartSetup(load_chart(DOOR), services=Boom), examples=30, seed=0)
    assert result.failure is not None
    assert result.failure.failure is not None
    assert result.failure.failure.message.startswith("KeyError at ")


@pytest.mark.parametrize("name", ["door", "token", "collection"])
def test_the_guide_covers_every_transition_in_fewer_examples_than_the_blind_search(
    name: str,
) -> None:
    chart = load_chart(DOOR if name == "door" else name)
    guided = run_chart_campaign(ChartSetup(chart), examples=150, seed=0, until_covered=True)
    blind = run_chart_campaign(
        ChartSetup(chart), examples=150, seed=0, guided=False, until_covered=True
    )
    assert guided.first_full is not None
    assert guided.coverage.untaken() == {}
    assert blind.first_full is None or guided.first_full < blind.first_full


def test_drawn_loops_end_the_example_instead_of_failing_it() -> None:
    # Every action drawn: the download loop ("more") could go round for ever.
    result = run_chart_campaign(ChartSetup(load_chart("collection")), examples=40, seed=0)
    assert result.passed


def _door_with_goals(tmp_path: Path, goals: str) -> Path:
    text = DOOR.read_text().replace('retries: "0"', f'retries: "0"\n  sometimes: "{goals}"', 1)
    path = tmp_path / "door.yaml"
    path.write_text(text)
    return path


def test_a_sometimes_goal_the_campaign_meets_lets_it_pass(tmp_path: Path) -> None:
    path = _door_with_goals(tmp_path, "('retried: opening.jammed -> opened',)")
    setup = ChartSetup(load_chart(path), services=load_spec(f"{SERVICES}:Door"))  # type: ignore[arg-type]
    result = run_chart_campaign(setup, examples=40, seed=0)
    assert result.passed
    assert result.sometimes == {"retried": True}


def test_a_sometimes_goal_no_example_meets_fails_the_campaign_naming_it(tmp_path: Path) -> None:
    # The one-jam controller never breaks the door, so this goal is never met.
    path = _door_with_goals(tmp_path, "('broken: opening.jammed -> broken',)")
    setup = ChartSetup(load_chart(path), services=load_spec(f"{SERVICES}:Door"))  # type: ignore[arg-type]
    result = run_chart_campaign(setup, examples=40, seed=0)
    assert not result.passed
    assert result.failure is None
    assert result.missed_goals == ["broken"]


@pytest.mark.parametrize(
    ("goals", "message"),
    [
        ("('no colon here',)", "is not '<name>: <step>"),
        ("('x: nowhere.open',)", "no state 'nowhere'"),
        ("('x: closed.fly',)", "declares no transition on 'fly'"),
        ("('x: closed', 'x: opened')", "declared twice"),
        ("3", "literal tuple of strings"),
    ],
)
def test_malformed_sometimes_goals_are_chart_errors(
    tmp_path: Path, goals: str, message: str
) -> None:
    path = _door_with_goals(tmp_path, goals)
    findings = [f for f in check_chart(path) if f.check == "goals"]
    assert findings
    assert message in findings[0].message
    with pytest.raises(ChartError):
        load_chart(path)


def _beacon(*argv: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "beacon", *argv], capture_output=True, text=True, timeout=240
    )
    return done.returncode, done.stdout, done.stderr


def test_explore_chart_finds_the_planted_bug_and_its_replay_file_reproduces_it(
    tmp_path: Path,
) -> None:
    replay = tmp_path / "failure.json"
    code, out, err = _beacon(
        "explore", "--chart", str(DOOR), "--services", f"{SERVICES}:PlantedDoor",
        "--invariants", f"{SERVICES}:INVARIANTS", "--examples", "150", "--json",
        "--failure-out", str(replay),
    )  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    assert report["failure"]["failure"]["invariant"] == "unlocked_only_by_the_good_key"
    assert report["coverage"]["charts"]["door"]["total"] == 11
    assert Path(report["trace_file"]).is_file()
    code, out, err = _beacon("explore", "--replay", str(replay), "--json")
    assert code == 1, err
    assert json.loads(out)["reproduced"] is True


def test_explore_chart_with_a_bad_services_spec_is_a_usage_error() -> None:
    code, _out, err = _beacon("explore", "--chart", str(DOOR), "--services", "no_such_module:X")
    assert code == 2
    assert "no module 'no_such_module'" in err
    assert "Traceback" not in err


def test_a_chart_campaign_writes_its_report_with_goals_and_the_failure(tmp_path: Path) -> None:
    page = tmp_path / "door.html"
    result = run_chart_campaign(door_setup("PlantedDoor"), examples=150, seed=0, report=page)
    assert result.failure is not None
    html = page.read_text()
    assert "every crash goal reached (5/5)" in html
    assert "never: opening#2" in html  # the one-jam controller never breaks the door
    assert "unlocked after trying None" in html  # the failure, with its steps
    assert html.count("<svg") >= 2  # a plot and the diagram at least
    assert "http://" not in html.replace("http://www.w3.org/", "")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["session", "account"])
def test_the_guide_covers_the_big_charts_where_the_blind_search_does_not(name: str) -> None:
    chart = load_chart(name)
    guided = run_chart_campaign(ChartSetup(chart), examples=300, seed=0, until_covered=True)
    blind = run_chart_campaign(
        ChartSetup(chart), examples=300, seed=0, guided=False, until_covered=True
    )
    assert guided.first_full is not None
    assert guided.coverage.untaken() == {}
    assert blind.first_full is None or guided.first_full < blind.first_full


def test_a_failure_found_by_one_campaign_replays_from_the_shared_database_in_another(
    tmp_path: Path,
) -> None:
    from hypothesis.database import DirectoryBasedExampleDatabase

    shared = DirectoryBasedExampleDatabase(str(tmp_path / "shared"))
    finder = run_chart_campaign(door_setup("PlantedDoor"), examples=150, seed=0, database=shared)
    assert finder.failure is not None
    # Two examples of another seed do not find the bug on their own...
    alone = DirectoryBasedExampleDatabase(str(tmp_path / "alone"))
    small = run_chart_campaign(door_setup("PlantedDoor"), examples=2, seed=4, database=alone)
    assert small.passed
    # ... but with the shared store they replay the saved failure first.
    other = run_chart_campaign(door_setup("PlantedDoor"), examples=2, seed=4, database=shared)
    assert other.failure is not None
    assert other.failure.failure == finder.failure.failure
    assert other.failure.description == finder.failure.description
    # The correct controller on the same store: the saved log no longer fails and is dropped.
    fixed = run_chart_campaign(door_setup("Door"), examples=2, seed=4, database=shared)
    assert fixed.passed


def test_two_shards_of_a_chart_campaign_merge_into_the_union_of_their_coverage(
    tmp_path: Path,
) -> None:
    from beacon.testing import (
        ChartCampaignShards,
        ShardSpec,
        chart_finder,
        load_shard_report,
        merge_reports,
        run_shard,
        save_shard_report,
    )

    runner = ChartCampaignShards(
        chart=str(DOOR), services=f"{SERVICES}:Door", invariants=f"{SERVICES}:INVARIANTS",
        examples=40,
    )  # fmt: skip
    url = f"dir:{tmp_path / 'db'}"
    reports = [run_shard(runner, ShardSpec(i, 2, 0), url) for i in range(2)]
    paths = [save_shard_report(r, tmp_path / f"shard{i}.json") for i, r in enumerate(reports)]
    merged = merge_reports([load_shard_report(p, chart_finder(str(DOOR))) for p in paths])
    assert merged.passed
    for tid in merged.coverage.charts["door"].by_id:
        assert merged.coverage.transitions["door"][tid] == sum(
            r.coverage.transitions["door"][tid] for r in reports
        )
    assert merged.total("examples") == sum(r.counts["examples"] for r in reports) == 40


def test_explore_chart_with_two_workers_saves_a_replay_that_reproduces(tmp_path: Path) -> None:
    replay = tmp_path / "failure.json"
    code, out, err = _beacon(
        "explore", "--chart", str(DOOR), "--services", f"{SERVICES}:PlantedDoor",
        "--invariants", f"{SERVICES}:INVARIANTS", "--examples", "120", "--workers", "2",
        "--json", "--failure-out", str(replay),
    )  # fmt: skip
    assert code == 1, err
    assert json.loads(out)["replay_files"][0] == str(replay)
    code, out, err = _beacon("explore", "--replay", str(replay), "--json")
    assert code == 1, err
    assert json.loads(out)["reproduced"] is True


def test_services_that_misname_a_kind_are_refused_before_any_example() -> None:
    class GuardAsAction:
        @action("ok", "wrong_key")
        def has_spare_key(self) -> str:
            return "ok"

    with pytest.raises(UsageError, match="'has_spare_key' is a guard in the chart"):
        run_chart_campaign(ChartSetup(load_chart(DOOR), services=GuardAsAction), examples=5)


def test_a_service_outcome_the_chart_does_not_handle_is_a_chart_error_up_front() -> None:
    class Surprising:
        @action("ok", "jammed", "on_fire")
        def try_open(self) -> str:
            return "ok"

    with pytest.raises(ChartError, match="on_fire"):
        run_chart_campaign(ChartSetup(load_chart(DOOR), services=Surprising), examples=5)


def test_sharded_sometimes_goals_are_judged_over_every_shard(tmp_path: Path) -> None:
    from beacon.testing import (
        ChartCampaignShards,
        ShardSpec,
        chart_finder,
        load_shard_report,
        merge_reports,
        run_shard,
        save_shard_report,
    )

    path = _door_with_goals(
        tmp_path, "('retried: opening.jammed -> opened', 'broken: opening.jammed -> broken')"
    )
    runner = ChartCampaignShards(chart=str(path), services=f"{SERVICES}:Door", examples=40)
    reports = [run_shard(runner, ShardSpec(i, 2, 0)) for i in range(2)]
    assert all(r.passed for r in reports)  # a shard alone is judged on its failures only
    saved = [save_shard_report(r, tmp_path / f"s{i}.json") for i, r in enumerate(reports)]
    merged = merge_reports([load_shard_report(p, chart_finder(str(path))) for p in saved])
    assert merged.sometimes == {"retried": True, "broken": False}
    assert merged.missed_goals == ["broken"]
    assert not merged.passed
