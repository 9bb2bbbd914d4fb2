"""Traces: what one run of a bound chart did, as JSON.

Contract: a trace holds names, never values. It records event names, transition ids
(``source#n``) and labels, states entered and left, guard names with their boolean results,
action names with the outcome each returned, and times read from the injected clock. It never
holds action arguments, return data, datamodel values or exception messages, so it can be
shared, committed and drawn without leaking secrets.

JSON shape (``version`` 1)::

    {"version": 1, "chart": "door", "digest": "<sha256>", "status": "final",
     "final_state": "gone", "role": "success", "error": null, "restored_at": null,
     "steps": [{"n": 0, "time": 0.0, "event": null, "transitions": [],
                "entered": ["closed"], "left": [], "guards": {},
                "actions": [{"action": "check_lock", "state": "closed", "outcome": "ok",
                             "error": "<class name, when the outcome carried one>",
                             "children": [<trace>, ...]}],
                "configuration": ["closed"]}, ...]}

Step 0 is the initial activation (``event`` null). ``children`` holds the traces of charts
that an action bound and ran while it executed, so a run of nested charts is one tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beacon._errors import ChartError

__all__ = ["ActionRecord", "Step", "Trace"]

TRACE_VERSION = 1


@dataclass
class ActionRecord:
    """One action call: its name, the state that ran it, its outcome, nested traces."""

    action: str
    state: str | None
    outcome: str | None = None
    children: list[Trace] = field(default_factory=list)
    #: The class name of the error the outcome carried (``outcome(name, error)``), never its text.
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-able dict."""
        out: dict[str, Any] = {"action": self.action, "state": self.state, "outcome": self.outcome}
        if self.error is not None:
            out["error"] = self.error
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActionRecord:
        """Read a record written by :meth:`to_json`."""
        return cls(
            action=str(data["action"]),
            state=data.get("state"),
            outcome=data.get("outcome"),
            children=[Trace.from_json(c) for c in data.get("children", [])],
            error=data.get("error"),
        )


@dataclass
class Step:
    """One event processed: the transitions it fired and what they entered and ran.

    Observers (``machine.add_observer``) receive each step once it is complete.
    """

    n: int
    time: float
    event: str | None
    transitions: list[str] = field(default_factory=list)
    entered: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    guards: dict[str, bool] = field(default_factory=dict)
    actions: list[ActionRecord] = field(default_factory=list)
    configuration: list[str] = field(default_factory=list)

    @property
    def outcomes(self) -> list[str]:
        """The outcomes the step's actions returned, in call order."""
        return [a.outcome for a in self.actions if a.outcome is not None]

    def to_json(self) -> dict[str, Any]:
        """The step as a JSON-able dict."""
        return {
            "n": self.n,
            "time": self.time,
            "event": self.event,
            "transitions": list(self.transitions),
            "entered": list(self.entered),
            "left": list(self.left),
            "guards": dict(self.guards),
            "actions": [a.to_json() for a in self.actions],
            "configuration": list(self.configuration),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        """Read a step written by :meth:`to_json`."""
        return cls(
            n=int(data["n"]),
            time=float(data["time"]),
            event=data.get("event"),
            transitions=list(data.get("transitions", [])),
            entered=list(data.get("entered", [])),
            left=list(data.get("left", [])),
            guards={str(k): bool(v) for k, v in data.get("guards", {}).items()},
            actions=[ActionRecord.from_json(a) for a in data.get("actions", [])],
            configuration=list(data.get("configuration", [])),
        )


@dataclass
class Trace:
    """The record of one run of one chart (and, through ``children``, of nested runs).

    ``restored_at`` is the number of the first step when the run carried on from a snapshot
    (``None`` for a run from the initial state). ``status`` is ``running`` until the machine
    reaches a top-level final state (``final``) or a step raises (``error``; ``error`` then
    holds the exception's class name only).
    """

    chart: str
    digest: str = ""
    steps: list[Step] = field(default_factory=list)
    status: str = "running"
    final_state: str | None = None
    error: str | None = None
    restored_at: int | None = None
    #: The declared role of the final state reached (``success``, ``recovery``, ``failure``).
    role: str | None = None

    @property
    def transitions(self) -> list[str]:
        """Every transition id fired, in order."""
        return [t for step in self.steps for t in step.transitions]

    @property
    def events(self) -> list[str]:
        """Every event processed, in order (the initial activation is not an event)."""
        return [s.event for s in self.steps if s.event is not None]

    @property
    def children(self) -> list[Trace]:
        """The traces of charts run by this run's actions, in order."""
        return [c for step in self.steps for a in step.actions for c in a.children]

    def walk(self) -> Iterator[Trace]:
        """This trace and every nested trace, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_json(self) -> dict[str, Any]:
        """The trace as a JSON-able dict (see the module docstring for the shape)."""
        return {
            "version": TRACE_VERSION,
            "chart": self.chart,
            "digest": self.digest,
            "status": self.status,
            "final_state": self.final_state,
            "role": self.role,
            "error": self.error,
            "restored_at": self.restored_at,
            "steps": [s.to_json() for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trace:
        """Read a trace written by :meth:`to_json`.

        Raises:
            ChartError: not a trace, or a version this beacon does not read.
        """
        if not isinstance(data, Mapping) or data.get("version") != TRACE_VERSION:
            raise ChartError(f"not a beacon trace (version {TRACE_VERSION})")
        return cls(
            chart=str(data["chart"]),
            digest=str(data.get("digest", "")),
            steps=[Step.from_json(s) for s in data.get("steps", [])],
            status=str(data.get("status", "running")),
            final_state=data.get("final_state"),
            error=data.get("error"),
            restored_at=data.get("restored_at"),
            role=data.get("role"),
        )

    def dumps(self) -> str:
        """The trace as JSON text (sorted keys, indented)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    def save(self, path: str | Path) -> None:
        """Write the trace to a JSON file."""
        Path(path).write_text(self.dumps() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace from a JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ChartError(f"{path}: cannot read trace: {exc}") from exc
        return cls.from_json(data)
