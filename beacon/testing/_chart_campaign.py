"""A Hypothesis campaign over any chart, guided by chart coverage, shrunk to a replay file.

Contract:

* :func:`run_chart_campaign` runs ``examples`` examples of
  :class:`~beacon.testing._chart_harness.Example` under Hypothesis (``@given(st.data())``,
  an explicit seed), so the same arguments give the same result. With an example
  ``database`` (a directory, Redis: what the shards share), a campaign first replays the
  failures saved there by campaigns of the same chart, services, invariants and budget, and
  saves the one it finds; the saved form is the replay log (see :func:`_saved_failure`).
* **Coverage goals** are every transition of the chart, every answer of every service guard
  (``guard:<name>=true|false``), and every (state, fault) pair: ``crash:<state>`` for each
  atomic state, and ``forced:<state>`` for each state whose entry action a real service runs
  (its outcome forced). Each goal an example reaches is reported with ``hypothesis.event()``,
  and the number it reaches steers the search through ``hypothesis.target()``.
* **Guided** (the default): an example may first follow the shortest path to a goal not yet
  covered (``_chart_guide.py``), then go on at random. The campaign runs in rounds of
  ``round_size`` examples, each its own Hypothesis run with the list of uncovered goals
  fixed at its start: Hypothesis requires an example's draws to depend on its own choices
  only, so the list may change between rounds, never within one (shrinking included). The
  blind campaign (``guided=False``) runs the same rounds without the guide.
* **Sometimes goals** the chart declares (``beacon.charts`` ``_goals.py``) must each be met by
  some example; a campaign that misses one fails and names it.
* A failure is shrunk by Hypothesis and returned as a :class:`ChartReplay`: the log of every
  decision of the shrunk example (``_choices.py``), its steps in words, the failure and the
  last run's trace. :func:`replay_chart_campaign` runs it again without Hypothesis.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, event, given, settings, target
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase

from beacon._errors import UsageError
from beacon.charts import Chart, Goal, Trace, child_chart_of, goals_met, read_goals
from beacon.testing._chart_guide import Guide
from beacon.testing._chart_harness import ChartSetup, Example, describe_failure
from beacon.testing._choices import Chooser, DataChooser, ReplayChooser, ReplayDiverged
from beacon.testing._coverage_report import CoverageReport
from beacon.testing._html_report import ReportRecorder, TimelinePoint
from beacon.testing._replay import Failure

__all__ = [
    "CHART_REPLAY_FORMAT",
    "ChartCampaignResult",
    "ChartReplay",
    "ChartReplayResult",
    "goal_universe",
    "load_chart_replay",
    "parse_chart_replay",
    "replay_chart_campaign",
    "run_chart_campaign",
]

CHART_REPLAY_FORMAT = "beacon-chart-replay"
CHART_REPLAY_VERSION = 1


@dataclass(frozen=True)
class ChartReplay:
    """A recorded example of a chart campaign: every decision, in order."""

    chart: str
    digest: str
    seed: int
    steps: int
    log: tuple[tuple[str, Any], ...]
    description: tuple[str, ...]
    failure: Failure | None
    trace: dict[str, Any] | None = None
    services: str | None = None
    invariants: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The replay file's JSON object."""
        return {
            "format": CHART_REPLAY_FORMAT,
            "version": CHART_REPLAY_VERSION,
            "chart": self.chart,
            "digest": self.digest,
            "seed": self.seed,
            "steps": self.steps,
            "services": self.services,
            "invariants": self.invariants,
            "log": [list(entry) for entry in self.log],
            "description": list(self.description),
            "failure": None if self.failure is None else self.failure.to_json(),
            "trace": self.trace,
        }

    def save(self, path: str | Path) -> Path:
        """Write the replay file (JSON)."""
        out = Path(path)
        out.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")
        return out


