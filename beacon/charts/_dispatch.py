"""Cheaper calls into beacon's own callbacks from a python-statemachine instance.

Contract: :func:`direct_calls` rewrites, in place, the callback registry of one library
instance built for a beacon model and listener, and the other functions one engine of it,
without changing what any callback receives or returns, or which transitions are taken:

* The library wraps every callback in a *signature adapter* that matches the event's keyword
  arguments to the callable's parameters on every call (``inspect.BoundArguments``), which
  costs more than the callbacks themselves. beacon's own callbacks (the listener's
  ``on_transition``/``on_enter_state``/``on_exit_state`` and the model's action methods) take
  exactly one argument, ``transition`` or ``state``, so each wrapper is given a direct call
  that passes that keyword argument, as the adapter would.
* The library also wraps the callables it builds from the document (guard expressions,
  ``assign``, ``donedata``, the datamodel's initialisation) in that adapter, though they take
  ``(*args, **kwargs)``, which it passes on unchanged: they are called directly too
  (:func:`pass_through`). beacon sends events without arguments, so the keyword arguments
  are the library's own (``event_data``, ``machine``, ``state``...), none of them named
  ``args`` or ``kwargs``, the only names the adapter would hold back.
* The library's interpreter prepares SCXML system variables (``_event``, ``_sessionid``,
  ``_name``, ``_ioprocessors``) for every state entered and every transition taken; only
  chart expressions can read them (beacon's callbacks take ``state``/``transition`` only), so
  a chart whose document never names them, and invokes nothing, goes without.
* Before and after every event the library searches every active state for an eventless
  transition; :func:`skip_idle_eventless` answers "none" at once when no active state has one.
* A reused instance starts from the same initial transitions every run
  (:func:`keep_initial_transitions`) instead of building new ones, and the domains of the
  chart's transitions are worked out once per chart (:func:`keep_transition_domains`).
* A reused instance keeps its engine (:func:`reset_engine`): emptied queues and counters, as
  the library builds a new one, without its locks, queues and invocation manager, and without
  the garbage the old one leaves to the cyclic collector.

They rely on the registry's layout in python-statemachine 3.2 (``_callbacks._registry``,
``CallbackWrapper._callback``, keys ``name@id(owner)``); when it is not what they expect they
leave the instance as it is, so a library change costs speed, never behaviour.
``BEACON_CHART_REUSE=0`` in the environment turns this off together with instance reuse
(``_bind.py``) and the mark cache (``_service.py``): ``bench/campaign_speed.py`` measures
the engine without them side by side (and against the code before any of this).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from statemachine.orderedset import OrderedSet

__all__ = [
    "REUSE",
    "direct_calls",
    "eventless_states",
    "keep_initial_transitions",
    "keep_transition_domains",
    "needs_system_variables",
    "pass_through",
    "reset_engine",
    "skip_idle_eventless",
    "transition_domains",
]

#: Whether the engine reuses library instances and its other per-chart caches (read at each
#: use, so a test may switch it).
REUSE = os.environ.get("BEACON_CHART_REUSE", "1") != "0"

_LISTENER_ARGUMENT = {
    "on_transition": "transition",
    "on_enter_state": "state",
    "on_exit_state": "state",
}

# A system variable named anywhere in a document (keys, expressions, content).
_SYSTEM_VARIABLE = re.compile(r"(?<![\w])_(?:event|sessionid|name|ioprocessors)(?![\w])")


def needs_system_variables(doc: object) -> bool:
    """Whether a chart document may read the interpreter's system variables (or invokes)."""
    text = json.dumps(doc, default=str)
    return bool(_SYSTEM_VARIABLE.search(text)) or '"invoke"' in text


def direct_calls(
    sm: Any, *, listener: object, model: object, actions: Iterable[str], keep_prepare: bool
) -> int:
    """Give beacon's callbacks in ``sm``'s registry direct calls (see the module docstring).

    Returns how many of beacon's callbacks now go without the library's adapter, plus one
    when the preparation is gone (the library's own callables are not counted).
    """
    registry = getattr(getattr(sm, "_callbacks", None), "_registry", None)
    if not isinstance(registry, dict):
        return 0
    changed = 0
    ours: dict[str, tuple[Callable[..., Any], str]] = {}
    for name, argument in _LISTENER_ARGUMENT.items():
        method = getattr(listener, name, None)
        if callable(method):
            ours[f"{name}@{id(listener)}"] = (method, argument)
    for name in actions:
        method = getattr(model, name, None)
        if callable(method):
            ours[f"{name}@{id(model)}"] = (method, "state")
    for executor in registry.values():
        for wrapper in getattr(executor, "items", ()):
            if not hasattr(wrapper, "_callback"):
                continue
            found = ours.get(getattr(wrapper, "unique_key", ""))
            direct = _direct(*found) if found is not None else pass_through(wrapper._callback)
            if direct is None:
                continue
            wrapper._callback = direct
            if getattr(wrapper, "expected_value", True) is None:
                # The wrapper's call() only compares the result with an expected value (for
                # conditions); with none it returns it as is.
                wrapper.call = direct
            changed += found is not None
    if not keep_prepare:
        prepare = getattr(getattr(sm, "prepare", None), "key", None)
        executor = registry.get(prepare) if prepare is not None else None
        keys = [getattr(w, "unique_key", "") for w in getattr(executor, "items", ())]
        if executor is not None and keys == [f"prepare_event@{id(sm)}"]:
            del registry[prepare]
            changed += 1
    return changed


_PASS_THROUGH = [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]


