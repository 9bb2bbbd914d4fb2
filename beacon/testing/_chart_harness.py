"""One example of a campaign over any chart: a bound machine driven by a chooser.

Contract:

* :class:`ChartSetup` names the chart, a factory of its services (fresh objects per example;
  none: every action and guard is drawn), the invariants and the budget.
* :class:`Example` binds the chart to one *proxy* service that offers every name the chart
  uses. A name a real service offers calls it; a fault may instead force a bound action's
  outcome (drawn from the outcomes it declares). A name no service offers is drawn: an
  action's outcome from the events its states handle, a guard's answer once per step (the
  library may evaluate a guard more than once per selection).
* Each turn sends one of the events the configuration handles (or, in a final state,
  restarts a new run of the chart on the same services), and may crash the machine after
  any of the next few steps: the machine is rebuilt from the snapshot taken after that step,
  on the same services (the world outlives the process), and the run goes on.
* After every step the invariants see a :class:`ChartView`; beacon's own check that a restored
  machine is where the crashed one was runs too. A guide path (``guide``) is followed while
  the chart does what it names (see ``_chart_guide.py``).
* Everything the example decides goes through its :class:`~beacon.testing._choices.Chooser`,
  so its log replays the example exactly.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from beacon._errors import BeaconError, UsageError
from beacon.charts import (
    Binding,
    Chart,
    Machine,
    Step,
    Structure,
    Trace,
    TransitionInfo,
    action,
    bind,
    collect,
    guard,
)
from beacon.testing._choices import Chooser
from beacon.testing._invariants import InvariantViolation
from beacon.testing._walk import _satisfying, inferred_outcomes

__all__ = [
    "CRASH_AT",
    "ChartSetup",
    "ChartView",
    "Example",
    "Invariant",
    "describe_failure",
]

#: Crash after this many steps of the next processing (0: no crash). Shrinks toward 0; drawn
#: uniformly, so the repeated 0 makes six processings in ten run uncrashed.
CRASH_AT: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 1, 2, 3, 5)
#: Not forcing a bound action's outcome (the first option, so examples shrink to no fault).
CALL_SERVICE = ""


@dataclass(frozen=True)
class ChartView:
    """What an invariant sees after a step."""

    chart: Chart
    configuration: frozenset[str]
    datamodel: Mapping[str, Any]
    pending: tuple[str, ...]
    final_state: str | None
    services: tuple[object, ...]
    step: Step


class Invariant(Protocol):
    """A check run after every step: it passes by returning ``None`` or ``True``; returning
    ``False`` or a message, or raising ``AssertionError``, is a failure named after it."""

    def __call__(self, view: ChartView, /) -> object: ...


@dataclass
class ChartSetup:
    """What a chart campaign runs (see the module docstring)."""

    chart: Chart
    services: Callable[[], object] | None = None
    invariants: Sequence[Invariant] = ()
    steps: int = 20
    crash: bool = True
    force: bool = False
    max_steps: int = 1000
    #: With every action drawn, a processing that takes more steps than this ends the example
    #: (drawing, not the chart, chose to go round a loop again and again).
    drawn_steps: int = 200


class _Truncated(Exception):
    """A drawn run went on too long: drawing chose a loop's way round again and again."""


class _Crash(Exception):
    def __init__(self, snapshot: dict[str, Any]) -> None:
        super().__init__("crash")
        self.snapshot = snapshot


