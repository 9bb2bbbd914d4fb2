"""Checking and applying a machine snapshot (the JSON ``Machine.snapshot()`` returns).

Contract: a snapshot is plain JSON: ``version``, ``chart`` (name), ``digest``,
``configuration`` (state ids), ``datamodel``, ``history`` (history id -> state ids),
``pending`` (queued outcomes), ``final_state`` and ``next_step``. Restoring writes the
configuration and datamodel onto the model *before* python-statemachine builds the machine,
so the library finds a current state and does not enter the initial one (no entry actions
run again). A snapshot of another chart, or one naming states the chart lacks, is refused;
a different digest is accepted (the chart may have been edited compatibly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statemachine.orderedset import OrderedSet

from beacon._errors import ChartError
from beacon.charts._load import Chart

__all__ = ["SNAPSHOT_VERSION", "STATE_FIELD", "apply_snapshot", "check_snapshot"]

SNAPSHOT_VERSION = 1
# The model attribute python-statemachine keeps the configuration in; private, so chart
# expressions cannot read or assign it.
STATE_FIELD = "_beacon_configuration"


def check_snapshot(chart: Chart, snap: Mapping[str, Any]) -> None:
    """Refuse a snapshot that is not of ``chart`` or names states it does not have."""
    if snap.get("version") != SNAPSHOT_VERSION or snap.get("chart") != chart.name:
        raise ChartError(
            f"{chart.path}: not a snapshot of chart {chart.name!r} (version {SNAPSHOT_VERSION})"
        )
    states = chart.structure.states
    unknown = [s for s in snap.get("configuration", []) if s not in states]
    unknown += [s for ids in snap.get("history", {}).values() for s in ids if s not in states]
    if unknown:
        raise ChartError(f"{chart.path}: the snapshot names unknown states {unknown}")


def apply_snapshot(chart: Chart, model: object, snap: Mapping[str, Any]) -> tuple[list[str], int]:
    """Write configuration and datamodel onto the model; return (pending, next step number)."""
    config = list(snap.get("configuration", []))
    if not config:
        raise ChartError(f"{chart.path}: the snapshot has no configuration")
    value: Any = config[0] if len(config) == 1 else OrderedSet(config)
    setattr(model, STATE_FIELD, value)
    for k, v in snap.get("datamodel", {}).items():
        setattr(model, k, v)
    return [str(e) for e in snap.get("pending", [])], int(snap.get("next_step", 0))