def load_chart_replay(path: str | Path) -> ChartReplay:
    """Read a chart replay file; a malformed one is a :class:`~beacon.UsageError`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read replay file {path}: {exc}") from None
    return parse_chart_replay(data, where=str(path))


def parse_chart_replay(data: object, *, where: str = "chart replay") -> ChartReplay:
    """A chart replay from its JSON object; a malformed one is a :class:`~beacon.UsageError`."""
    path = where
    if not isinstance(data, dict) or data.get("format") != CHART_REPLAY_FORMAT:
        raise UsageError(f"{path} is not a chart replay file ({CHART_REPLAY_FORMAT})")
    if data.get("version") != CHART_REPLAY_VERSION:
        raise UsageError(f"{path}: unsupported chart replay version {data.get('version')!r}")
    try:
        log = tuple((str(k), v) for k, v in data["log"])
        failure = data.get("failure")
        return ChartReplay(
            chart=str(data["chart"]),
            digest=str(data["digest"]),
            seed=int(data["seed"]),
            steps=int(data["steps"]),
            log=log,
            description=tuple(str(d) for d in data.get("description", [])),
            failure=None
            if failure is None
            else Failure(str(failure["invariant"]), str(failure["message"]), int(failure["step"])),
            trace=data.get("trace"),
            services=data.get("services"),
            invariants=data.get("invariants"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed chart replay file ({exc})") from None


def _child_charts(setup: ChartSetup, probe: Example) -> dict[str, Chart]:
    """The charts the bound services' nesting actions run, by name."""
    out: dict[str, Chart] = {}
    for binding in probe.bindings.values():
        if binding.chart is not None:
            child = child_chart_of(setup.chart.path, binding.chart)
            out[child.name] = child
    return out


def goal_universe(setup: ChartSetup, probe: Example) -> list[str]:
    """Every coverage goal of the chart (see the module docstring), in a fixed order;
    ``probe`` is an example built on the setup's services (what they bind and declare)."""
    s = setup.chart.structure
    outcomes = probe.outcomes
    goals = [f"transition:{t.id}" for t in s.transitions]
    bound = {n for n, b in probe.bindings.items() if b.chart is None}
    for name in sorted(s.guards()):
        goals += [f"guard:{name}=false", f"guard:{name}=true"]
    finals = set(s.finals)
    leaves = [
        leaf for leaf in s.leaves() if leaf not in finals and s.states[leaf].parent not in finals
    ]
    if setup.crash:
        goals += [f"crash:{leaf}" for leaf in leaves]
    if setup.force:
        goals += [
            f"forced:{leaf}"
            for leaf in leaves
            if any(a in bound and outcomes.get(a) for a in s.states[leaf].enter)
        ]
    return goals


def _start(
    setup: ChartSetup, chooser: Chooser, guide: Guide | None, uncovered: Sequence[str]
) -> Example:
    """An example, perhaps following the guide to one of the ``uncovered`` goals."""
    path: tuple[Any, ...] = ()
    crash_goal = False
    if guide is not None and uncovered and chooser.pick("guide", [False, True]):
        goal = chooser.pick("goal", list(uncovered))
        path = guide.path(goal)
        crash_goal = goal.startswith("crash:")
    return Example(setup, chooser, path, crash_goal=crash_goal)


