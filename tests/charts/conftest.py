"""Fixtures for the chart engine tests."""

from __future__ import annotations

import pytest

from beacon.charts import Chart, load_chart
from tests.charts.chart_services import DOOR, GOOD, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fetcher_chart() -> Chart:
    return load_chart(GOOD / "fetcher.yaml")


@pytest.fixture
def door_chart() -> Chart:
    return load_chart(DOOR)