def _check_kinds(s: Structure, real: Mapping[str, Any]) -> None:
    """A service's name is used by the chart as what it is: an action with outcomes where a
    state enters it, an effect (no outcomes) elsewhere, a guard in a guard (the proxy binds
    these, so the engine's own binding check would never see the user's mistake)."""
    entered = {n for info in s.states.values() for n in info.enter}
    effects = {n for info in s.states.values() for n in info.exit}
    effects.update(n for t in s.transitions for n in t.actions)
    guards = s.guards()
    problems = []
    for name, binding in sorted(real.items()):
        if name in guards and binding.kind != "guard":
            problems.append(f"{name!r} is a guard in the chart but an @action of {binding.owner}")
        elif name in entered and (binding.kind != "action" or not binding.outcomes):
            problems.append(
                f"{name!r} is entered by a state: {binding.owner} must mark it "
                "@action with its outcomes"
            )
        elif name in effects and (binding.kind != "action" or binding.outcomes):
            problems.append(
                f"{name!r} is an effect in the chart: {binding.owner} must mark it "
                "@action() with no outcomes"
            )
    if problems:
        raise UsageError(f"services do not fit {s.name}: " + "; ".join(problems))


def _as_services(made: object) -> list[object]:
    if isinstance(made, list | tuple):
        return list(made)
    return [made]


