"""Replay files: a campaign run (usually a shrunk failure) saved as JSON and run again.

Contract:

* The file is one JSON object (:data:`FORMAT`, version :data:`VERSION`)::

      {"format": "beacon-replay", "version": 1,
       "seed": 7, "devices": 2, "engines": ["bookmarks", "passwords"],
       "accounts": false, "typed": false,                      # the world (optional)
       "steps":  [{"rule": "edit", "args": {...}}, ...],      # every step, in order
       "faults": [1, 4],                                       # indexes of the fault steps
       "failure": {"invariant": "...", "message": "...", "step": 4} | null,
       "trace": {...} | null}                                  # last run's chart trace

* Everything in it is data the campaign chose (device indexes, record ids, small integers,
  rule names) or a chart trace, which by the engine's contract never holds secrets. Tokens,
  kB and keys are never written: a replay re-creates the account from ``seed``.
* :func:`load_replay` checks the structure and every step against the catalogue and raises
  :class:`~beacon.UsageError` naming what is wrong; it never returns a half-read file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beacon._errors import UsageError
from beacon.testing._faults import CampaignStep, validate

__all__ = [
    "FORMAT",
    "VERSION",
    "Failure",
    "ReplayFile",
    "load_replay",
    "parse_replay",
    "save_replay",
]

FORMAT = "beacon-replay"
VERSION = 1


@dataclass(frozen=True)
class Failure:
    """Which invariant broke, at which step (index into ``steps``), and what was seen."""

    invariant: str
    message: str
    step: int

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in replay files and printed by ``beacon explore --json``."""
        return {"invariant": self.invariant, "message": self.message, "step": self.step}


@dataclass(frozen=True)
class ReplayFile:
    """One recorded campaign run: enough to run it again step for step."""

    seed: int
    devices: int
    engines: tuple[str, ...]
    steps: tuple[CampaignStep, ...]
    failure: Failure | None = None
    trace: Mapping[str, Any] | None = field(default=None, compare=False)
    #: The world the steps ran in: devices signed in through the account chart; Firefox's
    #: collections on their typed engines (``CampaignConfig.accounts`` / ``.typed``).
    accounts: bool = False
    typed: bool = False

    @property
    def faults(self) -> tuple[int, ...]:
        """Indexes of the steps that are faults (service or another device)."""
        return tuple(i for i, step in enumerate(self.steps) if step.kind == "fault")

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "seed": self.seed,
            "devices": self.devices,
            "engines": list(self.engines),
            "accounts": self.accounts,
            "typed": self.typed,
            "steps": [step.to_json() for step in self.steps],
            "faults": list(self.faults),
            "failure": None if self.failure is None else self.failure.to_json(),
            "trace": None if self.trace is None else dict(self.trace),
        }


def save_replay(replay: ReplayFile, path: str | Path) -> Path:
    """Write ``replay`` to ``path`` (parents created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(replay.to_json(), indent=2, sort_keys=True) + "\n")
    return target


def _int(data: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UsageError(f"replay file: {key!r} must be an integer >= {minimum}")
    return value


def parse_replay(data: object) -> ReplayFile:
    """Build a :class:`ReplayFile` from its JSON object; :class:`UsageError` if malformed."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise UsageError(f"not a replay file: expected an object with format {FORMAT!r}")
    if data.get("version") != VERSION:
        raise UsageError(f"replay file version {data.get('version')!r} is not {VERSION}")
    seed = _int(data, "seed", minimum=0)
    devices = _int(data, "devices", minimum=1)
    engines = data.get("engines")
    if not isinstance(engines, list) or not all(isinstance(e, str) for e in engines):
        raise UsageError("replay file: 'engines' must be a list of engine names")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list):
        raise UsageError("replay file: 'steps' must be a list")
    steps = tuple(CampaignStep.from_json(raw) for raw in raw_steps)
    for step in steps:
        validate(step, devices=devices, engines=tuple(engines))
    failure = None
    raw_failure = data.get("failure")
    if raw_failure is not None:
        if not isinstance(raw_failure, Mapping):
            raise UsageError("replay file: 'failure' must be an object or null")
        failure = Failure(
            invariant=str(raw_failure.get("invariant", "")),
            message=str(raw_failure.get("message", "")),
            step=_int(raw_failure, "step", minimum=0),
        )
    trace = data.get("trace")
    if trace is not None and not isinstance(trace, Mapping):
        raise UsageError("replay file: 'trace' must be an object or null")
    world = {name: data.get(name, False) for name in ("accounts", "typed")}
    for name, value in world.items():
        if not isinstance(value, bool):
            raise UsageError(f"replay file: {name!r} must be true or false")
    return ReplayFile(seed, devices, tuple(engines), steps, failure, trace, **world)


def load_replay(path: str | Path) -> ReplayFile:
    """Read and check a replay file written by :func:`save_replay`."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read replay file {str(path)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"replay file {str(path)!r} is not JSON: {exc.msg}") from None
    return parse_replay(data)
