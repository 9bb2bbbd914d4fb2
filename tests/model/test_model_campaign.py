"""The model-based campaign at ``make test`` size, its coverage, and the larger ``make model`` run.

The campaign is deterministic: an explicit seed and no example database, on top of the
derandomized profile of ``tests/conftest.py``. Client bugs the campaign has found are kept
as replay files under ``replays/``, each a regression test that must pass every invariant.
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
    replay_campaign,
    run_campaign,
    sync_chart_report,
)
from beacon.testing._walk import walk_chart

REPLAYS = Path(__file__).parent / "replays"
SEED = 0
EXAMPLES = 30
STEPS = 15

#: Client bugs the campaign found, fixed since: replay file -> what went wrong.
FIXED_BUGS = {
    "lost_edit_after_reset.json": (
        "after a reset (keys rotated) a device re-uploaded an old tombstone; the server stamped "
        "it with a new modified time, and last-writer-wins on that time deleted another "
        "device's newer edit (fixed: engines reconcile three ways against the base)"
    ),
    "stale_tombstone_after_fresh_start.json": (
        "after another device's fresh start both devices re-uploaded what they last agreed on: "
        "a stale tombstone, uploaded last, deleted the newer edit (fixed: records carry their "
        "edit time, and last-writer-wins compares edit times, not server times)"
    ),
}


def _explain(result: CampaignResult) -> str:
    if result.failure is None or result.failure.failure is None:
        return "passed"
    failure = result.failure.failure
    steps = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(result.failure.steps))
    return f"[{failure.invariant}] at step {failure.step + 1}: {failure.message}\n{steps}"


@pytest.fixture(scope="module")
def campaign() -> CampaignResult:
    return run_campaign(
        examples=EXAMPLES, steps=STEPS, seed=SEED, parent=settings.default, shrink_runs=20
    )


# The two tests share the module's campaign: one xdist worker runs both (make test: loadgroup).
@pytest.mark.xdist_group("campaign")
@pytest.mark.timeout(600)  # ~20x the campaign on an idle core: slow CI must not trip it
def test_the_campaign_keeps_every_invariant(campaign: CampaignResult) -> None:
    assert campaign.passed, _explain(campaign)
    assert campaign.examples >= EXAMPLES
    assert campaign.runs > campaign.examples  # syncs really ran
    assert campaign.transitions > 0


@pytest.mark.xdist_group("campaign")
@pytest.mark.timeout(600)
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


@pytest.mark.parametrize("name", sorted(FIXED_BUGS))
def test_a_bug_the_campaign_found_stays_fixed(name: str) -> None:
    result = replay_campaign(load_replay(REPLAYS / name))
    assert result.failure is None, f"{FIXED_BUGS[name]}: {result.failure}"


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
    assert result.passed, _explain(result)
