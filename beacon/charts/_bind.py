"""Binding a chart to service objects, and running it.

Contract: the only place a chart meets code. Actions and guards bind by name to methods marked
``@action``/``@guard`` on the services (``_service.py``); every name the chart uses must be
offered exactly once. The machine is built lazily: nothing runs, and no service is called,
until :meth:`Machine.run` or :meth:`Machine.send`.

How a step works: python-statemachine processes one external event (its whole macrostep:
eventless transitions and ``done.state.*`` events included). Each action entered runs and
returns an outcome; the outcome is queued, in call order, as the next external event. When the
library returns, the step is recorded in the trace and handed to the observers. A machine
between steps is quiescent: its configuration, datamodel and queued outcomes are all there is,
which is what :meth:`Machine.snapshot` saves.

Guards are exposed to the library as read-only properties of a generated model object, because
in loaded documents guard names resolve only against the model. The datamodel lives on the
same object (``assign`` writes there); its names may not collide with action or guard names.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from statemachine import StateChart
from statemachine.exceptions import TransitionNotAllowed

from beacon._errors import ChartError, UnhandledEvent
from beacon.charts import _dispatch
from beacon.charts._check_binding import binding_findings
from beacon.charts._finding import Finding
from beacon.charts._load import Chart, child_chart_of
from beacon.charts._proxy import make_model
from beacon.charts._roles import Role
from beacon.charts._service import Binding, Outcome, collect
from beacon.charts._snapshot import SNAPSHOT_VERSION, STATE_FIELD, apply_snapshot, check_snapshot
from beacon.charts._trace import ActionRecord, Step, Trace

__all__ = ["Machine", "RunResult", "bind", "run_child"]

Observer = Callable[[Step], object]
Clock = Callable[[], float]

# The action running right now, so a chart bound inside an action attaches its trace to the
# caller's (one run of nested charts gives one trace tree) and run_child finds its chart.
_RUNNING: contextvars.ContextVar[_Running | None] = contextvars.ContextVar(
    "beacon_running_action", default=None
)


@dataclass(frozen=True)
class RunResult:
    """How a run ended: the top-level final state reached, its declared role, and the trace.

    ``error`` is the error carried by the outcome on which the run reached its final state
    (see :func:`~beacon.charts.outcome`), or ``None``.
    """

    final_state: str
    trace: Trace
    steps: int
    role: Role
    error: BaseException | None = None

    @property
    def failed(self) -> bool:
        """Whether the final state's declared role is ``failure``."""
        return self.role.is_failure


@dataclass
class _Running:
    """The nesting context of the action running right now."""

    machine: Machine
    binding: Binding
    record: ActionRecord
    child: RunResult | None = None


