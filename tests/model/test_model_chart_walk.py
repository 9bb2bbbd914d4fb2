"""Deterministic walks generated from ``beacon chart paths``: every Sync chart transition."""

from __future__ import annotations

import pytest

from beacon.charts import load_chart
from beacon.testing import SYNC_CHARTS
from beacon.testing._walk import walk_chart


@pytest.mark.parametrize("name", [*SYNC_CHARTS, "door"])
def test_the_paths_drive_every_transition_through_the_bound_engine(name: str) -> None:
    chart = load_chart(name)
    result = walk_chart(chart)

    assert result.divergences == {}
    assert result.unreachable == []
    assert result.driven == {t.id for t in chart.structure.transitions}
    assert result.coverage.untaken() == {}
    assert result.coverage.unknown[name] == {}
