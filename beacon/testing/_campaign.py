"""The Hypothesis campaign: random interleavings of device work and faults, shrunk on failure.

Contract:

* :func:`campaign_machine` returns a ``RuleBasedStateMachine`` class for a
  :class:`~beacon.testing._world.CampaignConfig`. Each example builds a fresh
  :class:`~beacon.testing._world.World` in a temporary directory; each rule draws one
  :class:`~beacon.testing._faults.CampaignStep` and applies it; every example ends with a
  quiet period (``settle``) in ``teardown`` unless a step already failed. Rules: ``edit``,
  ``delete``, ``sync``, ``crash``, ``advance_clock``, ``fault`` (every fault of the
  vocabulary, drawn as data so a shrunk example names the fault and its arguments) and ``settle``.
* :func:`run_campaign` runs the machine under Hypothesis with an explicit seed and, by default,
  no example database, so the same arguments give the same examples and the same result, and
  returns a :class:`CampaignResult`: pass or the shrunk failure as a
  :class:`~beacon.testing._replay.ReplayFile`, the coverage, and the speed. With a
  ``database``, the failures saved there by any earlier run of the same configuration (another
  seed or shard included) are replayed first, and a new failure is saved there; the key
  (:func:`database_key`) names the configuration and the step count, never the seed.
* :func:`replay` runs a replay file's steps on a fresh world, without Hypothesis, and reports
  the first failure (or none).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from beacon.charts import Trace
from beacon.testing._chart_harness import describe_failure
from beacon.testing._collector import campaign_pace
from beacon.testing._coverage_report import CoverageReport, sync_chart_report
from beacon.testing._database import DatabaseUnavailable, Namespaced
from beacon.testing._faults import (
    BACKOFF_HEADERS,
    FXA_PATHS,
    NETWORK_FAULTS,
    RULES,
    SIGN_IN_CODES,
    CampaignStep,
)
from beacon.testing._html_report import ReportRecorder, TimelinePoint, coverage_goals
from beacon.testing._replay import Failure, ReplayFile
from beacon.testing._world import CampaignConfig, World, scratch_dir

__all__ = [
    "CampaignResult",
    "ReplayResult",
    "campaign_machine",
    "database_key",
    "describe",
    "fault_steps",
    "replay_campaign",
    "run_campaign",
]


FAULT_RULES = frozenset(name for name, spec in RULES.items() if spec.kind == "fault")


def _step(
    rule_name: str, **args: st.SearchStrategy[Any]
) -> tuple[str, st.SearchStrategy[CampaignStep]]:
    names = sorted(args)
    strategy = st.tuples(*(args[n] for n in names)).map(
        lambda values: CampaignStep(rule_name, dict(zip(names, values, strict=True)))
    )
    return rule_name, strategy


#: Faults of the service, the network and the account; the other faults are another device's.
SERVICE_FAULTS = frozenset(
    {
        "revoke_token",
        "expire_token",
        "move_node",
        "unavailable",
        "unauthorized",
        "backoff_header",
        "network_error",
        "race",
        "password_reset",
        "sign_in_again",
        "fxa_expire_access_token",
        "fxa_revoke_session",
        "fxa_password_changed_elsewhere",
        "fxa_throttle",
        "fxa_unverified",
        "fxa_require_totp",
        "fxa_block_login",
        "fxa_email_case",
    }
)


OTHER_DEVICE_FAULTS = FAULT_RULES - SERVICE_FAULTS


def fault_steps(
    config: CampaignConfig, *, only: frozenset[str] | None = None
) -> st.SearchStrategy[CampaignStep]:
    """The faults of the vocabulary (those in ``only``, if given) enabled by ``config``, with
    their arguments, as one strategy."""
    device = st.integers(0, config.devices - 1)
    engine = st.sampled_from(config.engines)
    record = st.sampled_from(config.records)
    paths: list[str | None] = [None, "info/collections", "storage/meta", "storage/crypto"]
    paths += [f"storage/{e}" for e in config.engines] + ["1.0/sync"]
    candidates = [
        _step("revoke_token"),
        _step("expire_token"),
        _step("rotate_keys", engine=st.none() | engine),
        _step("move_node"),
        _step(
            "unavailable",
            count=st.integers(1, 3),
            retry_after=st.sampled_from([5, 60]),
            path=st.sampled_from(paths),
        ),
        _step("unauthorized", count=st.integers(1, 3), path=st.sampled_from(paths)),
        _step(
            "backoff_header",
            count=st.integers(1, 2),
            seconds=st.sampled_from([30, 120]),
            header=st.sampled_from(BACKOFF_HEADERS),
        ),
        _step(
            "network_error",
            device=device,
            after=st.integers(1, 4),
            kind=st.sampled_from(NETWORK_FAULTS),
        ),
        _step("race", device=device, engine=engine),
        _step("fresh_start_elsewhere"),
        _step("change_sync_id", engine=engine),
        _step("decline_elsewhere", engine=engine),
        _step("enable_elsewhere", engine=engine),
        _step("storage_version", version=st.sampled_from([4, 6])),
        _step("delete_meta_global"),
        _step("delete_crypto_keys"),
        _step("foreign_keys"),
        _step("bad_hmac", engine=engine, record=st.sampled_from(["bad0", "bad1"])),
        _step("remote_edit", engine=engine, record=record, value=st.integers(0, 3)),
        _step("remote_delete", engine=engine, record=record),
        _step("password_reset"),
        _step("sign_in_again", device=device, codes=st.sampled_from(SIGN_IN_CODES)),
        _step("fxa_expire_access_token"),
        _step("fxa_revoke_session"),
        _step("fxa_password_changed_elsewhere", password=st.integers(1, 3)),
        _step(
            "fxa_throttle",
            count=st.integers(1, 2),
            retry_after=st.sampled_from([5, 60]),
            path=st.sampled_from(FXA_PATHS),
        ),
        _step("fxa_unverified"),
        _step("fxa_require_totp"),
        _step("fxa_block_login"),
        _step("fxa_email_case"),
    ]
    enabled = [
        (name, s)
        for name, s in candidates
        if config.enabled(name) and (only is None or name in only)
    ]
    assert {name for name, _ in candidates} == {n for n, r in RULES.items() if r.kind == "fault"}
    return st.one_of(*(s for _, s in enabled)) if enabled else st.nothing()


@dataclass
class _Recorder:
    """What the runs of one campaign saw: coverage, counts, the last failure."""

    config: CampaignConfig
    coverage: CoverageReport
    examples: int = 0
    steps: int = 0
    runs: int = 0
    transitions: int = 0
    failure: ReplayFile | None = None
    on_example: Callable[[int], None] | None = None
    shrink_runs: int | None = None
    #: How often each rule was drawn, over every example (for the report's goals).
    rules: Counter[str] = field(default_factory=Counter)

    @property
    def exhausted(self) -> bool:
        """Whether the shrinking budget is spent (examples then pass without running)."""
        return self.failure is not None and self.shrink_runs is not None and self.shrink_runs <= 0

    def add_trace(self, trace: Trace) -> None:
        self.coverage.add_trace(trace)

    def finish(self, world: World) -> None:
        self.examples += 1
        self.steps += len(world.steps)
        self.runs += world.runs
        self.transitions += world.transitions
        self.rules.update(step.rule for step in world.steps)
        if self.on_example is not None:
            self.on_example(self.examples)

    def fail(self, world: World, exc: BaseException) -> None:
        self.failure = ReplayFile(
            seed=self.config.seed,
            devices=self.config.devices,
            engines=self.config.engines,
            steps=tuple(world.steps),
            failure=describe(exc, step=len(world.steps) - 1),
            trace=None if world.last_trace is None else world.last_trace.to_json(),
            accounts=self.config.accounts,
            typed=self.config.typed,
        )


def describe(exc: BaseException, *, step: int) -> Failure:
    """A secret-free description of what failed: an invariant's own message, a beacon error's
    kind and message (the error tree never carries secrets), or else the exception type and
    the place it was raised."""
    invariant, message = describe_failure(exc)
    return Failure(invariant, message, step)


class _CampaignBase(RuleBasedStateMachine):
    """The rules; :func:`campaign_machine` binds a config and a recorder to a subclass."""

    config: ClassVar[CampaignConfig]
    recorder: ClassVar[_Recorder]

    def __init__(self) -> None:
        super().__init__()
        rec = self.recorder
        if rec.failure is not None and rec.shrink_runs is not None:
            rec.shrink_runs -= 1
        self._ok = True
        self.world: World | None = None
        # Once the shrinking budget is spent, examples pass without building anything, so
        # Hypothesis stops shrinking and the smallest failure so far stands (deterministic:
        # the budget counts runs, not seconds).
        if not rec.exhausted:
            self._dir = scratch_dir("beacon-explore-")
            self.world = World(self.config, self._dir, on_trace=rec.add_trace)

    def _apply(self, step: CampaignStep) -> None:
        world = self.world
        if world is None:
            return
        try:
            world.apply(step)
        except BaseException as exc:
            self._ok = False
            self.recorder.fail(world, exc)
            raise

    def teardown(self) -> None:
        world = self.world
        if world is None:
            return
        try:
            if self._ok:
                self._apply(CampaignStep("settle"))
        finally:
            self.recorder.finish(world)
            world.close()
            shutil.rmtree(self._dir, ignore_errors=True)


def campaign_machine(
    config: CampaignConfig, recorder: _Recorder | None = None
) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` class running ``config`` (see the module docstring)."""
    rec = recorder or _Recorder(config, sync_chart_report())
    device = st.integers(0, config.devices - 1)
    engine = st.sampled_from(config.engines)
    record = st.sampled_from(config.records)

    class Campaign(_CampaignBase):
        @initialize()
        def connect(self) -> None:
            """Every device signs in and syncs once: the first sets the account's storage
            up, the others adopt it. Rules then start from connected devices."""
            for index in range(config.devices):
                self._apply(CampaignStep("sync", {"device": index}))

        @rule(device=device, engine=engine, record=record, value=st.integers(0, 9))
        @precondition(lambda self: self.config.enabled("edit"))
        def edit(self, device: int, engine: str, record: str, value: int) -> None:
            self._apply(
                CampaignStep(
                    "edit", {"device": device, "engine": engine, "record": record, "value": value}
                )
            )

        @rule(device=device, engine=engine, record=record)
        @precondition(lambda self: self.config.enabled("delete"))
        def delete(self, device: int, engine: str, record: str) -> None:
            self._apply(
                CampaignStep("delete", {"device": device, "engine": engine, "record": record})
            )

        @rule(device=device)
        @precondition(lambda self: self.config.enabled("sync"))
        def sync(self, device: int) -> None:
            self._apply(CampaignStep("sync", {"device": device}))

        @rule(device=device, at=st.sampled_from(range(1, config.crash_max + 1)))
        @precondition(lambda self: self.config.enabled("crash"))
        def crash(self, device: int, at: int) -> None:
            self._apply(CampaignStep("crash", {"device": device, "at": at}))

        @rule(seconds=st.sampled_from([1, 30, 301, 3700]))
        @precondition(lambda self: self.config.enabled("advance_clock"))
        def advance_clock(self, seconds: int) -> None:
            self._apply(CampaignStep("advance_clock", {"seconds": seconds}))

        @rule(step=fault_steps(config, only=SERVICE_FAULTS))
        @precondition(lambda self: any(self.config.enabled(n) for n in SERVICE_FAULTS))
        def fault(self, step: CampaignStep) -> None:
            """A fault of the service, the network or the account."""
            self._apply(step)

        @rule(step=fault_steps(config, only=OTHER_DEVICE_FAULTS))
        @precondition(lambda self: any(self.config.enabled(n) for n in OTHER_DEVICE_FAULTS))
        def elsewhere(self, step: CampaignStep) -> None:
            """What another device does to the account's storage."""
            self._apply(step)

        @rule()
        @precondition(lambda self: self.config.enabled("settle"))
        def settle(self) -> None:
            self._apply(CampaignStep("settle"))

    Campaign.config = config
    Campaign.recorder = rec
    Campaign.__name__ = Campaign.__qualname__ = "Campaign"
    return Campaign