@dataclass
class _Recorder:
    setup: ChartSetup
    guide: Guide | None
    universe: list[str]
    coverage: CoverageReport
    sometimes: tuple[Goal, ...]
    seed: int
    services_spec: str | None
    invariants_spec: str | None
    hits: Counter[str] = field(default_factory=Counter)
    met: set[str] = field(default_factory=set)
    examples: int = 0
    steps: int = 0
    runs: int = 0
    transitions: int = 0
    first_full: int | None = None
    failure: ChartReplay | None = None
    shrink_runs: int | None = None
    started: float = field(default_factory=time.perf_counter)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    on_example: Callable[[int], None] | None = None

    @property
    def exhausted(self) -> bool:
        return self.failure is not None and self.shrink_runs is not None and self.shrink_runs <= 0

    def uncovered(self) -> list[str]:
        if self.guide is None:
            return []
        return [g for g in self.guide.goals if not self.hits[g]]

    def reachable_transitions_covered(self) -> bool:
        if self.guide is None:
            reachable = [g for g in self.universe if g.startswith("transition:")]
        else:
            reachable = [g for g in self.guide.goals if g.startswith("transition:")]
        return all(self.hits[g] for g in reachable)

    def finish(self, example: Example) -> None:
        self.examples += 1
        self.steps += example.turns
        self.runs += len(example.traces)
        self.transitions += example.transitions
        hit = example.goals_hit
        for goal in sorted(hit):
            event(goal)
        target(float(len(hit)), label="coverage goals reached by one example")
        self.hits.update(hit)
        self.coverage.add_traces(example.traces)
        if self.sometimes:
            self.met |= goals_met(self.sometimes, self.setup.chart.structure, example.traces)
        if self.first_full is None and self.reachable_transitions_covered():
            self.first_full = self.examples
        covered = {name: self.coverage.taken(name) for name in self.coverage.charts}
        self.timeline.append(
            {
                "examples": self.examples,
                "seconds": round(time.perf_counter() - self.started, 4),
                "transitions": self.transitions,
                "covered": covered,
                "goals": sum(1 for g in self.universe if self.hits[g]),
            }
        )
        if self.on_example is not None:
            self.on_example(self.examples)

    def fail(self, example: Example, exc: BaseException) -> None:
        kind, message = describe_failure(exc)
        last = example.traces[-1] if example.traces else None
        if example.machine is not None and (last is None or last is not example.machine.trace):
            last = example.machine.trace
        self.failure = ChartReplay(
            chart=str(self.setup.chart.path),
            digest=self.setup.chart.digest,
            seed=self.seed,
            steps=self.setup.steps,
            log=tuple((str(k), v) for k, v in example.chooser.log),
            description=tuple(example.steps),
            failure=Failure(kind, message, max(len(example.steps) - 1, 0)),
            trace=None if last is None else last.to_json(),
            services=self.services_spec,
            invariants=self.invariants_spec,
        )


@dataclass
class ChartCampaignResult:
    """What :func:`run_chart_campaign` found."""

    chart: str
    passed: bool
    guided: bool
    examples: int
    steps: int
    runs: int
    transitions: int
    seconds: float
    coverage: CoverageReport
    goals: dict[str, int]
    sometimes: dict[str, bool]
    first_full: int | None
    timeline: list[dict[str, Any]]
    failure: ChartReplay | None = None

    @property
    def missed_goals(self) -> list[str]:
        """The declared sometimes goals no example met."""
        return [name for name, met in self.sometimes.items() if not met]

    @property
    def transitions_per_second(self) -> float:
        """Chart transitions taken per wall-clock second."""
        return self.transitions / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """Counts, speed, goals, the failure (if any) and the coverage, for ``--json``."""
        return {
            "chart": self.chart,
            "passed": self.passed,
            "guided": self.guided,
            "examples": self.examples,
            "steps": self.steps,
            "runs": self.runs,
            "transitions": self.transitions,
            "seconds": round(self.seconds, 3),
            "transitions_per_second": round(self.transitions_per_second, 1),
            "examples_to_full_transition_coverage": self.first_full,
            "goals": {
                "total": len(self.goals),
                "covered": sum(1 for n in self.goals.values() if n),
                "uncovered": [g for g, n in self.goals.items() if not n],
            },
            "sometimes": self.sometimes,
            "missed_goals": self.missed_goals,
            "failure": None if self.failure is None else self.failure.to_json(),
            "coverage": self.coverage.to_json(),
        }


def _database_key(setup: ChartSetup, spec: str | None, invariants: str | None = None) -> bytes:
    """Failures are shared between campaigns of the same chart, services, invariants and
    budget only, never between two versions of the chart."""
    parts = [
        "beacon-chart-failures",
        setup.chart.digest,
        spec or "",
        invariants or "",
        str(setup.steps),
        str(setup.crash),
        str(setup.force),
    ]
    return hashlib.sha256("\0".join(parts).encode()).digest()


