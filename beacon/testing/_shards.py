"""Sharded campaigns: one campaign split over processes or machines, merged into one report.

Contract:

* Every shard (:class:`~beacon.testing._shard_report.ShardSpec`: its own seed and share of the
  examples) opens the same example database (``dir:PATH`` or ``redis://...``,
  :mod:`beacon.testing._database`): a failure a shard finds is saved there, and every shard
  that starts later replays the saved failures of the same configuration first (Hypothesis's
  reuse phase), whatever its seed.
* What runs is a :class:`ShardRunner`: a picklable object (a module-level class instance)
  that describes its campaign as JSON (:meth:`ShardRunner.campaign`, the same for every
  shard) and runs one shard, returning a :class:`ShardResult` (``passed``, ``coverage``,
  ``to_json()`` with the keys of :meth:`~beacon.testing.CampaignResult.to_json`).
  :class:`CampaignShards` runs :func:`~beacon.testing.run_campaign`; another campaign is
  sharded by passing another runner.
* :func:`run_shard` runs one shard in this process and returns its
  :class:`~beacon.testing._shard_report.ShardReport`. :func:`run_shards` runs ``N`` shards in
  ``N`` processes (started by a fork server or spawned: nothing of the parent's state leaks
  in) on one database (a temporary directory unless one is given) and merges them
  (:func:`~beacon.testing._shard_report.merge_reports`).
* The same seed, build and database contents give the same shard: the same examples, the
  same coverage and a byte-identical trace of the failing run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hypothesis.database import ExampleDatabase

from beacon._errors import UsageError
from beacon.charts import Structure
from beacon.testing._campaign import CampaignResult, run_campaign
from beacon.testing._coverage_report import CoverageReport
from beacon.testing._database import DatabaseUnavailable, open_database
from beacon.testing._shard_report import (
    COUNTS,
    ShardedResult,
    ShardReport,
    ShardSpec,
    merge_reports,
    packaged_structure,
    parse_shard_report,
)
from beacon.testing._world import CampaignConfig

__all__ = [
    "CampaignShards",
    "ShardResult",
    "ShardRunner",
    "run_shard",
    "run_shards",
]


class ShardResult(Protocol):
    """What a runner returns for one shard (:class:`~beacon.testing.CampaignResult` is one)."""

    @property
    def passed(self) -> bool: ...

    @property
    def coverage(self) -> CoverageReport: ...

    def to_json(self) -> dict[str, Any]: ...


class ShardRunner(Protocol):
    """Runs one shard of a campaign; must be picklable (see the module docstring)."""

    def campaign(self) -> dict[str, Any]: ...

    def __call__(
        self,
        spec: ShardSpec,
        database: ExampleDatabase | None,
        on_example: Callable[[int], None] | None = None,
    ) -> ShardResult: ...


@dataclass(frozen=True)
class CampaignShards:
    """The Sync campaign of :func:`~beacon.testing.run_campaign`, ``examples`` in all."""

    examples: int = 60
    steps: int = 20
    config: CampaignConfig = field(default_factory=CampaignConfig)
    shrink: bool = True
    shrink_runs: int | None = 200

    def campaign(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "campaign": "beacon.sync",
            "examples": self.examples,
            "steps": self.steps,
            "devices": cfg.devices,
            "engines": list(cfg.engines),
            "records": list(cfg.records),
            "rules": None if cfg.rules is None else sorted(cfg.rules),
            "crash_max": cfg.crash_max,
            "accounts": cfg.accounts,
            "typed": cfg.typed,
            "shrink": self.shrink,
            "shrink_runs": self.shrink_runs,
        }

    def __call__(
        self,
        spec: ShardSpec,
        database: ExampleDatabase | None,
        on_example: Callable[[int], None] | None = None,
    ) -> CampaignResult:
        return run_campaign(
            examples=spec.share(self.examples),
            steps=self.steps,
            seed=spec.seed,
            config=self.config,
            shrink=self.shrink,
            shrink_runs=self.shrink_runs,
            on_example=on_example,
            database=database,
        )


def _report(
    spec: ShardSpec, campaign: Mapping[str, Any], result: ShardResult, cpu_seconds: float
) -> ShardReport:
    data = result.to_json()
    return ShardReport(
        spec=spec,
        campaign=campaign,
        passed=result.passed,
        counts={name: int(data.get(name, 0)) for name in COUNTS},
        seconds=float(data.get("seconds", 0.0)),
        coverage=result.coverage,
        failure=data.get("failure"),
        cpu_seconds=cpu_seconds,
        sometimes=dict(data.get("sometimes") or {}),
    )


def run_shard(
    runner: ShardRunner,
    spec: ShardSpec,
    database: ExampleDatabase | str | None = None,
    *,
    on_example: Callable[[int], None] | None = None,
) -> ShardReport:
    """Run one shard here, on ``database`` (an ``ExampleDatabase``, a URL, or none)."""
    db = open_database(database) if isinstance(database, str) else database
    cpu = time.process_time()
    result = runner(spec, db, on_example)
    return _report(spec, runner.campaign(), result, time.process_time() - cpu)


def _child(runner: ShardRunner, spec: ShardSpec, url: str, progress: Any) -> dict[str, Any]:
    """One shard in a worker process: its report as JSON (what crosses the process pipe)."""

    def on_example(n: int) -> None:
        if progress is not None:
            progress.put((spec.index, n))

    try:
        report = run_shard(runner, spec, open_database(url), on_example=on_example)
    except DatabaseUnavailable as exc:
        return {"database_unavailable": str(exc)}
    return report.to_json()


def run_shards(
    runner: ShardRunner,
    *,
    workers: int,
    base_seed: int = 0,
    database: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_shard: Callable[[ShardReport], None] | None = None,
    find: Callable[[str], Structure] = packaged_structure,
) -> ShardedResult:
    """Run shards ``0..workers-1`` of ``runner``'s campaign, one process each, on the example
    database ``database`` (a URL; default a temporary directory removed afterwards), and merge
    them. ``on_progress`` gets the examples done over all shards; ``on_shard`` each report;
    ``find`` the charts of the reports (default: the packaged charts by name)."""
    if workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    specs = [ShardSpec(i, workers, base_seed) for i in range(workers)]
    with tempfile.TemporaryDirectory(prefix="beacon-shards-") as tmp:
        url = database if database is not None else f"dir:{Path(tmp) / 'examples'}"
        open_database(url)  # a bad URL fails here, before any process starts
        context = _context()
        reports: list[ShardReport] = []
        with contextlib.ExitStack() as stack:
            # A manager process relays progress only when someone listens.
            progress = None
            if on_progress is not None:
                progress = stack.enter_context(context.Manager()).Queue()
            done: dict[int, int] = {}
            started = time.perf_counter()
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                pending: set[Future[dict[str, Any]]] = {
                    pool.submit(_child, runner, spec, url, progress) for spec in specs
                }
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(progress, done, on_progress)
                    for future in finished:
                        data = future.result()
                        if "database_unavailable" in data:
                            raise DatabaseUnavailable(str(data["database_unavailable"]))
                        report = parse_shard_report(data, find)
                        reports.append(report)
                        if on_shard is not None:
                            on_shard(report)
            seconds = time.perf_counter() - started
            _drain(progress, done, on_progress)
    return merge_reports(reports, seconds=seconds)


def _context() -> multiprocessing.context.BaseContext:
    """A fork server that has imported beacon.testing where there is one (a worker then
    starts in a fraction of a second: measured 0.4 s against 3 s spawned, on a loaded 2-core
    machine), else spawn; never a plain fork of this process and its threads."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["beacon.testing"])
        return context
    return multiprocessing.get_context("spawn")


def _drain(progress: Any, done: dict[int, int], on_progress: Callable[[int], None] | None) -> None:
    if progress is None or on_progress is None:
        return
    changed = False
    while True:
        try:
            index, n = progress.get_nowait()
        except queue.Empty:
            break
        done[index] = max(done.get(index, 0), n)
        changed = True
    if changed:
        on_progress(sum(done.values()))
