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

__all__ = ["Binding", "action", "collect", "guard"]

F = TypeVar("F", bound=Callable[..., Any])

_ACTION_MARK = "__beacon_action__"
_GUARD_MARK = "__beacon_guard__"


def action(*outcomes: str) -> Callable[[F], F]:
    """Mark a service method as a chart action that returns one of ``outcomes``.

    The chart names the action in a state's ``enter`` list; the engine calls it with no
    arguments when the state is entered and raises the returned outcome as the next event.
    ``@action()`` (no outcomes) marks an effect, for ``exit`` and transition slots, that must
    return ``None``.

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

    def mark(fn: F) -> F:
        setattr(fn, _ACTION_MARK, tuple(outcomes))
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


def collect(services: Iterable[object]) -> tuple[dict[str, Binding], list[str]]:
    """The actions and guards the services offer, by name, and the names offered twice."""
    found: dict[str, Binding] = {}
    twice: list[str] = []
    for service in services:
        for name, member in inspect.getmembers(type(service)):
            if name.startswith("__"):
                continue
            outcomes: tuple[str, ...] | None = getattr(member, _ACTION_MARK, None)
            is_guard = getattr(member, _GUARD_MARK, False)
            if outcomes is None and not is_guard:
                continue
            binding = Binding(
                name=name,
                kind="guard" if is_guard else "action",
                outcomes=() if is_guard or outcomes is None else outcomes,
                method=getattr(service, name),
                owner=type(service).__name__,
            )
            if name in found:
                twice.append(f"{name!r} is offered by both {found[name].owner} and {binding.owner}")
                continue
            found[name] = binding
    return found, twice
