"""Where a chart campaign's decisions come from: Hypothesis, a guide, or a replay log.

Contract: every decision of a chart campaign (which event to send, an action's outcome, a
guard's answer, a crash, whether to follow the guide) goes through :meth:`Chooser.pick` with a
key naming the decision and the options. Each pick is logged as ``[key, value]`` (JSON
values), so the log of a failing example *is* its replay: :class:`ReplayChooser` gives the
logged values back in order and refuses a log that no longer fits (the chart or the service
changed), naming the pick. A guided pick (``guided=`` a value) is logged like any other but
draws nothing from Hypothesis, so the guide can steer without consuming the example's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

from beacon._errors import UsageError

__all__ = ["Chooser", "DataChooser", "ReplayChooser", "ReplayDiverged"]

T = TypeVar("T")


class ReplayDiverged(UsageError):
    """A replay log does not fit the run it drives (the chart or a service changed)."""


class Chooser:
    """Makes and logs decisions; subclasses say where undirected ones come from."""

    def __init__(self) -> None:
        self.log: list[list[Any]] = []

    def pick(self, key: str, options: Sequence[T], *, guided: T | None = None) -> T:
        """One of ``options`` (``guided`` when given), logged under ``key``."""
        if not options:
            raise ValueError(f"no options for {key}")
        value = guided if guided is not None else self._choose(key, options)
        self.log.append([key, value])
        return value

    def _choose(self, key: str, options: Sequence[T]) -> T:
        raise NotImplementedError


class DataChooser(Chooser):
    """Draws from a Hypothesis ``st.data()`` object (the search shrinks these draws)."""

    def __init__(self, data: st.DataObject) -> None:
        super().__init__()
        self._data = data

    def _choose(self, key: str, options: Sequence[T]) -> T:
        if len(options) == 1:
            return options[0]
        return self._data.draw(st.sampled_from(options), label=key)


class ReplayChooser(Chooser):
    """Gives a logged run's values back, in order, checking each key and option."""

    def __init__(self, log: Sequence[Sequence[Any]]) -> None:
        super().__init__()
        self._recorded = [list(entry) for entry in log]

    @property
    def exhausted(self) -> bool:
        """Whether every logged pick was replayed."""
        return len(self.log) >= len(self._recorded)

    def pick(self, key: str, options: Sequence[T], *, guided: T | None = None) -> T:
        index = len(self.log)
        if index >= len(self._recorded):
            raise ReplayDiverged(f"the replay log ends before pick {index + 1} ({key})")
        logged_key, value = self._recorded[index]
        if logged_key != key:
            raise ReplayDiverged(
                f"pick {index + 1}: the log has {logged_key!r}, the run asks for {key!r}"
            )
        matches = [o for o in options if o == value]
        if not matches:
            raise ReplayDiverged(f"pick {index + 1} ({key}): {value!r} is not one of the options")
        self.log.append([key, matches[0]])
        return matches[0]
