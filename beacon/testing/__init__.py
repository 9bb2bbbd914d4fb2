"""Model-based testing of beacon: Hypothesis campaigns over the client and the embedded service.

This first part holds the campaign's vocabulary (steps and faults), its replay files, the
wire recorder that injects network faults, the invariants and the coverage table; the
campaign itself follows once the client lands.
"""

from __future__ import annotations

from beacon.testing._coverage_report import (
    SYNC_CHARTS,
    CoverageReport,
    format_table,
    sync_chart_report,
)
from beacon.testing._faults import RULES, RuleSpec, Step
from beacon.testing._invariants import InvariantViolation
from beacon.testing._replay import Failure, ReplayFile, load_replay, parse_replay, save_replay

__all__ = [
    "RULES",
    "SYNC_CHARTS",
    "CoverageReport",
    "Failure",
    "InvariantViolation",
    "ReplayFile",
    "RuleSpec",
    "Step",
    "format_table",
    "load_replay",
    "parse_replay",
    "save_replay",
    "sync_chart_report",
]
