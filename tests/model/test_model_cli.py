"""``beacon explore``: its arguments, and clear errors for bad replay files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beacon.charts import Coverage, Trace
from beacon.cli import build_parser, main
from beacon.testing import (
    SYNC_CHARTS,
    CampaignResult,
    CampaignStep,
    Failure,
    ReplayFile,
    load_replay,
    save_replay,
    sync_chart_report,
)
from tests.model.planted_bugs import PLANTED


def test_the_explore_arguments_parse() -> None:
    args = build_parser().parse_args(
        ["explore", "--examples", "5", "--seed", "3", "--json", "--coverage-out", "c.json"]
    )
    assert (args.examples, args.seed, args.json, args.coverage_out) == (5, 3, True, Path("c.json"))
    assert args.replay is None
    defaults = build_parser().parse_args(["explore"])
    assert (defaults.examples, defaults.steps, defaults.seed) == (60, 20, 0)


@pytest.mark.parametrize("argv", [["--examples", "0"], ["--seed", "-1"], ["--steps", "x"]])
def test_bad_numbers_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["explore", *argv])
    assert info.value.code == 2
    assert "explore" in capsys.readouterr().err


def test_a_bad_replay_file_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        '{"format": "beacon-replay", "version": 1, "seed": 0, "devices": 2,'
        ' "engines": ["b"], "steps": [{"rule": "teleport"}]}'
    )
    assert main(["explore", "--replay", str(path)]) == 2  # usage: a bad replay file
    err = capsys.readouterr().err
    assert err.startswith("beacon: error: usage: unknown campaign step 'teleport'")
    assert err.count("\n") == 1


def test_a_small_campaign_prints_json_and_writes_a_coverage_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coverage = tmp_path / "coverage.json"
    argv = ["explore", "--examples", "2", "--steps", "4", "--json", "--coverage-out", str(coverage)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True
    assert out["examples"] >= 2
    assert out["transitions"] > 0
    assert out["failure"] is None
    assert set(out["coverage"]["charts"]) == set(SYNC_CHARTS)
    loaded = Coverage.load(coverage)
    assert sum(loaded.hits["session"].values()) > 0


def test_a_failure_is_saved_as_a_replay_file_and_a_drawable_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = Trace(chart="session", status="final", final_state="synced")
    found = ReplayFile(
        seed=3,
        devices=2,
        engines=("bookmarks", "passwords"),
        steps=(
            CampaignStep("sync", {"device": 0}),
            CampaignStep("revoke_token"),
            CampaignStep("settle"),
        ),
        failure=Failure("rejected_token", "a token refused with 401 was presented again", 2),
        trace=trace.to_json(),
    )

    def failing(**kwargs: object) -> CampaignResult:
        return CampaignResult(
            passed=False,
            examples=1,
            steps=3,
            runs=3,
            transitions=60,
            seconds=1.0,
            coverage=sync_chart_report(),
            failure=found,
        )

    monkeypatch.setattr("beacon.testing.run_campaign", failing)
    target = tmp_path / "out" / "failure.json"
    assert main(["explore", "--failure-out", str(target)]) == 1
    captured = capsys.readouterr()
    assert "FAILED [rejected_token] at step 3 of 3" in captured.err
    assert "2. revoke_token()" in captured.err
    assert load_replay(target) == found
    drawn = Trace.load(tmp_path / "out" / "failure.trace.json")
    assert drawn.chart == "session"


def test_replay_reruns_a_planted_bug_deterministically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plant, _ = PLANTED["token_kept_on_401"]
    plant(monkeypatch)
    path = save_replay(
        ReplayFile(
            seed=0,
            devices=2,
            engines=("bookmarks", "passwords"),
            steps=(CampaignStep("settle"), CampaignStep("revoke_token"), CampaignStep("settle")),
            failure=Failure("rejected_token", "recorded", 2),
        ),
        tmp_path / "bug.json",
    )
    trace_out = tmp_path / "trace.json"
    argv = ["explore", "--replay", str(path), "--trace-out", str(trace_out), "--json"]
    assert main(argv) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["reproduced"] is True
    assert out["failure"]["invariant"] == "rejected_token"
    assert out["completed"] == 2
    assert Trace.load(trace_out).chart == "session"
    monkeypatch.undo()
    assert main(["explore", "--replay", str(path)]) == 0
    assert "all 3 steps passed every invariant" in capsys.readouterr().out


def test_paths_complete_the_coverage_and_name_what_no_path_reaches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explore", "--examples", "1", "--steps", "2", "--paths", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unreachable"] == {}
    for name in SYNC_CHARTS:
        chart = out["coverage"]["charts"][name]
        assert chart["taken"] == chart["total"] > 0