class Example:
    """One example: build, drive, check (see the module docstring)."""

    def __init__(
        self,
        setup: ChartSetup,
        chooser: Chooser,
        guide: Sequence[TransitionInfo] = (),
        *,
        crash_goal: bool = False,
    ) -> None:
        self.setup = setup
        self.chart = setup.chart
        self.s = setup.chart.structure
        self.chooser = chooser
        self.services = _as_services(setup.services()) if setup.services is not None else []
        self._real, twice = collect(self.services)
        if twice:
            raise UsageError("services offer a name twice: " + "; ".join(twice))
        _check_kinds(self.s, self._real)
        inferred = inferred_outcomes(self.s)
        self.outcomes: dict[str, tuple[str, ...]] = {
            name: (self._real[name].outcomes if name in self._real else events)
            for name, events in inferred.items()
        }
        self._proxy = self._build_proxy()
        self._path = list(guide)
        self._at = 0
        self._following = bool(self._path) or crash_goal
        self._crash_goal = crash_goal
        self._guards: dict[str, bool] = {}
        self._countdown = 0
        self._run_steps = 0
        self.truncated = False
        self._time = 0.0
        self.machine: Machine | None = None
        self.traces: list[Trace] = []
        self.faults: set[str] = set()
        self.transitions = 0
        #: Events sent and restarts: the example's own steps (outcomes are the chart's).
        self.turns = 0
        self.steps: list[str] = []

    @property
    def bindings(self) -> Mapping[str, Binding]:
        """What the real services offer the chart, by name (drawn names are not in it)."""
        return self._real

    # -- the proxy service ------------------------------------------------------------------

    def _build_proxy(self) -> object:
        namespace: dict[str, Any] = {}
        actions = set(self.outcomes)
        effects = {n for info in self.s.states.values() for n in info.exit}
        effects.update(n for t in self.s.transitions for n in t.actions)
        for name in sorted(actions):
            namespace[name] = self._action_method(name)
        for name in sorted(effects - actions):
            namespace[name] = self._effect_method(name)
        for name in sorted(self.s.guards()):
            namespace[name] = self._guard_method(name)
        return type("CampaignProxy", (), namespace)()

    def _action_method(self, name: str) -> Callable[[object], str]:
        real = self._real.get(name)
        declared = self.outcomes[name]

        def act(_self: object) -> str:
            return self._outcome(name, declared, real.method if real is not None else None)

        if real is not None and real.chart is not None:
            # A nesting action runs its child itself; it is called through, never forced.
            def nest(_self: object) -> str:
                self.steps.append(f"{name}()")
                result: str = real.method()
                return result

            return action(*declared, chart=real.chart, max_steps=real.max_steps)(nest)
        return action(*declared)(act)

    def _effect_method(self, name: str) -> Callable[[object], None]:
        real = self._real.get(name)

        def effect(_self: object) -> None:
            if real is not None:
                real.method()

        return action()(effect)

    def _guard_method(self, name: str) -> Callable[[object], bool]:
        real = self._real.get(name)

        def answer(_self: object) -> bool:
            if real is not None:
                value: bool = real.method()
                return value
            if name not in self._guards:
                wanted = self._guided_guard(name)
                value = self.chooser.pick(f"guard:{name}", [False, True], guided=wanted)
                self._guards[name] = value
                self.steps.append(f"guard {name} = {str(value).lower()}")
            return self._guards[name]

        return guard(answer)

    def _outcome(self, name: str, declared: Sequence[str], real: Callable[[], Any] | None) -> str:
        expected = self._expected()
        wanted = None
        if expected is not None and expected.events and expected.events[0] in declared:
            wanted = expected.events[0]
        if real is None:
            value = self.chooser.pick(f"outcome:{name}", list(declared), guided=wanted)
            self.steps.append(f"{name} -> {value}")
            return value
        if self.setup.force:
            forced = self.chooser.pick(
                f"force:{name}",
                [CALL_SERVICE, *declared],
                guided=CALL_SERVICE if self._following else None,
            )
            if forced != CALL_SERVICE:
                self.faults.add(f"forced:{self._leaf()}")
                self.steps.append(f"{name} -> {forced} (forced)")
                return forced
        value = real()
        self.steps.append(f"{name} -> {value}")
        return cast(str, value)  # anything else is the engine's to refuse, naming the action

    def _leaf(self) -> str:
        m = self.machine
        if m is None:
            return ""
        leaves = [sid for sid in m.configuration if not self.s.states[sid].compound]
        return leaves[-1] if leaves else ""

    # -- the guide --------------------------------------------------------------------------

    def _expected(self) -> TransitionInfo | None:
        """The path's next transition, counting those the current step has already fired."""
        if not self._following:
            return None
        at = self._at
        if self.machine is not None:
            fired = self.machine.firing
            if tuple(t.id for t in self._path[at : at + len(fired)]) != fired:
                return None
            at += len(fired)
        return self._path[at] if at < len(self._path) else None

    def _guided_guard(self, name: str) -> bool | None:
        expected = self._expected()
        if expected is None or self.machine is None:
            return None
        current = self.machine.snapshot()["datamodel"]
        found = _satisfying(self.s, [expected], current)
        return None if found is None else found[1].get(name)

    def _follow(self, step: Step) -> None:
        for tid in step.transitions:
            if not self._following or self._at >= len(self._path):
                return
            if tid != self._path[self._at].id:
                self._following = False
                return
            self._at += 1
        if self._following and self._at >= len(self._path) and self._path:
            self._following = self._crash_goal

    # -- driving ----------------------------------------------------------------------------

    def _clock(self) -> float:
        self._time += 1.0
        return self._time

    def check(self) -> None:
        """Bind once without running: a chart the services do not complete (an outcome no
        transition handles, say) is a ``ChartError`` before any example runs."""
        bind(self.chart, [self._proxy]).close()

    def _bind(self, restore: Mapping[str, Any] | None) -> Machine:
        machine = bind(self.chart, [self._proxy], clock=self._clock, restore=restore)
        machine.add_observer(self._observe)
        self.machine = machine
        return machine

    def _observe(self, step: Step) -> None:
        machine = self.machine
        self._guards.clear()
        if machine is None or not machine.trace.steps or machine.trace.steps[-1] is not step:
            return  # a step of a child chart
        self.transitions += len(step.transitions)
        self._run_steps += 1
        if not self._real and self._run_steps > self.setup.drawn_steps:
            raise _Truncated
        self._follow(step)
        self._check(machine, step)
        crash_now = False
        if self._countdown > 0:
            self._countdown -= 1
            crash_now = self._countdown == 0
        if self._crash_goal and self._following and self._at >= len(self._path):
            self._following = False
            crash_now = machine.final_state is None
        if crash_now and machine.final_state is None:
            raise _Crash(machine.snapshot())

    def _check(self, machine: Machine, step: Step) -> None:
        view = ChartView(
            chart=self.chart,
            configuration=frozenset(machine.configuration),
            datamodel=machine.snapshot()["datamodel"] if self.s.datamodel else {},
            pending=machine.pending,
            final_state=machine.final_state,
            services=tuple(self.services),
            step=step,
        )
        for check in self.setup.invariants:
            name = getattr(check, "__name__", type(check).__name__)
            try:
                verdict = check(view)
            except InvariantViolation:
                raise
            except AssertionError as exc:
                raise InvariantViolation(name, str(exc) or "assertion failed") from exc
            if verdict is False:
                raise InvariantViolation(name, "returned False")
            if isinstance(verdict, str):
                raise InvariantViolation(name, verdict)

    def _process(self, machine: Machine, event: str | None) -> Machine:
        """Start (``event`` None) or send ``event``, crashing where the countdown says."""
        self._run_steps = 0
        crash_options = list(CRASH_AT) if self.setup.crash else [0]
        self._countdown = self.chooser.pick(
            "crash_at",
            crash_options,
            guided=0 if self._following and not self._crash_goal else None,
        )
        try:
            if event is None:
                machine.drain(max_steps=self.setup.max_steps)
            else:
                machine.send(event)
        except _Crash as crash:
            return self._recover(machine, crash.snapshot)
        self._countdown = 0
        return machine

    def _recover(self, crashed: Machine, snapshot: dict[str, Any]) -> Machine:
        self._countdown = 0
        where = [sid for sid in crashed.configuration if not self.s.states[sid].compound]
        self.faults.update(f"crash:{leaf}" for leaf in where)
        self.steps.append(f"crash in {', '.join(where)}")
        self.traces.append(crashed.trace)
        crashed.close()
        machine = self._bind(snapshot)
        machine.start()
        if set(machine.configuration) != set(crashed.configuration):
            raise InvariantViolation(
                "restore",
                f"restored in {sorted(machine.configuration)}, crashed in "
                f"{sorted(crashed.configuration)}",
            )
        if machine.pending:
            return self._process_pending(machine)
        return machine

    def _process_pending(self, machine: Machine) -> Machine:
        self._run_steps = 0
        try:
            machine.drain(max_steps=self.setup.max_steps)
        except _Crash as crash:
            return self._recover(machine, crash.snapshot)
        return machine

    def run(self) -> None:
        """Run the example; raises what failed (an invariant, an engine error, a service's)."""
        try:
            self._run()
        except _Truncated:
            self.truncated = True
            self.steps.append("(truncated: a drawn loop went round too often)")
            if self.machine is not None:
                self.traces.append(self.machine.trace)

    def _run(self) -> None:
        machine = self._process(self._bind(None), None)
        for _ in range(self.setup.steps):
            if machine.final_state is not None:
                if self.chooser.pick("next", ["restart", "stop"]) == "stop":
                    break
                self.traces.append(machine.trace)
                machine.close()
                self.steps.append("restart")
                self.turns += 1
                machine = self._process(self._bind(None), None)
                continue
            events = list(machine.handled_events())
            if not events:
                break
            expected = self._expected()
            wanted = None
            if expected is not None:
                if expected.events and expected.events[0] in events:
                    wanted = expected.events[0]
                else:
                    self._following = False
            event = self.chooser.pick("event", events, guided=wanted)
            self.steps.append(f"send {event}")
            self.turns += 1
            machine = self._process(machine, event)
        self.traces.append(machine.trace)
        machine.close()

    @property
    def goals_hit(self) -> set[str]:
        """The coverage goals this example reached: transitions, guard answers, faults."""
        hit = set(self.faults)
        for trace in self.traces:
            for run in trace.walk():
                for step in run.steps:
                    hit.update(f"transition:{tid}" for tid in step.transitions if run is trace)
                    hit.update(f"guard:{g}={str(v).lower()}" for g, v in step.guards.items())
        return hit


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(kind, message) for a failure, without secrets: an invariant's own words, a beacon
    error's kind and message, or a foreign exception's type and where it was raised."""
    if isinstance(exc, InvariantViolation):
        return exc.invariant, exc.message
    if isinstance(exc, BeaconError):
        return "exception", f"{exc.kind}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return "exception", f"{type(exc).__name__}{where}"
