"""The runnable example in ``SyncClient``'s module docstring runs and says what it shows."""

from __future__ import annotations

import doctest

from beacon.client import _client


def test_the_documented_example_runs() -> None:
    failures, tried = doctest.testmod(_client, raise_on_error=False, report=True)
    assert tried >= 10
    assert failures == 0
