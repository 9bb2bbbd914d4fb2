"""What the demo tells: chapters (one sync run each), the claims it checks, the files it wrote.

Plain data, no I/O: the scenario fills it in, the timeline prints it, the page draws it and
``--json`` dumps it. Nothing in here may hold a secret (kB, access token, Hawk key, record
plaintext beyond the demo's own made-up titles).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Chapter", "Check", "Request", "Story"]


@dataclass(frozen=True)
class Request:
    """One HTTP exchange as the embedded service logged it (no headers, no bodies)."""

    method: str
    path: str
    status: int

    def label(self) -> str:
        return f"{self.method} {self.path} {self.status}"


@dataclass(frozen=True)
class Chapter:
    """One sync run of one device, with what the story says it is about."""

    number: int
    device: str
    title: str
    outcome: str
    path: tuple[str, ...]
    requests: tuple[Request, ...] = ()
    engines: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]


@dataclass(frozen=True)
class Check:
    """One claim of the story and whether the run bore it out."""

    claim: str
    passed: bool
    detail: str = ""


@dataclass
class Story:
    """The whole demo run."""

    devices: tuple[str, ...]
    chapters: list[Chapter] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    base_url: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def check(self, claim: str, passed: bool, detail: str = "") -> bool:
        self.checks.append(Check(claim, bool(passed), detail))
        return bool(passed)

    def for_device(self, device: str) -> list[Chapter]:
        return [c for c in self.chapters if c.device == device]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "devices": list(self.devices),
            "chapters": [
                {**asdict(c), "engines": {k: dict(v) for k, v in c.engines.items()}}
                for c in self.chapters
            ],
            "checks": [asdict(c) for c in self.checks],
            "files": dict(self.files),
        }
