"""Sharding a campaign over any chart: the runner :func:`~beacon.testing.run_shards` takes.

Contract: :class:`ChartCampaignShards` is picklable data (the chart's path and the services'
and invariants' ``MODULE:ATTR`` specs, never the objects), so a worker process loads the
chart and the user's modules itself. Every shard of one campaign describes it alike
(:meth:`ChartCampaignShards.campaign`, with the chart's digest, so reports of two versions of
a chart never merge); shard ``I`` runs its share of the examples with its own seed, on the
shared database, where failures travel as replay logs (``_chart_campaign.py``).
:func:`chart_finder` gives the merge the chart's structure by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis.database import ExampleDatabase

from beacon._errors import UsageError
from beacon.charts import Structure, load_chart
from beacon.testing._chart_campaign import ChartCampaignResult, run_chart_campaign
from beacon.testing._chart_harness import ChartSetup, Invariant
from beacon.testing._shard_report import ShardSpec, packaged_structure
from beacon.testing._specs import load_spec

__all__ = ["ChartCampaignShards", "chart_finder", "chart_setup"]


def chart_setup(
    chart: str,
    services: str | None,
    invariants: str | None,
    *,
    steps: int = 20,
    force: bool = False,
) -> ChartSetup:
    """A :class:`ChartSetup` from a chart file and ``MODULE:ATTR`` specs (UsageError when a
    spec names nothing usable)."""
    factory: Callable[[], object] | None = None
    if services is not None:
        made = load_spec(services)
        if not callable(made):
            raise UsageError(f"{services}: not a class or function that makes the services")
        factory = made
    checks: list[Invariant] = []
    if invariants is not None:
        value = load_spec(invariants)
        for check in list(value) if isinstance(value, list | tuple) else [value]:
            if not callable(check):
                raise UsageError(f"{invariants}: {type(check).__name__} is not a callable check")
            checks.append(check)
    return ChartSetup(
        load_chart(chart), services=factory, invariants=checks, steps=steps, force=force
    )


@dataclass(frozen=True)
class ChartCampaignShards:
    """A chart campaign of ``examples`` examples in all, split over shards."""

    chart: str
    services: str | None = None
    invariants: str | None = None
    examples: int = 100
    steps: int = 20
    guided: bool = True
    force: bool = False
    shrink: bool = True
    shrink_runs: int | None = 200

    def campaign(self) -> dict[str, Any]:
        """The campaign, alike for every shard (the chart by digest, not only by path)."""
        return {
            "campaign": "beacon.chart",
            "chart": self.chart,
            "digest": load_chart(self.chart).digest,
            "services": self.services,
            "invariants": self.invariants,
            "examples": self.examples,
            "steps": self.steps,
            "guided": self.guided,
            "force": self.force,
            "shrink": self.shrink,
            "shrink_runs": self.shrink_runs,
        }

    def __call__(
        self,
        spec: ShardSpec,
        database: ExampleDatabase | None,
        on_example: Callable[[int], None] | None = None,
    ) -> ChartCampaignResult:
        """Run this shard. Its ``passed`` is whether it found a failure: whether the chart's
        sometimes goals were met is a question for the whole campaign, not for one shard
        (its ``sometimes`` are in its JSON)."""
        setup = chart_setup(
            self.chart, self.services, self.invariants, steps=self.steps, force=self.force
        )
        result = run_chart_campaign(
            setup,
            examples=spec.share(self.examples),
            seed=spec.seed,
            guided=self.guided,
            database=database,
            shrink=self.shrink,
            shrink_runs=self.shrink_runs,
            on_example=on_example,
            services_spec=self.services,
            invariants_spec=self.invariants,
        )
        return dataclasses.replace(result, passed=result.failure is None)


def chart_finder(chart: str | None) -> Callable[[str], Structure]:
    """Structures by chart name for merging reports: ``chart``'s own file first (a user's
    chart is not packaged), then the packaged charts."""
    own = load_chart(chart) if chart is not None else None

    def find(name: str) -> Structure:
        if own is not None and own.name == name:
            return own.structure
        return packaged_structure(name)

    return find