def _saved_failure(database: ExampleDatabase, key: bytes, setup: ChartSetup) -> ChartReplay | None:
    """The first failure saved under ``key`` that still fails; stale ones are deleted.

    The saved form is the replay log, not Hypothesis's choice sequence: a guided example's
    decisions depend on the goals its campaign had not yet covered, which another shard (or a
    later run) does not share, while a replay log gives back every decision as it was taken.
    """
    for value in sorted(database.fetch(key)):
        try:
            recorded = parse_chart_replay(json.loads(value.decode()))
            again = replay_chart_campaign(recorded, setup)
        except (UsageError, ValueError, UnicodeDecodeError):
            database.delete(key, value)
            continue
        if again.failure is not None:
            return ChartReplay(**{**recorded.__dict__, "failure": again.failure})
        database.delete(key, value)
    return None


def _round(
    recorder: _Recorder,
    setup: ChartSetup,
    guide: Guide | None,
    chosen: settings,
    size: int,
    seed: int,
    services_spec: str | None,
) -> None:
    """One round: ``size`` examples under one fixed list of uncovered goals (Hypothesis
    requires an example's draws to depend on its own choices only)."""
    uncovered = recorder.uncovered()

    @given(st.data())
    def campaign(data: st.DataObject) -> None:
        if recorder.exhausted:
            return
        chooser = DataChooser(data)
        example = _start(setup, chooser, guide, uncovered)
        if recorder.failure is not None and recorder.shrink_runs is not None:
            recorder.shrink_runs -= 1
        try:
            example.run()
        except Exception as exc:
            recorder.fail(example, exc)
            raise
        finally:
            recorder.finish(example)

    hypothesis_seed(seed)(settings(chosen, max_examples=size)(campaign))()


