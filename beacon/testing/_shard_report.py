"""Shard reports: what one shard of a campaign found, as JSON, and their merge.

Contract:

* Shard ``I`` of ``N`` (0-based, as Kubernetes' indexed jobs count) of a campaign seeded ``S``
  runs with :func:`shard_seed` ``(S, I)`` (shard 0 keeps ``S``, so one shard is the plain
  campaign) and its share of the examples (:meth:`ShardSpec.share`); :func:`parse_shard`
  reads ``"I/N"``.
* A :class:`ShardReport` is the JSON document a job writes (:func:`save_shard_report`):
  format :data:`SHARD_FORMAT`, the shard, its seeds, the campaign's description, pass or the
  failure (a replay file's object), the counts, wall and CPU seconds, and the coverage with
  its runs per chart. :func:`load_shard_report` / :func:`parse_shard_report` check it all and
  raise :class:`~beacon.UsageError` naming what is wrong; the coverage is rebuilt against this
  build's charts, and one whose transitions differ (another version) is refused.
* :func:`merge_reports` merges reports of one campaign (same description, shard count and
  seed; each shard at most once) into a :class:`ShardedResult`: coverage is the union (hit
  counts add up), counts add up, failures are listed shortest first, missing shards named.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beacon._errors import ChartError, UsageError
from beacon.charts import Structure, load_chart
from beacon.testing._coverage_report import CoverageReport

__all__ = [
    "COUNTS",
    "SHARD_FORMAT",
    "ShardReport",
    "ShardSpec",
    "ShardedResult",
    "coverage_from_json",
    "coverage_json",
    "load_shard_report",
    "merge_reports",
    "packaged_structure",
    "parse_shard",
    "parse_shard_report",
    "save_shard_report",
    "shard_seed",
]

SHARD_FORMAT = "beacon-shard-report"
SHARD_VERSION = 1
#: The counts a shard report carries and a merge adds up.
COUNTS = ("examples", "steps", "runs", "transitions")


def shard_seed(base_seed: int, index: int) -> int:
    """Shard ``index``'s seed: the campaign's own for shard 0, else a 32-bit hash of both (so
    shards of one campaign, and of neighbouring seeds, do not share seeds in practice, as
    ``base_seed + index`` would)."""
    if index == 0:
        return base_seed
    digest = hashlib.sha256(f"beacon-shard/{base_seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count`` of the campaign seeded ``base_seed``."""

    index: int
    count: int
    base_seed: int = 0

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise UsageError(f"shard {self.index}/{self.count}: need 0 <= index < count (0-based)")

    @property
    def seed(self) -> int:
        return shard_seed(self.base_seed, self.index)

    def share(self, total: int) -> int:
        """This shard's part of ``total`` examples (the first ``total % count`` get one more)."""
        if total < self.count:
            raise UsageError(f"{total} examples cannot be split over {self.count} shards")
        return total // self.count + (1 if self.index < total % self.count else 0)


def parse_shard(text: str, *, base_seed: int = 0) -> ShardSpec:
    """``"I/N"`` (0-based: ``0/2`` and ``1/2`` are the two shards) as a :class:`ShardSpec`."""
    index_text, sep, count_text = text.partition("/")
    if not sep or not index_text.strip().isdigit() or not count_text.strip().isdigit():
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 0/4 (0-based, I < N)")
    return ShardSpec(int(index_text), int(count_text), base_seed)


@dataclass(frozen=True)
class ShardReport:
    """One shard's outcome: the JSON document a job writes (see :func:`parse_shard_report`)."""

    spec: ShardSpec
    campaign: Mapping[str, Any]
    passed: bool
    counts: Mapping[str, int]
    seconds: float
    coverage: CoverageReport
    failure: Mapping[str, Any] | None = None
    #: CPU time the shard's process spent running it (``seconds`` is its wall clock).
    cpu_seconds: float = 0.0
    #: A chart campaign's sometimes goals, each with whether this shard met it: whether the
    #: campaign met them is judged over all its shards (:attr:`ShardedResult.sometimes`).
    sometimes: Mapping[str, bool] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.spec.seed

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SHARD_FORMAT,
            "version": SHARD_VERSION,
            "shard": self.spec.index,
            "shards": self.spec.count,
            "base_seed": self.spec.base_seed,
            "seed": self.spec.seed,
            "campaign": dict(self.campaign),
            "passed": self.passed,
            **{name: self.counts.get(name, 0) for name in COUNTS},
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "failure": None if self.failure is None else dict(self.failure),
            "coverage": coverage_json(self.coverage),
            "sometimes": dict(self.sometimes),
        }


def coverage_json(report: CoverageReport) -> dict[str, Any]:
    """``report.to_json()`` plus its runs per chart, all a merge needs to rebuild it."""
    return {**report.to_json(), "chart_runs": dict(sorted(report.chart_runs.items()))}


