"""The cyclic garbage collector's pace while a campaign runs.

Contract: :func:`campaign_pace` raises the collector's youngest-generation threshold for the
duration of a block (never lowers it) and puts back the thresholds it found, whatever the
block raises. A disabled collector stays disabled.

Why: a campaign allocates containers at a high rate (python-statemachine builds its trigger,
event data and keyword dictionaries for every callback; the client, the in-process server and
Hypothesis their own), and with CPython's default threshold (700) the collector ran about 720
times in a 20x20 campaign, older generations included, about a tenth of its CPU time. At
5,000 it runs 40 to 80 times and the older generations rarely (about 2% of the CPU time): the
same garbage is found, later, for a few megabytes more at most.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CAMPAIGN_THRESHOLD", "campaign_pace"]

#: Allocations (net of deallocations) between two collections of the youngest generation.
CAMPAIGN_THRESHOLD = 5000


@contextmanager
def campaign_pace(threshold: int = CAMPAIGN_THRESHOLD) -> Iterator[None]:
    """Collect the youngest generation every ``threshold`` allocations inside the block."""
    found = gc.get_threshold()
    if found[0] == 0 or found[0] >= threshold:  # off (threshold 0), or already slower
        yield
        return
    gc.set_threshold(threshold, *found[1:])
    try:
        yield
    finally:
        gc.set_threshold(*found)
