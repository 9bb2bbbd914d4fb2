"""Shared test configuration: deterministic Hypothesis profiles."""

from __future__ import annotations

import os

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
