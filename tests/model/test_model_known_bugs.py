"""Client bugs the campaign found that are not fixed yet, each kept as a replay file under
``known/``. Each test is a strict xfail: the day the client is fixed it XPASSes, the suite
fails, and the file moves to ``replays/`` (where every kept replay must pass)."""

from __future__ import annotations

from pathlib import Path

import pytest

from beacon.testing import load_replay, replay

KNOWN = Path(__file__).parent / "known"

#: replay file -> what goes wrong, as the campaign shrank it.
KNOWN_BUGS = {
    "stale_tombstone_after_fresh_start.json": (
        "no_lost_edit",
        "device 0 deletes r0 and both devices agree; device 1 then edits r0 again (a 412 race "
        "on the way); another device fresh-starts; in the quiet period device 0, reset, "
        "re-uploads its old tombstone and device 1's newer edit is deleted everywhere",
    ),
}


def test_every_known_file_is_listed() -> None:
    assert sorted(p.name for p in KNOWN.glob("*.json")) == sorted(KNOWN_BUGS)


@pytest.mark.parametrize("name", sorted(KNOWN_BUGS))
def test_the_recorded_failure_still_reproduces(name: str) -> None:
    recorded = load_replay(KNOWN / name)
    result = replay(recorded)
    assert recorded.failure is not None
    assert result.failure is not None
    assert result.failure.invariant == KNOWN_BUGS[name][0] == recorded.failure.invariant
    assert result.failure.step == recorded.failure.step


@pytest.mark.parametrize("name", sorted(KNOWN_BUGS))
@pytest.mark.xfail(strict=True, reason="known client bug (see KNOWN_BUGS)")
def test_the_known_bug_is_fixed(name: str) -> None:
    result = replay(load_replay(KNOWN / name))
    assert result.failure is None, result.failure
