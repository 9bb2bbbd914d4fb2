"""Shared test configuration: deterministic Hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Every profile is derandomized: the same code gives the same examples, run after run.
settings.register_profile(
    "dev",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "model",
    derandomize=True,
    deadline=None,
    max_examples=500,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _no_machine_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the machine's keyring: ``keyring`` picks (and caches) a backend once per
    process, so a backend one test chose would leak into the next; tests that want a keyring
    hand ``KeyringStore`` their own in-memory backend."""
    from keyring.backends import fail

    monkeypatch.setattr("keyring.get_keyring", fail.Keyring)
