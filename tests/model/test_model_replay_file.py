"""Replay files and the step vocabulary: round trips, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beacon import UsageError
from beacon.testing import RULES, CampaignStep, Failure, ReplayFile, load_replay, save_replay
from beacon.testing._faults import validate

STEPS = (
    CampaignStep("edit", {"device": 0, "engine": "bookmarks", "record": "r0", "value": 3}),
    CampaignStep("revoke_token"),
    CampaignStep("sync", {"device": 1}),
    CampaignStep("unavailable", {"count": 2, "retry_after": 60, "path": None}),
    CampaignStep("crash", {"device": 0, "at": 7}),
    CampaignStep("settle"),
)


def test_a_replay_file_round_trips(tmp_path: Path) -> None:
    recorded = ReplayFile(
        seed=7,
        devices=2,
        engines=("bookmarks", "passwords"),
        steps=STEPS,
        failure=Failure("convergence", "device 1 differs", 5),
        trace={"version": 1, "chart": "session", "steps": []},
    )
    path = save_replay(recorded, tmp_path / "sub" / "failure.json")
    data = json.loads(path.read_text())
    assert data["format"] == "beacon-replay"
    assert data["faults"] == [1, 3]
    assert data["steps"][0] == {
        "rule": "edit",
        "args": {"device": 0, "engine": "bookmarks", "record": "r0", "value": 3},
    }
    again = load_replay(path)
    assert again == recorded
    assert again.trace == recorded.trace
    assert again.faults == (1, 3)


def test_every_rule_of_the_catalogue_validates_with_its_parameters() -> None:
    for name, spec in RULES.items():
        samples: dict[str, int | str] = {
            "device": 0,
            "engine": "bookmarks",
            "kind": "connect",
            "header": "Backoff",
            "codes": "now",
        }
        args: dict[str, int | str | float | None] = {p: samples.get(p, 1) for p in spec.params}
        validate(CampaignStep(name, args), devices=2, engines=("bookmarks",))
        assert str(CampaignStep(name, args)).startswith(name + "(")


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (CampaignStep("teleport"), "unknown campaign step"),
        (CampaignStep("sync"), "expects arguments"),
        (CampaignStep("sync", {"device": 0, "extra": 1}), "expects arguments"),
        (CampaignStep("sync", {"device": 5}), "device must be an index"),
        (CampaignStep("sync", {"device": True}), "boolean"),
        (
            CampaignStep("edit", {"device": 0, "engine": "tabs", "record": "r", "value": 1}),
            "engine",
        ),
        (CampaignStep("network_error", {"device": 0, "after": 1, "kind": "fire"}), "kind"),
        (CampaignStep("backoff_header", {"count": 1, "seconds": 1, "header": "X"}), "header"),
        (CampaignStep("sync", {"device": [0]}), "JSON scalar"),  # type: ignore[dict-item]
    ],
)
def test_bad_steps_are_refused_by_name(step: CampaignStep, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate(step, devices=2, engines=("bookmarks",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('{"format": "other"}', "not a replay file"),
        ('{"format": "beacon-replay", "version": 99}', "version"),
        ('{"format": "beacon-replay", "version": 1, "seed": -1}', "seed"),
        (
            '{"format": "beacon-replay", "version": 1, "seed": 1, "devices": 2,'
            ' "engines": ["b"], "steps": [{"rule": "sync", "args": {"device": 9}}]}',
            "device must be an index",
        ),
        (
            '{"format": "beacon-replay", "version": 1, "seed": 1, "devices": 2,'
            ' "engines": ["b"], "steps": "no"}',
            "'steps' must be a list",
        ),
        (
            '{"format": "beacon-replay", "version": 1, "seed": 1, "devices": 2,'
            ' "engines": ["b"], "steps": [7]}',
            "a step must be an object",
        ),
    ],
)
def test_bad_replay_files_fail_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_replay(path)


def test_a_missing_replay_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read replay file"):
        load_replay(tmp_path / "absent.json")
