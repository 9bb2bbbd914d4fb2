"""The model-based campaign at ``make test`` size, its coverage, and the larger ``make model`` run.

The campaign is deterministic: an explicit seed and no example database, on top of the
derandomized profile of ``tests/conftest.py``. Known client bugs the campaign has found are
kept as replay files under ``replays/``; each has a strict-xfail regression test, and the
campaign test tolerates exactly that failure (proved by replaying the file), nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from beacon.charts import load_chart
from beacon.testing import (
    SYNC_CHARTS,
    CampaignResult,
    load_replay,
    replay,
    run_campaign,
    sync_chart_report,
)
from beacon.testing._walk import walk_chart

REPLAYS = Path(__file__).parent / "replays"
SEED = 0
EXAMPLES = 100
STEPS = 15

#: Client bugs found by the campaign and not fixed yet: replay file -> what goes wrong.
KNOWN_BUGS = {
    "lost_edit_after_reset.json": (
        "no_lost_edit",
        "after a reset (keys rotated, syncIDs changed, node moved) a device re-uploads an old "
        "tombstone; the server stamps it with a new modified time, and last-writer-wins on "
        "that time deletes another device's newer edit",
    ),
}


def _known_bug(result: CampaignResult) -> str | None:
    """The reason to xfail when the campaign met a known, still reproducible client bug."""
    recorded = result.failure
    if recorded is None or recorded.failure is None:
        return None
    for name, (invariant, what) in KNOWN_BUGS.items():
        if recorded.failure.invariant != invariant:
            continue
        again = replay(load_replay(REPLAYS / name)).failure
        if again is not None and again.invariant == invariant:
            return f"known client bug ({name}): {what}"
    return None


def _explain(result: CampaignResult) -> str:
    if result.failure is None or result.failure.failure is None:
        return "passed"
    failure = result.failure.failure
    steps = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(result.failure.steps))
    return f"[{failure.invariant}] at step {failure.step + 1}: {failure.message}\n{steps}"


@pytest.fixture(scope="module")
def campaign() -> CampaignResult:
    return run_campaign(
        examples=EXAMPLES, steps=STEPS, seed=SEED, parent=settings.default, shrink_runs=40
    )


@pytest.mark.timeout(300)
def test_the_campaign_keeps_every_invariant(campaign: CampaignResult) -> None:
    known = _known_bug(campaign)
    if known is not None:
        pytest.xfail(known)
    assert campaign.passed, _explain(campaign)
    assert campaign.examples >= EXAMPLES
    assert campaign.runs > campaign.examples  # syncs really ran
    assert campaign.transitions > 0


@pytest.mark.timeout(300)
def test_every_sync_transition_is_taken_by_the_campaign_or_the_path_walks(
    campaign: CampaignResult,
) -> None:
    combined = sync_chart_report()
    combined.merge(campaign.coverage)
    unreachable: dict[str, list[str]] = {}
    for name in SYNC_CHARTS:
        walked = walk_chart(load_chart(name))
        assert walked.divergences == {}, walked.divergences
        combined.merge(walked.coverage)
        if walked.unreachable:
            unreachable[name] = walked.unreachable
    assert unreachable == {}, f"transitions no path reaches: {unreachable}"
    assert combined.untaken() == {}
    # The campaign itself must exercise the heart of every chart, not lean on the walks.
    for name in SYNC_CHARTS:
        assert campaign.coverage.taken(name) >= len(combined.charts[name].transitions) // 3, name


@pytest.mark.parametrize("name", sorted(KNOWN_BUGS))
@pytest.mark.xfail(strict=True, reason="known client bug found by the campaign (see KNOWN_BUGS)")
def test_known_bug_replays_cleanly(name: str) -> None:
    """Turns into an XPASS failure the day the client is fixed: then drop the entry."""
    result = replay(load_replay(REPLAYS / name))
    assert result.failure is None, result.failure


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_larger_campaign_keeps_every_invariant() -> None:
    """``make model``: the same campaign, more and longer examples (HYPOTHESIS_PROFILE=model)."""
    profile = settings.default
    assert profile is not None
    result = run_campaign(
        examples=profile.max_examples,
        steps=30,
        seed=SEED + 1,
        parent=settings.default,
        shrink_runs=300,
    )
    known = _known_bug(result)
    if known is not None:
        pytest.xfail(known)
    assert result.passed, _explain(result)