class _Listener:
    """Feeds the step being built from the library's callbacks (to the model's machine)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def on_transition(self, transition: Any) -> None:
        m = self._model._beacon_machine
        tid = m._transition_ids.get(id(transition), "")
        if not tid:
            return
        # Entering a compound state's default child, the library runs the initial
        # transition's content with the entering transition as its argument: the same
        # transition, after a compound state was entered and nothing exited. Counted once.
        if m._echo == tid:
            m._echo = ""
            return
        m._current_transitions.append(tid)
        m._last_fired = tid

    def on_enter_state(self, state: Any) -> None:
        m = self._model._beacon_machine
        m._registering = False
        m._current_entered.append(state.id)
        m._echo = m._last_fired if state.states else ""

    def on_exit_state(self, state: Any) -> None:
        m = self._model._beacon_machine
        m._current_left.append(state.id)
        m._echo = m._last_fired = ""


# Library instances whose run reached a final state, per chart, ready to serve a new run:
# building one (its callback registry) costs more than the rest of a short run. Each comes
# with its model; the model dispatches by name to whichever machine it is bound to now.
# Keyed by the loaded chart's class (each load builds its own, with its own transitions).
# Charts with parallel or history states are not pooled: their instances keep more state.
_IDLE: weakref.WeakKeyDictionary[type, list[tuple[StateChart[Any], Any]]] = (
    weakref.WeakKeyDictionary()
)
_IDLE_LOCK = threading.Lock()
_IDLE_MAX = 8  # per chart: enough for nested runs, bounded memory


def _poolable(chart: Chart) -> bool:
    return _dispatch.REUSE and not any(
        i.parallel or i.kind == "history" for i in chart.structure.states.values()
    )


def _take_idle(chart: Chart) -> tuple[StateChart[Any], Any] | None:
    if not _dispatch.REUSE:
        return None
    with _IDLE_LOCK:
        idle = _IDLE.get(chart.machine_class)
        return idle.pop() if idle else None


def _give_back(chart: Chart, sm: StateChart[Any], model: Any) -> None:
    if not _poolable(chart):
        return
    with _IDLE_LOCK:
        idle = _IDLE.setdefault(chart.machine_class, [])
        if len(idle) < _IDLE_MAX:
            idle.append((sm, model))


# Binding checks read only the services' classes (their @action/@guard marks), so their
# result is a function of the chart and those classes: a client binding the same charts for
# every run and engine checks each combination once.
_BINDING_ERRORS: dict[tuple[str, str, tuple[type, ...]], tuple[Finding, ...]] = {}


# Per chart class: whether its document may read the interpreter's system variables, its
# states with eventless transitions and its transitions' domains (see _dispatch.py).
@dataclass(frozen=True)
class _Tuning:
    keep_prepare: bool
    watched: frozenset[Any]
    domains: dict[int, Any] | None


_TUNING: weakref.WeakKeyDictionary[type, _Tuning] = weakref.WeakKeyDictionary()


def _tuning(chart: Chart, sm: StateChart[Any]) -> _Tuning:
    tuning = _TUNING.get(chart.machine_class)
    if tuning is None:
        tuning = _Tuning(
            keep_prepare=_dispatch.needs_system_variables(chart.doc),
            watched=_dispatch.eventless_states(sm),
            domains=_dispatch.transition_domains(sm),
        )
        _TUNING[chart.machine_class] = tuning
    return tuning


def _tune_engine(engine: Any, tuning: _Tuning) -> None:
    _dispatch.skip_idle_eventless(engine, tuning.watched)
    _dispatch.keep_transition_domains(engine, tuning.domains)


def _new_instance(chart: Chart, model: Any) -> StateChart[Any]:
    """A library instance of the chart on ``model``, its beacon callbacks called directly."""
    listener = _Listener(model)
    sm = chart.machine_class(model=model, state_field=STATE_FIELD, listeners=[listener])
    if _dispatch.REUSE:
        tuning = _tuning(chart, sm)
        _dispatch.direct_calls(
            sm,
            listener=listener,
            model=model,
            actions=chart.structure.actions(),
            keep_prepare=tuning.keep_prepare,
        )
        _tune_engine(sm._engine, tuning)
        # Built and started now; its first restart keeps the initial transitions it builds.
        _dispatch.keep_initial_transitions(sm._engine, model._beacon_initial)
    return sm


def _binding_errors(chart: Chart, services: list[object]) -> tuple[Finding, ...]:
    key = (str(chart.path), chart.digest, tuple(type(s) for s in services))
    errors = _BINDING_ERRORS.get(key)
    if errors is None:
        findings = binding_findings(str(chart.path), chart.structure, services)
        errors = tuple(f for f in findings if f.severity == "error")
        _BINDING_ERRORS[key] = errors
    return errors


def bind(
    chart: Chart,
    services: Iterable[object],
    *,
    clock: Clock = time.time,
    restore: Mapping[str, Any] | None = None,
    observers: Iterable[Observer] = (),
) -> Machine:
    """Bind a chart to service objects; return a machine ready to run.

    Args:
        chart: from :func:`load_chart`.
        services: objects whose ``@action``/``@guard`` methods the chart names.
        clock: the time source for trace times (injected so runs replay exactly).
        restore: a :meth:`Machine.snapshot` to carry on from instead of the initial state.
        observers: called with every step of this machine and of every chart its nesting
            actions run (see :meth:`Machine.add_observer`).

    Raises:
        ChartError: a name is bound twice or never, bound to the wrong kind, an outcome is
            not handled (the ``unbound``/``completeness`` checks), or the snapshot does not
            fit the chart.
    """
    services = list(services)
    errors = _binding_errors(chart, services)
    if errors:
        lines = "\n  ".join(str(f) for f in errors)
        raise ChartError(f"cannot bind {chart.name}:\n  {lines}", findings=errors)
    found, _ = collect(services)
    machine = Machine(chart, found, clock=clock, restore=restore)
    for fn in observers:
        machine.add_observer(fn)
    return machine


def run_child(services: Iterable[object]) -> RunResult:
    """Run the child chart of the nesting action running now, bound to ``services``.

    Call it from an ``@action(..., chart="name")`` method, once, and return the
    ``final_state`` of the result (the engine checks both). The child shares the parent's
    clock and observers, and its trace joins the parent's trace tree.

    Raises:
        ChartError: not called from a nesting action, called twice, or the child does not
            reach a final state within the action's ``max_steps``.
    """
    running = _RUNNING.get()
    if running is None or running.binding.chart is None:
        raise ChartError("run_child() is for the body of an @action(..., chart=...) method")
    if running.child is not None:
        raise ChartError(f"action {running.binding.name!r} ran its child chart twice")
    parent = running.machine
    child_chart = child_chart_of(parent.chart.path, running.binding.chart)
    machine = bind(child_chart, services, clock=parent._clock, observers=parent._observers)
    result = machine.run(max_steps=running.binding.max_steps)
    running.child = result
    return result


class Machine:
    """A chart bound to services: drive it with :meth:`run` or :meth:`send`."""

    def __init__(
        self,
        chart: Chart,
        bindings: Mapping[str, Binding],
        *,
        clock: Clock,
        restore: Mapping[str, Any] | None,
    ) -> None:
        self.chart = chart
        self.trace = Trace(chart=chart.name, digest=chart.digest)
        self._clock = clock
        self._transition_ids = chart.transition_ids
        self._observers: list[Observer] = []
        # Queued outcomes, each with the error it carries (None for most).
        self._pending: deque[tuple[str, BaseException | None]] = deque()
        self.error: BaseException | None = None
        self._current_transitions: list[str] = []
        # The transition fired last, and the one whose echo the library may send next (see
        # _Listener.on_transition).
        self._last_fired = ""
        self._echo = ""
        self._current_entered: list[str] = []
        self._current_left: list[str] = []
        self._current_guards: dict[str, bool] = {}
        self._current_actions: list[ActionRecord] = []
        # Step numbers continue across a restore, so two traces of one run line up.
        self._first_step = 0
        self._bindings = dict(bindings)
        pooled = _take_idle(chart) if restore is None else None
        self._model = pooled[1] if pooled is not None else make_model(chart)
        self._pooled_sm = pooled[0] if pooled is not None else None
        self._model._beacon_machine = self
        self._sm: StateChart[Any] | None = None
        self._final_configuration: tuple[str, ...] | None = None
        self._closed = False
        self._final_datamodel: dict[str, Any] | None = None
        # True while the library resolves callbacks: it reads every name off the model then,
        # and a guard must not call its service for that.
        self._registering = False
        self._restore = dict(restore) if restore is not None else None
        if self._restore is not None:
            check_snapshot(chart, self._restore)
        parent = _RUNNING.get()
        if parent is not None:
            parent.record.children.append(self.trace)

    # -- driving ----------------------------------------------------------------------------

    @property
    def configuration(self) -> tuple[str, ...]:
        """The active states, outermost first (empty before the machine starts)."""
        if self._final_configuration is not None:
            return self._final_configuration
        if self._sm is None:
            return ()
        return tuple(s.id for s in self._sm.configuration)

    @property
    def pending(self) -> tuple[str, ...]:
        """Outcomes queued as the next events."""
        return tuple(event for event, _ in self._pending)

    @property
    def final_state(self) -> str | None:
        """The top-level final state reached, or ``None`` while running."""
        return self.trace.final_state

    @property
    def firing(self) -> tuple[str, ...]:
        """The transitions fired so far by the step being processed (read from a callback,
        e.g. an action that wants to know how it was reached; empty between steps)."""
        return tuple(self._current_transitions)

    def handled_events(self) -> tuple[str, ...]:
        """Events a transition of the current configuration takes, guards not evaluated.

        Sorted; ``done.*`` events and eventless transitions are left out (the engine raises
        those itself). Useful to drive a machine from outside, e.g. in exploration tests.
        """
        s = self.chart.structure
        leaves = [sid for sid in self.configuration if not s.states[sid].compound]
        events = {e for leaf in leaves for t in s.available(leaf) for e in t.events}
        return tuple(sorted(e for e in events if not e.startswith("done.")))

    def add_observer(self, fn: Observer) -> None:
        """Call ``fn(step)`` after every step (an exception it raises propagates)."""
        self._observers.append(fn)

    def start(self) -> Step | None:
        """Enter the initial configuration (or the restored one); idempotent.

        Returns the initial step, or ``None`` when already started, restored, finished or
        closed (a finished machine never starts over: its library instance may be serving
        another run by now).
        """
        if self._sm is not None or self.trace.final_state is not None or self._closed:
            return None
        restore = self._restore
        if restore is not None:
            pending, self._first_step = apply_snapshot(self.chart, self._model, restore)
            self._pending.extend((event, None) for event in pending)
            self.trace.restored_at = self._first_step
            self._registering = True
            self._sm = _new_instance(self.chart, self._model)
            self._registering = False
            history = restore.get("history", {})
            self._sm.history_values = {
                k: [self._sm.states_map[v] for v in ids] for k, ids in history.items()
            }
            self._check_final()
            return None
        return self._step(None)

    def send(self, event: str) -> list[Step]:
        """Process ``event``, then the outcomes it leads to until none is queued.

        Raises:
            UnhandledEvent: no transition takes the event in the current configuration.
            ChartError: the machine has already reached a final state.
        """
        self.start()
        if self.trace.final_state is not None:
            raise ChartError(
                f"{self.chart.path}: the machine finished in {self.trace.final_state!r}; "
                f"event {event!r} arrived after the end"
            )
        if self._closed:
            raise ChartError(f"{self.chart.path}: the machine was closed; {event!r} came after")
        self._pending.append((event, None))
        return self._drain(max_steps=None)

    def drain(self, *, max_steps: int = 1000) -> list[Step]:
        """Start if needed, then process the queued outcomes, whether or not they lead to a
        final state (a reactive chart then waits for :meth:`send`).

        Raises:
            ChartError: more than ``max_steps`` steps (a runaway loop).
            UnhandledEvent: an outcome no transition takes.
        """
        self.start()
        return self._drain(max_steps=max_steps)

    def run(self, *, max_steps: int = 1000) -> RunResult:
        """Run until a top-level final state is reached.

        Raises:
            ChartError: more than ``max_steps`` steps (a runaway loop), or the machine waits
                for an external event (no outcome queued) in a non-final configuration.
            UnhandledEvent: an outcome no transition takes.
        """
        self.start()
        steps = self._drain(max_steps=max_steps)
        final = self.trace.final_state
        if final is None:
            raise ChartError(
                f"{self.chart.path}: run stalled in {list(self.configuration)}: no outcome is "
                "queued and the state is not final; drive it with send()"
            )
        return RunResult(
            final_state=final,
            trace=self.trace,
            steps=len(steps),
            role=self.chart.role(final),
            error=self.error,
        )

    def _drain(self, *, max_steps: int | None) -> list[Step]:
        """Process queued events until none is left or a top-level final state is reached.

        Outcomes still queued at the final state are dropped, as SCXML drops the external
        queue when a machine terminates.
        """
        taken: list[Step] = []
        while self._pending:
            if self.trace.final_state is not None:
                self._pending.clear()
                break
            if max_steps is not None and len(taken) >= max_steps:
                recent = ", ".join(s.event or "" for s in taken[-5:])
                raise ChartError(
                    f"{self.chart.path}: no final state after {max_steps} steps (a runaway "
                    f"loop?); configuration {list(self.configuration)}, last events: {recent}"
                )
            taken.append(self._step(*self._pending.popleft()))
        return taken

    def _step(self, event: str | None, error: BaseException | None = None) -> Step:
        self._current_transitions = []
        self._last_fired = self._echo = ""
        self._current_entered = []
        self._current_left = []
        self._current_guards = {}
        self._current_actions = []
        step = Step(n=self._first_step + len(self.trace.steps), time=self._clock(), event=event)
        try:
            if event is None:
                self._init_datamodel()
                if self._pooled_sm is not None:
                    self._sm, self._pooled_sm = self._pooled_sm, None
                    _restart(self._sm, self._model, _tuning(self.chart, self._sm))
                else:
                    self._registering = True
                    self._sm = _new_instance(self.chart, self._model)
                    self._registering = False
            else:
                assert self._sm is not None
                self._sm.send(event)
        except TransitionNotAllowed:
            self.trace.status, self.trace.error = "error", "UnhandledEvent"
            raise self._unhandled(event or "") from None
        except BaseException as exc:
            self.trace.status, self.trace.error = "error", type(exc).__name__
            raise
        finally:
            step.transitions = self._current_transitions
            step.entered = self._current_entered
            step.left = self._current_left
            step.guards = self._current_guards
            step.actions = self._current_actions
            step.configuration = list(self.configuration)
            self.trace.steps.append(step)
        if self._check_final():
            self.error = error
            self._release()
        for fn in self._observers:
            fn(step)
        return step

    def close(self) -> None:
        """Done with this machine: its library instance may serve the next run of the chart.

        For a machine that did not reach a final state (a reactive chart, a run abandoned
        between steps); a finished one has already handed its instance on. The machine keeps
        its trace, configuration and :meth:`snapshot`; :meth:`send` then refuses.
        """
        if self._closed:
            return
        if self._sm is None and self._pooled_sm is not None:  # taken from the pool, never run
            _give_back(self.chart, self._pooled_sm, self._model)
            self._pooled_sm = None
        else:
            self._release()
        self._closed = True

    def _release(self) -> None:
        """A run that reached its final state hands its library instance to the next run."""
        sm = self._sm
        if sm is None or sm.history_values:  # history memory would leak into the next run
            return
        self._final_configuration = tuple(s.id for s in sm.configuration)
        # The model goes with the instance: keep this run's datamodel for snapshot().
        self._final_datamodel = {
            k: getattr(self._model, k, None) for k in self.chart.structure.datamodel
        }
        self._sm = None
        _give_back(self.chart, sm, self._model)

    def _init_datamodel(self) -> None:
        scope = SimpleNamespace(model=self._model)
        for name, expr in self.chart.datamodel:
            setattr(self._model, name, None if expr is None else expr(machine=scope))

    def _check_final(self) -> bool:
        """Whether the machine is in a top-level final state (recorded in the trace)."""
        sm = self._sm
        if sm is None:
            return False
        for s in sm.configuration:
            if s.final and s.parent is None:
                self.trace.status, self.trace.final_state = "final", s.id
                self.trace.role = self.chart.role(s.id).role
                return True
        return False

    def _unhandled(self, event: str) -> UnhandledEvent:
        config = self.configuration
        origin = ""
        for record in reversed(self.trace.steps[-2:]):
            for a in record.actions:
                if a.outcome == event:
                    origin = f" (the outcome of action {a.action!r} entered in {a.state!r})"
        return UnhandledEvent(
            f"{self.chart.path}: event {event!r}{origin} has no transition in "
            f"configuration {list(config)}",
            event=event,
            configuration=config,
        )

    # -- called from the model ------------------------------------------------------------

    def _guard(self, name: str) -> bool:
        if self._registering:
            return False
        b = self._bindings[name]
        value = b.method()
        if not isinstance(value, bool):
            raise ChartError(
                f"{self.chart.path}: guard {b.name!r} ({b.owner}) returned "
                f"{type(value).__name__}, not bool"
            )
        self._current_guards[b.name] = value
        return value

    def _act(self, name: str, state: str | None) -> None:
        b = self._bindings[name]
        record = ActionRecord(action=b.name, state=state)
        self._current_actions.append(record)
        running = _Running(self, b, record)
        token = _RUNNING.set(running)
        try:
            result = b.method()
        finally:
            _RUNNING.reset(token)
        if b.chart is not None:
            self._check_nested(b, state, result, running.child)
        if not b.outcomes:
            if result is not None:
                raise ChartError(
                    f"{self.chart.path}: action {b.name!r} ({b.owner}) declares no outcomes "
                    f"but returned {type(result).__name__}"
                )
            return
        if not isinstance(result, str) or result not in b.outcomes:
            shown = repr(result) if isinstance(result, str) else type(result).__name__
            raise ChartError(
                f"{self.chart.path}: action {b.name!r} ({b.owner}) in state {state!r} "
                f"returned {shown}, not one of its declared outcomes {list(b.outcomes)}"
            )
        error = result.error if isinstance(result, Outcome) else None
        record.outcome = str(result)
        record.error = type(error).__name__ if error is not None else None
        self._pending.append((str(result), error))

    def _check_nested(
        self, b: Binding, state: str | None, result: object, child: RunResult | None
    ) -> None:
        """A nesting action returns the final its child chart reached, nothing else."""
        if child is None:
            raise ChartError(
                f"{self.chart.path}: nesting action {b.name!r} ({b.owner}) in state {state!r} "
                f"returned without running chart {b.chart!r} (call run_child)"
            )
        if result != child.final_state:
            raise ChartError(
                f"{self.chart.path}: nesting action {b.name!r} ({b.owner}) returned "
                f"{result!r}, but chart {b.chart!r} ended in {child.final_state!r}"
            )

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The machine's state between steps as a JSON-able dict.

        Holds the chart name and digest, the configuration, the datamodel, history memory and
        the queued outcomes. Restore it with ``bind(chart, services, restore=snapshot)``.

        Raises:
            ChartError: a datamodel value is not JSON-able.
        """
        datamodel = self._final_datamodel or {
            k: getattr(self._model, k, None) for k in self.chart.structure.datamodel
        }
        try:
            json.dumps(datamodel)
        except TypeError as exc:
            raise ChartError(f"{self.chart.path}: datamodel is not JSON-able: {exc}") from None
        history = {} if self._sm is None else self._sm.history_values
        return {
            "version": SNAPSHOT_VERSION,
            "chart": self.chart.name,
            "digest": self.chart.digest,
            "configuration": list(self.configuration),
            "datamodel": datamodel,
            "history": {k: [s.id for s in v] for k, v in history.items()},
            "pending": list(self.pending),
            "final_state": self.trace.final_state,
            "next_step": self._first_step + len(self.trace.steps),
        }


def _restart(sm: StateChart[Any], model: Any, tuning: _Tuning) -> None:
    """Put a finished library instance back in its initial configuration, as a new one is.

    Its callback registry (bound to the same model object) stays; the engine is emptied (or
    new, when it cannot be), the configuration new, then the initial states are entered
    (their entry actions run).
    """
    sm.current_state_value = None
    sm.history_values = {}
    engine = sm._engine
    if not _dispatch.reset_engine(engine):
        engine = sm._get_engine()  # type: ignore[no-untyped-call]
        sm._engine = engine
        _tune_engine(engine, tuning)
        _dispatch.keep_initial_transitions(engine, model._beacon_initial)
    engine.start()
