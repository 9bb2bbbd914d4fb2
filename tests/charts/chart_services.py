"""Services, clock and paths shared by the chart engine tests."""

from __future__ import annotations

from pathlib import Path

from beacon.charts import action, guard

HERE = Path(__file__).parent
GOOD = HERE / "good"
BROKEN = HERE / "broken"
REPO = HERE.parent.parent
DOOR = REPO / "statecharts" / "door.yaml"


class FakeClock:
    """Advances one second per reading, so trace times are predictable."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class Fetcher:
    """Answers ``fetch`` from a script of outcomes; ``wait`` always succeeds."""

    def __init__(self, *outcomes: str) -> None:
        self.script = list(outcomes)
        self.calls: list[str] = []

    @action("ok", "busy")
    def fetch(self) -> str:
        self.calls.append("fetch")
        return self.script.pop(0)

    @action("ok")
    def wait(self) -> str:
        self.calls.append("wait")
        return "ok"


class DoorService:
    """The door chart's services: a door that jams ``jams`` times, and a key ring."""

    def __init__(self, jams: int = 0, keys: tuple[str, ...] = ("good",)) -> None:
        self.jams = jams
        self.keys = list(keys)

    @action("ok", "jammed")
    def try_open(self) -> str:
        if self.jams:
            self.jams -= 1
            return "jammed"
        return "ok"

    @action("ok", "wrong_key")
    def check_key(self) -> str:
        return "ok" if self.keys.pop(0) == "good" else "wrong_key"

    @guard
    def has_spare_key(self) -> bool:
        return bool(self.keys)
