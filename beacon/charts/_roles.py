"""What each top-level final state of a chart means to whoever runs it: its declared role.

Contract: pure. A chart declares, on every top-level final state, the state's ``donedata``
(SCXML's "what a final state returns to its parent") as a literal mapping::

    in_backoff:
      final: true
      donedata: {content: "{'role': 'failure', 'error': 'BackoffError'}"}

``role`` is one of :data:`ROLES`: ``success`` (the run did its job), ``recovery`` (the run
ended in a way its caller is expected to repair, e.g. a node reassignment) or ``failure``.
A ``failure`` names ``error``: the class of beacon's error tree that the run's caller raises
when it ends there (``beacon._errors``; the class whose instance the action recorded with
its outcome is raised, else a new one). The library evaluates ``donedata`` as an expression
when the final is entered; beacon reads the same literal once, here, so that the renderer,
traces, the demo and the clients all read one declaration. See ``docs/charts.md``.

Why ``donedata`` and not a key of beacon's own: python-statemachine's schema refuses unknown
keys, a sidecar file can drift from its chart, and ``donedata`` is the vocabulary SCXML
already has for the result a final state hands to its parent, so an SCXML export keeps it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from beacon._errors import BeaconError, error_class

__all__ = ["ROLES", "Role", "read_role"]

#: The roles a final state may declare.
ROLES = ("success", "recovery", "failure")


@dataclass(frozen=True)
class Role:
    """A final state's declared meaning: its role, and for a failure the error it raises."""

    role: str
    error: type[BeaconError] | None = None

    @property
    def is_failure(self) -> bool:
        """Whether the run that ends here failed."""
        return self.role == "failure"

    def to_json(self) -> dict[str, Any]:
        """The role as a JSON-able dict (the error by class name)."""
        out: dict[str, Any] = {"role": self.role}
        if self.error is not None:
            out["error"] = self.error.__name__
        return out


def read_role(content: str | None, params: Mapping[str, str | None]) -> Role | str:
    """The role a final's ``donedata`` declares, or a sentence saying what is wrong with it.

    Args:
        content: the ``donedata`` ``content`` expression, when given.
        params: the ``donedata`` params (name → expression), when given instead.
    """
    if content is not None:
        try:
            value = ast.literal_eval(content)
        except (ValueError, SyntaxError):
            return f"donedata content {content!r} is not a literal mapping"
        if not isinstance(value, dict):
            return f"donedata content {content!r} is not a literal mapping"
        declared: dict[Any, Any] = value
    elif params:
        declared = {}
        for name, expr in params.items():
            try:
                declared[name] = ast.literal_eval(expr or "")
            except (ValueError, SyntaxError):
                return f"donedata param {name!r} is not a literal ({expr!r})"
    else:
        return "declares no role (donedata with 'role': one of " + ", ".join(ROLES) + ")"
    unknown = sorted(str(k) for k in declared if k not in ("role", "error"))
    if unknown:
        return f"donedata has unknown keys {unknown} (allowed: 'role', 'error')"
    role = declared.get("role")
    if role not in ROLES:
        return f"role {role!r} is not one of {', '.join(ROLES)}"
    error = declared.get("error")
    if role != "failure":
        if error is not None:
            return f"only a failure names an error; this {role} names {error!r}"
        return Role(str(role))
    if not isinstance(error, str):
        return "a failure must name the error it raises ('error': a class of beacon's errors)"
    cls = error_class(error)
    if cls is None:
        return f"error {error!r} is not a class of beacon's error tree"
    return Role("failure", cls)
