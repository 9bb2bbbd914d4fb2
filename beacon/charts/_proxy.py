"""The model object python-statemachine sees: guards as properties, actions as methods.

Contract: in loaded documents the library resolves guard names only against the model (not
listeners), so beacon generates one model class per chart. Each guard is a read-only property
that asks the machine bound to the model right now to call the service method bound to that
name (and record the result); each action is a method that asks it to run the bound action.
Dispatch by name to the *current* machine is what lets a library instance, whose callback
registry is costly to build, serve one run after another (``_bind.py``). The datamodel's
variables live on the same object (``assign`` writes there), so their names may not be
callbacks too. The private attribute ``_beacon_machine`` is out of reach of chart
expressions: the library never resolves names starting with ``_``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from beacon._errors import ChartError
from beacon.charts._load import Chart

__all__ = ["make_model"]


class _Host(Protocol):
    def _guard(self, name: str) -> bool: ...

    def _act(self, name: str, state: str | None) -> None: ...


class _Model:
    """Base of the per-chart model class."""

    _beacon_machine: _Host
    #: The library's initial transitions for the instance this model serves (``_dispatch.py``).
    _beacon_initial: list[Any]

    def __init__(self) -> None:
        self._beacon_initial = []


_CLASSES: dict[tuple[str, str], type[_Model]] = {}


def make_model(chart: Chart) -> _Model:
    """A new model instance exposing the chart's guards (properties) and actions (methods)."""
    key = (str(chart.path), chart.digest)
    model_cls = _CLASSES.get(key)
    if model_cls is None:
        structure = chart.structure
        clash = set(structure.datamodel) & (structure.actions() | structure.guards())
        if clash:
            raise ChartError(f"{chart.path}: datamodel names {sorted(clash)} are also callbacks")
        attrs: dict[str, Any] = {}
        for name in structure.guards():
            attrs[name] = property(_guard_getter(name))
        for name in structure.actions():
            attrs[name] = _action_method(name)
        model_cls = type(f"{chart.name.title()}Model", (_Model,), attrs)
        _CLASSES[key] = model_cls
    return model_cls()


def _guard_getter(name: str) -> Callable[[_Model], bool]:
    def get(model: _Model) -> bool:
        return model._beacon_machine._guard(name)

    return get


def _action_method(name: str) -> Callable[..., None]:
    def run_action(model: _Model, state: Any = None) -> None:
        model._beacon_machine._act(name, getattr(state, "id", None))

    run_action.__name__ = name
    return run_action