def run_chart_campaign(
    setup: ChartSetup,
    *,
    examples: int = 100,
    seed: int = 0,
    guided: bool = True,
    database: ExampleDatabase | None = None,
    shrink: bool = True,
    shrink_runs: int | None = 200,
    on_example: Callable[[int], None] | None = None,
    round_size: int = 10,
    until_covered: bool = False,
    report: Path | None = None,
    live: bool = False,
    on_progress: Callable[[TimelinePoint], None] | None = None,
    services_spec: str | None = None,
    invariants_spec: str | None = None,
    parent: settings | None = None,
) -> ChartCampaignResult:
    """Run a campaign over ``setup.chart`` (see the module docstring).

    ``until_covered`` ends the campaign after the round in which every transition the guide
    can reach was taken (to measure how many examples that takes). ``report`` writes the
    HTML campaign report there (``live``: rewritten while the campaign runs); ``on_progress``
    gets a timeline point after every example.
    """
    chart = setup.chart
    # One example built and bound, not run: misfit services fail here, not as a finding, and
    # it says what the services bind and declare.
    probe = Example(setup, ReplayChooser(()))
    probe.check()
    guide = Guide(chart.structure, probe.outcomes) if guided else None
    children = _child_charts(setup, probe)
    charts = {chart.name: chart.structure}
    charts.update({c.name: c.structure for c in children.values()})
    universe = goal_universe(setup, probe)
    recorder = _Recorder(
        setup=setup,
        guide=guide,
        universe=universe,
        coverage=CoverageReport(charts),
        sometimes=read_goals(chart.structure),
        seed=seed,
        services_spec=services_spec,
        invariants_spec=invariants_spec,
        shrink_runs=shrink_runs,
        on_example=on_example,
    )

    charts_by_name = {chart.name: chart, **children}
    title = f"beacon explore --chart {chart.path.name}: seed {seed}, {examples} examples"
    timeline = ReportRecorder(
        recorder.coverage,
        path=report,
        title=title,
        charts=charts_by_name if report is not None else {},
        live=live,
        on_point=on_progress,
    )
    then = recorder.on_example

    def sample(n: int) -> None:
        timeline.sample(examples=n, transitions=recorder.transitions)
        if then is not None:
            then(n)

    recorder.on_example = sample
    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)
    chosen = settings(
        parent or settings.default,
        deadline=None,
        database=None,
        phases=phases,
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    started = time.perf_counter()
    failed = False
    done = 0
    key = _database_key(setup, services_spec, invariants_spec)
    if database is not None:
        saved = _saved_failure(database, key, setup)
        if saved is not None:
            recorder.failure = saved
            failed = True
            done = examples
    for index in itertools.count():
        if done >= examples or (until_covered and recorder.first_full is not None):
            break
        size = min(round_size, examples - done)
        before = recorder.examples
        try:
            _round(recorder, setup, guide, chosen, size, seed * 7919 + index, services_spec)
        except Exception as exc:
            if recorder.failure is None:
                raise UsageError(
                    f"the campaign could not run {chart.path}: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''} (are the services "
                    "deterministic? each example must do the same for the same decisions)"
                ) from exc
            failed = True
            break
        # Hypothesis stops early when a round's space is exhausted; count what it ran.
        done += max(size, recorder.examples - before) if recorder.examples > before else size
    if failed and database is not None and recorder.failure is not None:
        database.save(key, json.dumps(recorder.failure.to_json(), sort_keys=True).encode())
    sometimes = {g.name: g.name in recorder.met for g in recorder.sometimes}
    result = ChartCampaignResult(
        chart=chart.name,
        passed=not failed and all(sometimes.values()),
        guided=guided,
        examples=recorder.examples,
        steps=recorder.steps,
        runs=recorder.runs,
        transitions=recorder.transitions,
        seconds=time.perf_counter() - started,
        coverage=recorder.coverage,
        goals={g: recorder.hits[g] for g in universe},
        sometimes=sometimes,
        first_full=recorder.first_full,
        timeline=recorder.timeline,
        failure=recorder.failure if failed else None,
    )
    _finish_report(timeline, result)
    return result


def _finish_report(timeline: ReportRecorder, result: ChartCampaignResult) -> None:
    """The final page: every coverage goal kind and sometimes goal, and the shrunk failure."""
    if timeline.path is None:
        return
    goals: dict[str, bool] = {"every invariant held": result.failure is None}
    for kind in ("transition", "guard", "crash", "forced"):
        names = [g for g in result.goals if g.startswith(kind + ":")]
        if names:
            missed = [g.partition(":")[2] for g in names if not result.goals[g]]
            label = f"every {kind} goal reached ({len(names) - len(missed)}/{len(names)})"
            goals[label + (f"; never: {', '.join(missed)}" if missed else "")] = not missed
    goals.update({f"sometimes: {name}": met for name, met in result.sometimes.items()})
    found = result.failure
    if found is None or found.failure is None:
        timeline.finish(goals=goals)
        return
    timeline.finish(
        goals=goals,
        failure_message=f"[{found.failure.invariant}] {found.failure.message}",
        failure_steps=found.description,
        failure_step=found.failure.step,
        failure_trace=None if found.trace is None else Trace.from_json(found.trace),
    )


@dataclass
class ChartReplayResult:
    """What re-running a chart replay did: the failure it met (None: it passed)."""

    failure: Failure | None
    description: list[str]
    trace: Trace | None


def replay_chart_campaign(recorded: ChartReplay, setup: ChartSetup) -> ChartReplayResult:
    """Run a recorded example again, decision for decision, without Hypothesis.

    Raises:
        UsageError: the chart is not the one recorded (its digest differs), or the log does
            not fit the run (a service changed what it does).
    """
    if recorded.digest != setup.chart.digest:
        raise UsageError(
            f"the replay was recorded on another version of {setup.chart.path} "
            "(its digest differs); run the campaign again"
        )
    setup = ChartSetup(**{**setup.__dict__, "steps": recorded.steps})
    chooser = ReplayChooser(recorded.log)
    guide = None
    uncovered: list[str] = []
    if recorded.log and recorded.log[0][0] == "guide":
        guide = Guide(setup.chart.structure, Example(setup, ReplayChooser(())).outcomes)
        uncovered = guide.goals
    example = _start(setup, chooser, guide, uncovered)
    failure: Failure | None = None
    try:
        example.run()
    except ReplayDiverged:
        raise
    except Exception as exc:
        kind, message = describe_failure(exc)
        failure = Failure(kind, message, max(len(example.steps) - 1, 0))
    trace = example.machine.trace if example.machine is not None else None
    return ChartReplayResult(failure, list(example.steps), trace)