def _failure_steps(failure: object) -> list[Any] | None:
    """A failure's steps: a Sync replay's ``steps``, a chart replay's ``description``."""
    if not isinstance(failure, Mapping):
        return None
    steps = failure.get("steps")
    if isinstance(steps, list):
        return steps
    described = failure.get("description")
    if failure.get("format") == "beacon-chart-replay" and isinstance(described, list):
        return described
    return None


def packaged_structure(name: str) -> Structure:
    """The structure of the chart packaged with beacon as ``name`` (UsageError if none)."""
    try:
        return load_chart(name).structure
    except ChartError:
        raise UsageError(f"shard report: no chart {name!r} in this build") from None


def coverage_from_json(
    data: object, find: Callable[[str], Structure] = packaged_structure
) -> CoverageReport:
    """Rebuild a :class:`CoverageReport` from :func:`coverage_json`; ``find`` gives each chart
    (default: the packaged charts by name). A chart whose transitions differ from the report's
    was built from another version: a :class:`~beacon.UsageError`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("charts"), Mapping):
        raise UsageError("shard report: 'coverage' must be an object with 'charts'")
    charts: dict[str, Structure] = {}
    for name, chart in data["charts"].items():
        structure = find(str(name))
        if not isinstance(chart, Mapping) or not isinstance(chart.get("transitions"), Mapping):
            raise UsageError(f"shard report: coverage of {name!r} has no 'transitions'")
        if set(chart["transitions"]) != set(structure.by_id):
            raise UsageError(
                f"shard report: chart {name!r} has other transitions in this build "
                "(reports of different versions cannot be merged)"
            )
        charts[str(name)] = structure
    report = CoverageReport(charts)
    try:
        for name, chart in data["charts"].items():
            for tid, entry in chart["transitions"].items():
                if _count(entry["hits"]):
                    report.transitions[name][tid] = _count(entry["hits"])
            for item in chart.get("outcomes", []):
                key = (str(item["state"]), str(item["action"]), str(item["outcome"]))
                report.outcomes[name][key] = _count(item["hits"])
            for tid, hits in chart.get("unknown", {}).items():
                report.unknown[name][str(tid)] = _count(hits)
        report.runs = _count(data.get("runs", 0))
        report.chart_runs = Counter(
            {str(k): _count(v) for k, v in dict(data.get("chart_runs", {})).items()}
        )
    except (KeyError, TypeError, AttributeError, ValueError):
        raise UsageError("shard report: malformed coverage counts") from None
    return report


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(value)
    return value


def parse_shard_report(
    data: object, find: Callable[[str], Structure] = packaged_structure
) -> ShardReport:
    """A :class:`ShardReport` from its JSON object; :class:`~beacon.UsageError` if malformed."""
    if not isinstance(data, Mapping) or data.get("format") != SHARD_FORMAT:
        raise UsageError(f"not a shard report: expected an object with format {SHARD_FORMAT!r}")
    if data.get("version") != SHARD_VERSION:
        raise UsageError(f"shard report version {data.get('version')!r} is not {SHARD_VERSION}")
    try:
        spec = ShardSpec(_count(data["shard"]), _count(data["shards"]), _count(data["base_seed"]))
        counts = {name: _count(data[name]) for name in COUNTS}
        seconds = float(data["seconds"])
        cpu_seconds = float(data["cpu_seconds"])
        passed = data["passed"]
        campaign = data["campaign"]
        failure = data["failure"]
    except (KeyError, TypeError, ValueError):
        raise UsageError(
            "shard report: needs shard, shards, base_seed, passed, seconds, cpu_seconds, campaign, "
            f"failure and the counts {', '.join(COUNTS)}"
        ) from None
    if not isinstance(passed, bool) or not isinstance(campaign, Mapping):
        raise UsageError("shard report: 'passed' must be a boolean and 'campaign' an object")
    if data.get("seed") != spec.seed:
        raise UsageError(f"shard report: seed {data.get('seed')!r} is not shard {spec.index}'s")
    if failure is not None and _failure_steps(failure) is None:
        raise UsageError(
            "shard report: 'failure' must be null, a replay with 'steps' or a chart replay "
            "with its 'description'"
        )
    if passed != (failure is None):
        raise UsageError("shard report: a failed shard must carry its failure (and only it)")
    coverage = coverage_from_json(data.get("coverage"), find)
    sometimes = data.get("sometimes", {})
    if not isinstance(sometimes, Mapping) or not all(
        isinstance(k, str) and isinstance(v, bool) for k, v in sometimes.items()
    ):
        raise UsageError("shard report: 'sometimes' must map goal names to true or false")
    return ShardReport(
        spec, campaign, passed, counts, seconds, coverage, failure, cpu_seconds, dict(sometimes)
    )


def save_shard_report(report: ShardReport, path: str | Path) -> Path:
    """Write ``report`` as JSON to ``path`` (parents created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
    return target


def load_shard_report(
    path: str | Path, find: Callable[[str], Structure] = packaged_structure
) -> ShardReport:
    """Read and check a shard report written by :func:`save_shard_report`."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read shard report {str(path)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"shard report {str(path)!r} is not JSON: {exc.msg}") from None
    return parse_shard_report(data, find)


@dataclass(frozen=True)
class ShardedResult:
    """Shard reports of one campaign, merged (see :func:`merge_reports`)."""

    campaign: Mapping[str, Any]
    count: int
    shards: tuple[ShardReport, ...]
    coverage: CoverageReport
    seconds: float

    @property
    def passed(self) -> bool:
        """Every shard passed, and every sometimes goal was met by at least one of them."""
        return all(shard.passed for shard in self.shards) and not self.missed_goals

    @property
    def sometimes(self) -> dict[str, bool]:
        """Each sometimes goal of the campaign, met when any shard met it."""
        out: dict[str, bool] = {}
        for shard in self.shards:
            for name, met in shard.sometimes.items():
                out[name] = out.get(name, False) or met
        return out

    @property
    def missed_goals(self) -> list[str]:
        """The sometimes goals no shard met."""
        return [name for name, met in self.sometimes.items() if not met]

    @property
    def missing(self) -> list[int]:
        """Shard indexes of the campaign that no merged report covers."""
        have = {shard.spec.index for shard in self.shards}
        return [i for i in range(self.count) if i not in have]

    def total(self, name: str) -> int:
        return sum(shard.counts.get(name, 0) for shard in self.shards)

    @property
    def transitions_per_second(self) -> float:
        return self.total("transitions") / self.seconds if self.seconds > 0 else 0.0

    @property
    def failures(self) -> list[ShardReport]:
        """The failed shards, the shortest failure first (then by shard index)."""
        failed = [s for s in self.shards if s.failure is not None]
        return sorted(failed, key=lambda s: (len(_failure_steps(s.failure) or []), s.spec.index))

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": dict(self.campaign),
            "passed": self.passed,
            "sometimes": self.sometimes,
            "missed_goals": self.missed_goals,
            "shards": self.count,
            "merged": [s.spec.index for s in self.shards],
            "missing": self.missing,
            **{name: self.total(name) for name in COUNTS},
            "seconds": round(self.seconds, 3),
            "transitions_per_second": round(self.transitions_per_second, 1),
            "per_shard": [
                {
                    "shard": s.spec.index,
                    "seed": s.seed,
                    "passed": s.passed,
                    **{name: s.counts.get(name, 0) for name in COUNTS},
                    "seconds": round(s.seconds, 3),
                    "cpu_seconds": round(s.cpu_seconds, 3),
                }
                for s in self.shards
            ],
            "failures": [
                {"shard": s.spec.index, "seed": s.seed, "replay": dict(s.failure or {})}
                for s in self.failures
            ],
            "coverage": self.coverage.to_json(),
        }


def merge_reports(reports: Sequence[ShardReport], *, seconds: float | None = None) -> ShardedResult:
    """Merge shard reports of one campaign (same description and shard count, each shard at
    most once). ``seconds`` is the wall clock when known; else the slowest shard's time, as
    if the shards ran side by side."""
    if not reports:
        raise UsageError("no shard reports to merge")
    first = reports[0]
    seen: set[int] = set()
    for report in reports:
        if dict(report.campaign) != dict(first.campaign):
            raise UsageError(
                f"shard {report.spec.index} ran another campaign than shard {first.spec.index}"
            )
        if (report.spec.count, report.spec.base_seed) != (first.spec.count, first.spec.base_seed):
            raise UsageError(
                f"shard reports of different campaigns: {report.spec.index}/{report.spec.count} "
                f"seed {report.spec.base_seed} vs {first.spec.index}/{first.spec.count} "
                f"seed {first.spec.base_seed}"
            )
        if report.spec.index in seen:
            raise UsageError(f"shard {report.spec.index} is given twice")
        if set(report.coverage.charts) != set(first.coverage.charts):
            raise UsageError("shard reports cover different charts")
        seen.add(report.spec.index)
    coverage = CoverageReport(first.coverage.charts)
    for report in reports:
        coverage.merge(report.coverage)
    wall = seconds if seconds is not None else max(r.seconds for r in reports)
    ordered = tuple(sorted(reports, key=lambda r: r.spec.index))
    return ShardedResult(first.campaign, first.spec.count, ordered, coverage, wall)
