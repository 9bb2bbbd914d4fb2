"""``beacon explore``: its arguments, and clear errors for bad replay files."""

from __future__ import annotations

from pathlib import Path

import pytest

from beacon.cli import build_parser, main


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
    assert main(["explore", "--replay", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("beacon: error: usage: unknown campaign step 'teleport'")
    assert err.count("\n") == 1
