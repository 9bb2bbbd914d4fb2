"""A tiny run of the sign-in benchmark works and counts what the chart promises."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_signin_tiny_run_counts_requests_and_times_the_stretch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    result = importlib.import_module("bench.signin").run(quick=True)
    figures = {f["name"]: f for f in result["figures"]}
    assert figures["requests per password sign-in (v1 account)"]["value"] == 5
    assert figures["requests per access-token refresh"]["value"] == 1
    assert figures["requests per credentials call, token fresh"]["value"] == 0
    stretch = figures["onepw v2 stretch"]
    assert stretch["baseline"] > 0
    assert stretch["ratio"] > 0
