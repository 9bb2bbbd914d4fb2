"""A campaign runs with a slower-paced cyclic collector and puts the thresholds back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from beacon.testing import run_campaign
from beacon.testing._collector import CAMPAIGN_THRESHOLD, campaign_pace


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    found = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*found)


def test_the_block_runs_at_the_campaign_pace_then_the_thresholds_come_back(
    thresholds: tuple[int, int, int],
) -> None:
    with campaign_pace():
        assert gc.get_threshold() == (CAMPAIGN_THRESHOLD, 10, 10)
    assert gc.get_threshold() == thresholds


def test_thresholds_come_back_when_the_block_raises(thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), campaign_pace():
        raise RuntimeError("a step failed")
    assert gc.get_threshold() == thresholds


@pytest.mark.parametrize("found", [(0, 10, 10), (50_000, 20, 20)])
def test_an_off_or_slower_collector_is_left_as_it_is(
    found: tuple[int, int, int], thresholds: tuple[int, int, int]
) -> None:
    gc.set_threshold(*found)
    with campaign_pace():
        assert gc.get_threshold() == found
    assert gc.get_threshold() == found


def test_a_disabled_collector_stays_disabled(thresholds: tuple[int, int, int]) -> None:
    gc.disable()
    try:
        with campaign_pace():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_run_campaign_collects_at_the_campaign_pace_only_while_it_runs(
    thresholds: tuple[int, int, int],
) -> None:
    seen: list[tuple[int, int, int]] = []
    result = run_campaign(
        examples=2,
        steps=3,
        seed=0,
        shrink=False,
        on_example=lambda _: seen.append(gc.get_threshold()),
    )
    assert result.examples == 2
    assert seen == [(CAMPAIGN_THRESHOLD, 10, 10)] * 2
    assert gc.get_threshold() == thresholds
