"""A door controller for ``statecharts/door.yaml``: the example of a campaign over your own chart.

Run it with::

    beacon explore --chart statecharts/door.yaml \
        --services examples/door_service.py:Door --invariants examples/door_service.py:INVARIANTS

``Door`` is a correct controller; ``PlantedDoor`` carries a bug the campaign finds and shrinks
(swap it in with ``--services examples/door_service.py:PlantedDoor``). Each example gets a
fresh controller: ``--services`` names a class or a function that returns the services.
"""

from __future__ import annotations

from beacon.charts import action, guard
from beacon.testing import ChartView


class Door:
    """A motor that jams now and then, and a key ring tried key by key."""

    def __init__(self, ring: tuple[str, ...] = ("bent", "good"), jams: int = 1) -> None:
        self.ring = list(ring)
        self.jams = jams
        #: Every key tried on the lock, in order (``None``: the ring was empty).
        self.tried: list[str | None] = []

    @action("ok", "jammed")
    def try_open(self) -> str:
        if self.jams:
            self.jams -= 1
            return "jammed"
        return "ok"

    @action("ok", "wrong_key")
    def check_key(self) -> str:
        key = self.ring.pop(0) if self.ring else None
        self.tried.append(key)
        return "ok" if key == "good" else "wrong_key"

    @guard
    def has_spare_key(self) -> bool:
        return bool(self.ring)


class PlantedDoor(Door):
    """The bug: with the ring empty, the lock gives way ("ok") instead of staying locked."""

    @action("ok", "wrong_key")
    def check_key(self) -> str:
        if not self.ring:
            self.tried.append(None)
            return "ok"
        return super().check_key()


def unlocked_only_by_the_good_key(view: ChartView) -> str | None:
    """A door that left ``unlocking`` for ``closed`` was opened by the good key."""
    (door,) = view.services
    assert isinstance(door, Door)
    unlocked = view.step.event == "ok" and "closed" in view.configuration
    if unlocked and door.tried and door.tried[-1] != "good":
        return f"unlocked after trying {door.tried[-1]!r}, not the good key"
    return None


def keys_are_never_reused(view: ChartView) -> bool:
    """Each key on the ring is tried at most once (a tried key leaves the ring)."""
    (door,) = view.services
    assert isinstance(door, Door)
    used = [k for k in door.tried if k is not None]
    return len(used) == len(set(used))


INVARIANTS = [unlocked_only_by_the_good_key, keys_are_never_reused]
