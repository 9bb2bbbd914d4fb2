"""Every replay file kept under ``replays/`` (failures the campaign once shrunk, in the client
or in the harness itself) now passes every invariant, step for step."""

from __future__ import annotations

from pathlib import Path

import pytest

from beacon.testing import load_replay, replay_campaign

REPLAYS = sorted((Path(__file__).parent / "replays").glob("*.json"))


def test_there_are_replays() -> None:
    assert len(REPLAYS) >= 2


@pytest.mark.parametrize("path", REPLAYS, ids=lambda p: p.stem)
def test_a_kept_replay_passes(path: Path) -> None:
    recorded = load_replay(path)
    result = replay_campaign(recorded)
    assert result.failure is None, result.failure
    assert result.steps == len(recorded.steps)
