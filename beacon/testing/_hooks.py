"""Hooks into the client's chart runs that the client does not offer publicly (yet).

Contract: :func:`observing` adds an observer to every chart machine that ``SyncClient``
binds while the ``with`` block runs (the session chart and the token and collection charts
nested in it), so a campaign can count transitions across the whole run and kill the run
at any of them. Outside the block the client is untouched. Not thread-safe: the campaign runs
one device at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from beacon.charts import Machine

__all__ = ["observing"]


@contextmanager
def observing(fn: Callable[[Any], None]) -> Iterator[None]:
    """Call ``fn(step)`` after every step of every chart the client runs in the block."""
    from beacon.client import _client

    original: Callable[..., Machine] = getattr(_client, "bind")  # noqa: B009 - not exported

    def bind_observed(*args: Any, **kwargs: Any) -> Machine:
        machine = original(*args, **kwargs)
        machine.add_observer(fn)
        return machine

    setattr(_client, "bind", bind_observed)  # noqa: B010
    try:
        yield
    finally:
        setattr(_client, "bind", original)  # noqa: B010
