"""A kill after any step of a first sync leaves a state the next run carries on from.

Every step of every chart (session, token, collection) is a crash point: an observer raises
after step *k*, the client is thrown away as a killed process would be, and a new client on
the same state directory must finish the job: the local edit reaches the server, storage is
set up exactly once more at most, and a second device reads the edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from beacon import charts
from beacon.charts import Machine, Step
from beacon.client import _client
from beacon.server import EmbeddedService
from tests.client.sync_world import Clock, World


class Killed(BaseException):
    """The process died (a BaseException, so nothing on the way can swallow it)."""


class Killer:
    """Counts steps across every chart bound by the client; raises after step ``at``."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.steps = 0

    def __call__(self, step: Step) -> None:
        self.steps += 1
        if self.at is not None and self.steps == self.at:
            raise Killed


def _arm(monkeypatch: pytest.MonkeyPatch, killer: Killer) -> None:
    real_bind = charts.bind

    def bind(*args: Any, **kwargs: Any) -> Machine:
        machine = real_bind(*args, **kwargs)
        machine.add_observer(killer)
        return machine

    monkeypatch.setattr(_client, "bind", bind)


def _steps_of_a_clean_first_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    world = World(tmp_path / "probe")
    counter = Killer(None)
    with monkeypatch.context() as m:
        _arm(m, counter)
        a = world.device("a")
        a.notes.put("n1", {"text": "edit"})
        a.client.sync()
    world.close()
    return counter.steps


def test_a_kill_after_any_step_of_a_first_sync_is_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = _steps_of_a_clean_first_sync(tmp_path, monkeypatch)
    assert total > 20
    clock = Clock()
    service = EmbeddedService(clock=clock)
    for at in range(1, total + 1):
        world = World(tmp_path / f"kill-{at}", clock=clock, shared=service)  # a new account
        try:
            with monkeypatch.context() as m:
                _arm(m, Killer(at))
                a = world.device("a")
                a.notes.put("n1", {"text": "edit"})
                with pytest.raises(Killed):
                    a.client.sync()
            a.client.close()
            again = world.device("a")
            result = again.client.sync()
            assert result.outcome == "ok", at
            assert set(world.svc.faults.records(world.fxa_uid, "notes")) == {"n1"}, at
            assert again.client.sync().requests == 1, at  # and it settles
            b = world.device("b")
            b.client.sync()
            assert b.notes.get("n1") == {"id": "n1", "text": "edit"}, at
        finally:
            world.close()
    service.close()
