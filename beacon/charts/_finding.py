"""One problem found in a chart document.

Contract: a plain value; the checks (``_check.py``, ``_check_binding.py``) create findings and
:class:`~beacon.ChartError` carries them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Finding"]


@dataclass(frozen=True)
class Finding:
    """One problem in a chart. ``severity`` is ``error`` or ``warning``."""

    check: str
    severity: str
    file: str
    message: str
    state: str | None = None
    event: str | None = None
    transition: str | None = None

    def __str__(self) -> str:
        where = [f"state {self.state!r}"] if self.state else []
        if self.event:
            where.append(f"event {self.event!r}")
        if self.transition:
            where.append(f"transition {self.transition}")
        place = f" ({', '.join(where)})" if where else ""
        return f"{self.file}: {self.severity} [{self.check}]{place}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON-able dict."""
        return asdict(self)