def pass_through(callback: Callable[..., Any]) -> Callable[..., Any] | None:
    """The callable inside the library's signature adapter ``callback`` when it takes
    ``(*args, **kwargs)`` (the adapter then passes every argument on as it is), else None."""
    code = getattr(callback, "__code__", None)
    if code is None or code.co_name != "signature_adapter" or callback.__closure__ is None:
        return None
    if getattr(callback, "is_coroutine", True):
        return None
    cells = dict(zip(code.co_freevars, callback.__closure__, strict=True))
    cell = cells.get("a_callable")
    if cell is None:
        return None
    inner = cell.cell_contents
    try:
        parameters = list(inspect.signature(inner).parameters.values())
    except (TypeError, ValueError):
        return None
    if [p.kind for p in parameters] != _PASS_THROUGH:
        return None
    if {p.name for p in parameters} != {"args", "kwargs"}:
        return None  # the adapter would hold back keyword arguments of other names
    return inner  # type: ignore[no-any-return]


def _direct(method: Callable[[Any], Any], argument: str) -> Callable[..., Any]:
    # As the adapter binds it: the keyword argument, else the first positional one.
    def call(*args: Any, **kwargs: Any) -> Any:
        if argument in kwargs or not args:
            return method(kwargs.get(argument))
        return method(args[0])

    return call


def eventless_states(sm: Any) -> frozenset[Any]:
    """The states of ``sm``'s class with an eventless transition of the document (not the
    library's own ``initial`` ones)."""
    return frozenset(
        state
        for state in sm.states_map.values()
        for t in state.transitions
        if t.is_eventless and not t.initial
    )


def skip_idle_eventless(engine: Any, watched: frozenset[Any]) -> None:
    """Let ``engine`` skip its search for eventless transitions when no active state has one.

    The library looks for them, over every active atomic state and its ancestors, before and
    after every event; it finds one only in a state that has one, so when none of the active
    states (ancestors included) is in ``watched`` the answer is the empty set it would find.
    """
    search = getattr(engine, "select_eventless_transitions", None)
    sm = getattr(engine, "sm", None)
    if search is None or sm is None:
        return

    def select_eventless_transitions(trigger_data: Any) -> Any:
        if watched and not watched.isdisjoint(sm.configuration):
            return search(trigger_data)
        return OrderedSet()

    engine.select_eventless_transitions = select_eventless_transitions


def keep_initial_transitions(engine: Any, kept: list[Any]) -> None:
    """Let ``engine`` start from the initial transitions ``kept`` for its instance.

    The library builds them (a placeholder source state and one transition to each initial
    state, with no callbacks) every time an instance starts; they depend on the instance's
    class only, so a reused instance builds them once, on its first restart, into ``kept``.
    """
    build = getattr(engine, "_initial_transitions", None)
    if build is None:
        return

    def initial_transitions(trigger_data: Any) -> list[Any]:
        if not kept:
            kept.extend(build(trigger_data))
        return list(kept)

    engine._initial_transitions = initial_transitions


def transition_domains(sm: Any) -> dict[int, Any] | None:
    """Each transition's domain (by ``id``) for the transitions of ``sm``'s class, or ``None``
    when one of them targets a history state (its domain then depends on the history)."""
    engine = getattr(sm, "_engine", None)
    domain_of = getattr(engine, "get_transition_domain", None)
    if domain_of is None:
        return None
    transitions = [t for state in sm.states_map.values() for t in state.transitions]
    if any(target.is_history for t in transitions for target in t.targets):
        return None
    return {id(t): domain_of(t) for t in transitions}


def keep_transition_domains(engine: Any, domains: dict[int, Any] | None) -> None:
    """Let ``engine`` look up the domains of its class's transitions in ``domains``.

    The library works a transition's domain (the innermost compound state around its source
    and targets) out again each time it computes an exit or an entry set; without history
    targets it depends on the transition alone. Others (the initial ones) are worked out.
    """
    work_out = getattr(engine, "get_transition_domain", None)
    if work_out is None or domains is None:
        return

    def get_transition_domain(transition: Any) -> Any:
        key = id(transition)
        return domains[key] if key in domains else work_out(transition)

    engine.get_transition_domain = get_transition_domain


# The engine module's logger: an engine reads its level once, when it is built.
_ENGINE_LOGGER = logging.getLogger("statemachine.engines.base")


def reset_engine(engine: Any) -> bool:
    """Put ``engine`` back in the state the library builds a new engine in, for its instance's
    next run; ``False`` (``engine`` untouched) when it cannot be sure to.

    After a run, or between two steps of an abandoned one, an engine holds its queues (a
    finished run may leave internal events), its stopped flag, its callback-argument cache,
    its step counters and its invocations; the rest (its machine, the lock, which is free
    between steps, and the methods beacon gave it) is what a new one would hold. An engine
    with invocations active or pending is not reset: stopping them is the library's business.
    """
    invokes = getattr(engine, "_invoke_manager", None)
    lock = getattr(engine, "_processing", None)
    queues: list[Any] = [getattr(engine, n, None) for n in ("external_queue", "internal_queue")]
    if (
        invokes is None
        or getattr(invokes, "_active", True)
        or getattr(invokes, "_pending", True)
        or lock is None
        or lock.locked()
        or not all(hasattr(q, "clear") for q in queues)
        or not isinstance(getattr(engine, "_cache", None), dict)
        or not hasattr(engine, "_root_parallel_final_pending")
    ):
        return False
    for queue in queues:
        queue.clear()
    engine._cache.clear()
    engine.running = True
    engine._macrostep_count = engine._microstep_count = 0
    engine._root_parallel_final_pending = None
    if _ENGINE_LOGGER.isEnabledFor(logging.DEBUG):
        engine._debug = _ENGINE_LOGGER.debug
    return True