@dataclass
class CampaignResult:
    """What :func:`run_campaign` found."""

    passed: bool
    examples: int
    steps: int
    runs: int
    transitions: int
    seconds: float
    coverage: CoverageReport
    failure: ReplayFile | None = None
    #: Where the campaign stood after each example (the report's plots).
    timeline: tuple[TimelinePoint, ...] = ()

    @property
    def transitions_per_second(self) -> float:
        """Chart transitions taken per wall-clock second, whole stack in-process."""
        return self.transitions / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """Counts, speed, the failure (if any) and the coverage, for ``--json``."""
        return {
            "passed": self.passed,
            "examples": self.examples,
            "steps": self.steps,
            "runs": self.runs,
            "transitions": self.transitions,
            "seconds": round(self.seconds, 3),
            "transitions_per_second": round(self.transitions_per_second, 1),
            "failure": None if self.failure is None else self.failure.to_json(),
            "coverage": self.coverage.to_json(),
        }


def database_key(config: CampaignConfig, *, steps: int) -> bytes:
    """The example-database namespace of a campaign: its search space (devices, engines,
    records, rules, crash bound) and step count, not its seed, so every seed and shard of one
    campaign shares its failures and two different campaigns never replay each other's."""
    space = {
        "campaign": "beacon.sync",
        "devices": config.devices,
        "engines": list(config.engines),
        "records": list(config.records),
        "rules": None if config.rules is None else sorted(config.rules),
        "crash_max": config.crash_max,
        "accounts": config.accounts,
        "typed": config.typed,
        "steps": steps,
    }
    digest = hashlib.sha256(json.dumps(space, sort_keys=True).encode()).hexdigest()[:24]
    return f"beacon-campaign-{digest}".encode()


