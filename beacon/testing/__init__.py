"""Model-based testing of beacon: Hypothesis campaigns over the client and the embedded service.

A campaign runs two (or more) devices on one account against the in-process
:class:`~beacon.server.EmbeddedService`, drawing random interleavings of local edits, sync
runs, crashes at any chart transition, clock moves and faults (token expiry and revocation,
injected 401s, node reassignment, 503 + Retry-After, Backoff headers, network errors and lost
answers, 412 races, another device's fresh start, key rotation, syncID changes, declined and
re-enabled engines, storage versions, missing meta/global or crypto/keys, keys under another
kB, bad HMACs, remote edits and deletions, password resets). The vocabulary is
:data:`RULES`. After every step it checks the invariants of
:mod:`beacon.testing._invariants` (wire, chart configuration, persisted state, and after each
quiet period convergence); a failure is shrunk by Hypothesis and saved as a replay file.

:func:`walk_chart` complements the random search: it drives a chart's bound engine through
every path of ``beacon chart paths`` with scripted services, so every transition is taken on
purpose and anything no path reaches is named.

Entry points::

    from beacon.testing import run_campaign, replay_campaign, load_replay

    result = run_campaign(examples=60, steps=20, seed=0)
    print(format_table(result.coverage))
    if result.failure is not None:
        save_replay(result.failure, "failure.json")
        assert replay_campaign(load_replay("failure.json")).failure is not None

Sharded campaigns (``beacon explore --workers N``, ``--shard I/N``, ``--merge``)::

    merged = run_shards(CampaignShards(examples=400), workers=2, database="dir:examples")
    print(format_table(merged.coverage), merged.passed, [s.seed for s in merged.failures])

``campaign_machine(config)`` gives the ``RuleBasedStateMachine`` class itself, for use with
Hypothesis directly (``run_state_machine_as_test`` or ``Machine.TestCase``).
"""

from __future__ import annotations

from beacon.testing._campaign import (
    CampaignResult,
    ReplayResult,
    campaign_machine,
    database_key,
    fault_steps,
    replay_campaign,
    run_campaign,
)
from beacon.testing._chart_campaign import (
    CHART_REPLAY_FORMAT,
    ChartCampaignResult,
    ChartReplay,
    ChartReplayResult,
    load_chart_replay,
    parse_chart_replay,
    replay_chart_campaign,
    run_chart_campaign,
)
from beacon.testing._chart_harness import ChartSetup, ChartView, Invariant
from beacon.testing._chart_shards import ChartCampaignShards, chart_finder, chart_setup
from beacon.testing._choices import ReplayDiverged
from beacon.testing._coverage_report import (
    SYNC_CHARTS,
    CoverageReport,
    format_table,
    sync_chart_report,
)
from beacon.testing._database import DatabaseUnavailable, open_database
from beacon.testing._faults import RULES, CampaignStep, RuleSpec
from beacon.testing._html_report import (
    ReportRecorder,
    TimelinePoint,
    coverage_goals,
    write_html_report,
)
from beacon.testing._invariants import InvariantViolation
from beacon.testing._replay import Failure, ReplayFile, load_replay, parse_replay, save_replay
from beacon.testing._shard_report import (
    ShardedResult,
    ShardReport,
    ShardSpec,
    load_shard_report,
    merge_reports,
    parse_shard,
    parse_shard_report,
    save_shard_report,
    shard_seed,
)
from beacon.testing._shards import (
    CampaignShards,
    ShardResult,
    ShardRunner,
    run_shard,
    run_shards,
)
from beacon.testing._specs import load_spec
from beacon.testing._walk import WalkResult, walk_chart
from beacon.testing._world import CampaignConfig, FakeClock, World

__all__ = [
    "CHART_REPLAY_FORMAT",
    "RULES",
    "SYNC_CHARTS",
    "CampaignConfig",
    "CampaignResult",
    "CampaignShards",
    "CampaignStep",
    "ChartCampaignResult",
    "ChartCampaignShards",
    "ChartReplay",
    "ChartReplayResult",
    "ChartSetup",
    "ChartView",
    "CoverageReport",
    "DatabaseUnavailable",
    "Failure",
    "FakeClock",
    "Invariant",
    "InvariantViolation",
    "ReplayDiverged",
    "ReplayFile",
    "ReplayResult",
    "ReportRecorder",
    "RuleSpec",
    "ShardReport",
    "ShardResult",
    "ShardRunner",
    "ShardSpec",
    "ShardedResult",
    "TimelinePoint",
    "WalkResult",
    "World",
    "campaign_machine",
    "chart_finder",
    "chart_setup",
    "coverage_goals",
    "database_key",
    "fault_steps",
    "format_table",
    "load_chart_replay",
    "load_replay",
    "load_shard_report",
    "load_spec",
    "merge_reports",
    "open_database",
    "parse_chart_replay",
    "parse_replay",
    "parse_shard",
    "parse_shard_report",
    "replay_campaign",
    "replay_chart_campaign",
    "run_campaign",
    "run_chart_campaign",
    "run_shard",
    "run_shards",
    "save_replay",
    "save_shard_report",
    "shard_seed",
    "sync_chart_report",
    "walk_chart",
    "write_html_report",
]
