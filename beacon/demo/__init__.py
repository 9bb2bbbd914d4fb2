"""``beacon demo``: two devices, one embedded Sync 1.5 service, a story told and checked.

:func:`run_demo` runs it over loopback HTTP, writes the traces, the overlaid diagrams and
the HTML page, and returns the :class:`Story` with its checks; ``beacon.cli.demo`` prints it.
"""

from __future__ import annotations

from beacon.demo._scenario import run_demo
from beacon.demo._story import Chapter, Check, Request, Story
from beacon.demo._timeline import print_checks, print_timeline

__all__ = ["Chapter", "Check", "Request", "Story", "print_checks", "print_timeline", "run_demo"]
