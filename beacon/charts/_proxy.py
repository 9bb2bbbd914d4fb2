"""The model object python-statemachine sees: guards as properties, actions as methods.

Contract: in loaded documents the library resolves guard names only against the model (not
listeners), so beacon generates one model class per binding. Each guard is a read-only
property that asks the machine to call the bound service method (and record the result); each
action is a method that asks the machine to run the bound action. The datamodel's variables
live on the same object (``assign`` writes there), so their names may not be callbacks too.
The machine's private attribute ``_beacon_machine`` is out of reach of chart expressions: the
library never resolves names starting with ``_``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from beacon._errors import ChartError
from beacon.charts._load import Chart
from beacon.charts._service import Binding

__all__ = ["make_model"]


class _Host(Protocol):
    def _guard(self, b: Binding) -> bool: ...

    def _act(self, b: Binding, state: str | None) -> None: ...


class _Model:
    """Base of the per-binding model class."""

    _beacon_machine: _Host


def make_model(chart: Chart, bindings: Mapping[str, Binding]) -> _Model:
    """A model instance exposing the chart's guards (properties) and actions (methods)."""
    attrs: dict[str, Any] = {}
    structure = chart.structure
    clash = set(structure.datamodel) & (structure.actions() | structure.guards())
    if clash:
        raise ChartError(f"{chart.path}: datamodel names {sorted(clash)} are also callbacks")
    for name in structure.guards():
        attrs[name] = property(_guard_getter(bindings[name]))
    for name in structure.actions():
        attrs[name] = _action_method(bindings[name])
    model_cls = type(f"{chart.name.title()}Model", (_Model,), attrs)
    model: _Model = model_cls()
    return model


def _guard_getter(b: Binding) -> Callable[[_Model], bool]:
    def get(model: _Model) -> bool:
        return model._beacon_machine._guard(b)

    return get


def _action_method(b: Binding) -> Callable[..., None]:
    def run_action(model: _Model, state: Any = None) -> None:
        model._beacon_machine._act(b, getattr(state, "id", None))

    run_action.__name__ = b.name
    return run_action
