"""Declaring what a service offers a chart: ``@action(outcomes...)`` and ``@guard``.

Contract: decorators only mark functions (no wrapping, no behaviour change): a decorated
method called directly behaves exactly as before. :func:`collect` finds the marked methods
of service objects by name; binding (``_bind.py``) decides what to do with them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from beacon._errors import ChartError
from beacon.charts import _dispatch

__all__ = ["Binding", "Outcome", "action", "collect", "guard", "outcome"]

F = TypeVar("F", bound=Callable[..., Any])

_ACTION_MARK = "__beacon_action__"
_CHART_MARK = "__beacon_chart__"
_GUARD_MARK = "__beacon_guard__"


class Outcome(str):
    """An outcome that carries the error it stands for (see :func:`outcome`)."""

    error: BaseException | None

    def __new__(cls, name: str, error: BaseException | None = None) -> Outcome:
        self = super().__new__(cls, name)
        self.error = error
        return self


def outcome(name: str, error: BaseException | None = None) -> Outcome:
    """An action's outcome together with the error behind it.

    The error travels with the event: when the run reaches a final state on that event,
    :attr:`RunResult.error` is this error, so the caller raises what really happened and no
    one has to keep "the last error" beside the chart. Traces record the error's class name.

    Example::

        except BackoffError as exc:
            return outcome("backoff", exc)
    """
    return Outcome(name, error)


def action(*outcomes: str, chart: str | None = None, max_steps: int = 10_000) -> Callable[[F], F]:
    """Mark a service method as a chart action that returns one of ``outcomes``.

    The chart names the action in a state's ``enter`` list; the engine calls it with no
    arguments when the state is entered and raises the returned outcome as the next event.
    ``@action()`` (no outcomes) marks an effect, for ``exit`` and transition slots, that must
    return ``None``.

    ``chart="token"`` makes it a *nesting* action: it runs that child chart (a packaged
    chart's name, or a file beside the parent chart) through :func:`run_child`, and returns
    the child's final state. Its outcomes must be exactly the child's top-level final states;
    the binding check proves it, naming both charts. ``max_steps`` bounds the child's run.

    Example::

        class Door:
            @action("ok", "jammed")
            def try_unlock(self) -> str:
                return "ok"
    """
    for outcome in outcomes:
        if not isinstance(outcome, str) or not outcome or " " in outcome:
            raise ChartError(f"@action outcomes must be event names, got {outcome!r}")
    if len(set(outcomes)) != len(outcomes):
        raise ChartError(f"@action outcomes repeat a name: {outcomes!r}")

    if chart is not None and not outcomes:
        raise ChartError(f"a nesting action (chart={chart!r}) declares the child's finals")

    def mark(fn: F) -> F:
        setattr(fn, _ACTION_MARK, tuple(outcomes))
        setattr(fn, _CHART_MARK, (chart, max_steps) if chart is not None else None)
        return fn

    return mark


def guard(fn: F) -> F:
    """Mark a service method as a chart guard: no arguments, returns ``bool``, only reads."""
    setattr(fn, _GUARD_MARK, True)
    return fn


@dataclass(frozen=True)
class Binding:
    """One chart name bound to one service method."""

    name: str
    kind: str  # "action" or "guard"
    outcomes: tuple[str, ...]
    method: Callable[[], Any]
    owner: str  # the service's class name, for messages
    chart: str | None = None  # the child chart a nesting action runs
    max_steps: int = 10_000


_Mark = tuple[str, tuple[str, ...] | None, bool, tuple[str, int] | None]
# Per service class: its marked members (name, outcomes or None, guard?, nesting), found once
# with inspect (slow) and kept while those members are the same objects (a test may replace
# one with another marked method).
_MARKS: dict[type, tuple[list[_Mark], list[tuple[str, object]]]] = {}


def _marks(cls: type) -> list[_Mark]:
    cached = _MARKS.get(cls) if _dispatch.REUSE else None
    if cached is not None and all(getattr(cls, n, None) is m for n, m in cached[1]):
        return cached[0]
    found: list[_Mark] = []
    members: list[tuple[str, object]] = []
    for name, member in inspect.getmembers(cls):
        if name.startswith("__"):
            continue
        outcomes: tuple[str, ...] | None = getattr(member, _ACTION_MARK, None)
        is_guard = bool(getattr(member, _GUARD_MARK, False))
        if outcomes is None and not is_guard:
            continue
        found.append((name, outcomes, is_guard, getattr(member, _CHART_MARK, None)))
        members.append((name, member))
    _MARKS[cls] = (found, members)
    return found


def collect(services: Iterable[object]) -> tuple[dict[str, Binding], list[str]]:
    """The actions and guards the services offer, by name, and the names offered twice."""
    found: dict[str, Binding] = {}
    twice: list[str] = []
    for service in services:
        for name, outcomes, is_guard, nesting in _marks(type(service)):
            binding = Binding(
                name=name,
                kind="guard" if is_guard else "action",
                outcomes=() if is_guard or outcomes is None else outcomes,
                method=getattr(service, name),
                owner=type(service).__name__,
                chart=nesting[0] if nesting else None,
                max_steps=nesting[1] if nesting else 10_000,
            )
            if name in found:
                twice.append(f"{name!r} is offered by both {found[name].owner} and {binding.owner}")
                continue
            found[name] = binding
    return found, twice