def run_campaign(
    *,
    examples: int = 60,
    steps: int = 20,
    seed: int = 0,
    config: CampaignConfig | None = None,
    parent: settings | None = None,
    shrink: bool = True,
    shrink_runs: int | None = 200,
    on_example: Callable[[int], None] | None = None,
    report: Path | None = None,
    live: bool = False,
    on_progress: Callable[[TimelinePoint], None] | None = None,
    database: ExampleDatabase | None = None,
) -> CampaignResult:
    """Run a campaign; see the module docstring. ``parent`` supplies Hypothesis settings
    (a test profile, say) that this function's own choices override. ``report`` is an HTML
    page written when the campaign ends (``live``: also while it runs, see
    :mod:`beacon.testing._html_report`); ``on_progress`` sees the timeline point of every
    finished example. ``database`` shares failures between runs
    (:mod:`beacon.testing._database` opens one from a URL)."""
    cfg = dataclasses.replace(config or CampaignConfig(), seed=seed)
    recorder = _Recorder(cfg, sync_chart_report(), on_example=on_example, shrink_runs=shrink_runs)
    timeline = _timeline(recorder, report, live, on_progress, examples=examples, steps=steps)
    machine = hypothesis_seed(seed)(campaign_machine(cfg, recorder))
    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)
    if database is not None:
        phases = (Phase.reuse, *phases)
        database = Namespaced(database, database_key(cfg, steps=steps))
    chosen = settings(
        parent or settings.default,
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=database,
        phases=phases,
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    started = time.perf_counter()
    passed = True
    try:
        with campaign_pace():
            run_state_machine_as_test(machine, settings=chosen)
    except DatabaseUnavailable:
        raise  # the store failed, not the client: no result to report
    except Exception:
        passed = False
    result = CampaignResult(
        passed=passed,
        examples=recorder.examples,
        steps=recorder.steps,
        runs=recorder.runs,
        transitions=recorder.transitions,
        seconds=time.perf_counter() - started,
        coverage=recorder.coverage,
        failure=None if passed else recorder.failure,
        timeline=tuple(timeline.timeline),
    )
    _finish_report(timeline, result, recorder)
    return result


def _timeline(
    recorder: _Recorder,
    report: Path | None,
    live: bool,
    on_progress: Callable[[TimelinePoint], None] | None,
    *,
    examples: int,
    steps: int,
) -> ReportRecorder:
    """A report recorder sampling ``recorder`` after each example (before its own hook)."""
    from beacon.charts import load_chart

    charts = {name: load_chart(name) for name in recorder.coverage.charts} if report else {}
    seed = recorder.config.seed
    title = f"beacon explore: seed {seed}, {examples} examples of up to {steps} steps"
    timeline = ReportRecorder(
        recorder.coverage, path=report, title=title, charts=charts, live=live, on_point=on_progress
    )
    then = recorder.on_example

    def sample(n: int) -> None:
        timeline.sample(examples=n, transitions=recorder.transitions)
        if then is not None:
            then(n)

    recorder.on_example = sample
    return timeline


def _finish_report(timeline: ReportRecorder, result: CampaignResult, recorder: _Recorder) -> None:
    """The final page: goals (every invariant held, every chart's transitions, every enabled
    rule drawn), and the shrunk failure with its last run's trace."""
    if timeline.path is None:
        return
    enabled = [name for name in RULES if recorder.config.enabled(name)]
    undrawn = [name for name in enabled if not recorder.rules[name]]
    goals = {"every invariant held": result.passed, **coverage_goals(result.coverage)}
    drawn = "every enabled rule drawn at least once"
    goals[drawn + (f" (never: {', '.join(undrawn)})" if undrawn else "")] = not undrawn
    found = result.failure
    if found is None or found.failure is None:
        message = None if result.passed else "the campaign failed outside any step"
        timeline.finish(goals=goals, failure_message=message)
        return
    timeline.finish(
        goals=goals,
        failure_message=f"[{found.failure.invariant}] at step {found.failure.step + 1} of "
        f"{len(found.steps)}: {found.failure.message}",
        failure_steps=[str(step) for step in found.steps],
        failure_step=found.failure.step,
        failure_trace=None if found.trace is None else Trace.from_json(found.trace),
    )


@dataclass
class ReplayResult:
    """What re-running a replay file did: the failure it met (None: every step passed)."""

    failure: Failure | None
    steps: int
    trace: Trace | None
    coverage: CoverageReport


def replay_campaign(
    recorded: ReplayFile,
    *,
    workdir: Path | None = None,
    on_step: Callable[[int, CampaignStep], None] | None = None,
) -> ReplayResult:
    """Run ``recorded``'s steps on a fresh world (see the module docstring)."""
    cfg = CampaignConfig(
        seed=recorded.seed,
        devices=recorded.devices,
        engines=recorded.engines,
        accounts=recorded.accounts,
        typed=recorded.typed,
    )
    report = sync_chart_report()
    base = workdir or scratch_dir("beacon-replay-")
    world = World(cfg, base, on_trace=report.add_trace)
    failure: Failure | None = None
    done = 0
    try:
        steps: Sequence[CampaignStep] = recorded.steps
        for index, step in enumerate(steps):
            if on_step is not None:
                on_step(index, step)
            try:
                world.apply(step)
            except Exception as exc:
                failure = describe(exc, step=index)
                break
            done = index + 1
    finally:
        world.close()
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    return ReplayResult(failure, done, world.last_trace, report)
