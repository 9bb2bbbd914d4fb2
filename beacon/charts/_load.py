"""Loading a chart document into a checked :class:`Chart`, and finding the packaged charts.

Contract: :func:`load_chart` reads one YAML file, runs every check that needs no services
(``_check.py``) and raises :class:`~beacon.ChartError` carrying the findings when any is an
error. A :class:`Chart` is immutable and may be bound any number of times. The
python-statemachine class behind it is switched to strict settings once, here: callback
exceptions propagate (``catch_errors_as_events = False``) and an external event no transition
takes raises (``allow_event_without_transition = False``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from statemachine import StateChart
from statemachine.io.evaluators import RestrictedEvaluator

from beacon._errors import ChartError
from beacon.charts._check import Finding, analyse
from beacon.charts._model import Structure
from beacon.charts._roles import Role, read_role

__all__ = ["Chart", "chart_path", "child_chart_of", "load_chart", "packaged_charts"]


@dataclass(frozen=True, eq=False)
class Chart:
    """A loaded, checked chart document: bind it to services to run it.

    Attributes:
        name: the document's ``name`` (or the file stem).
        path: the file it came from.
        digest: SHA-256 of the document text (traces and snapshots carry it).
        structure: states and transitions as beacon reads them.
        warnings: the non-error findings of the load-time checks.
        machine_class: the python-statemachine class (strict settings), built from the same
            reading of the document as ``structure``.
        roles: what each top-level final state means (success, recovery, failure + error).
    """

    name: str
    path: Path
    digest: str
    doc: dict[str, Any]
    structure: Structure
    warnings: tuple[Finding, ...]
    machine_class: type[StateChart[Any]]
    # id(library Transition) -> beacon transition id ("source#n"), for traces.
    transition_ids: dict[int, str]
    # (variable, compiled expression) in document order; see Machine.start.
    datamodel: tuple[tuple[str, Callable[..., Any] | None], ...] = ()
    #: Each top-level final state's declared role (``_roles.py``).
    roles: Mapping[str, Role] = field(default_factory=dict)

    def role(self, final: str) -> Role:
        """The declared role of a top-level final state.

        Raises:
            ChartError: ``final`` is not a top-level final state of this chart.
        """
        try:
            return self.roles[final]
        except KeyError:
            raise ChartError(f"{self.name}: {final!r} is not a final state") from None

    def __repr__(self) -> str:
        return f"Chart(name={self.name!r}, path={str(self.path)!r})"


def load_chart(source: str | Path) -> Chart:
    """Load and check a chart document.

    Args:
        source: a path to a YAML document, or the name of a chart packaged with beacon
            (``"session"`` finds ``statecharts/session.yaml``).

    Raises:
        ChartError: the document has errors; ``.findings`` lists them all.

    Example::

        chart = load_chart("statecharts/door.yaml")
    """
    path = Path(source)
    if not path.suffix and not path.exists():
        path = chart_path(str(source))
    analysis = analyse(path)
    errors = [f for f in analysis.findings if f.severity == "error"]
    if errors:
        lines = "\n  ".join(str(f) for f in errors)
        raise ChartError(
            f"{path}: {len(errors)} error(s) in the chart:\n  {lines}", findings=tuple(errors)
        )
    cls = analysis.machine_class
    structure = analysis.structure
    if cls is None or structure is None:  # pragma: no cover - analyse reports an error then
        raise ChartError(f"{path}: the chart could not be built")
    cls.catch_errors_as_events = False
    cls.allow_event_without_transition = False
    text = path.read_bytes()
    return Chart(
        name=structure.name or path.stem,
        path=path,
        digest=hashlib.sha256(text).hexdigest(),
        doc=analysis.doc,
        structure=structure,
        warnings=tuple(analysis.findings),
        machine_class=cls,
        transition_ids=_transition_ids(path, cls, structure),
        datamodel=_datamodel(structure),
        roles=_roles(structure),
    )


def _roles(structure: Structure) -> dict[str, Role]:
    roles = {}
    for sid, done in structure.donedata.items():
        role = read_role(*done) if done is not None else None
        if not isinstance(role, Role):  # pragma: no cover - the role check refused it
            raise ChartError(f"final state {sid!r} has no valid role")
        roles[sid] = role
    return roles


def _datamodel(structure: Structure) -> tuple[tuple[str, Callable[..., Any] | None], ...]:
    """The datamodel's expressions, compiled by the library's restricted evaluator.

    python-statemachine initialises a loaded document's datamodel once per *class* (the
    initialiser keeps an ``initialized`` flag), so the second machine of a chart would start
    without its variables. beacon therefore sets them itself on every fresh start.
    """
    evaluator = RestrictedEvaluator()
    return tuple(
        (name, evaluator.compile_value(str(expr)) if expr is not None else None)
        for name, expr in structure.datamodel_exprs
    )


def _transition_ids(path: Path, cls: type[StateChart[Any]], s: Structure) -> dict[int, str]:
    """Map the library's transition objects to beacon's ids (``""``: the library's own).

    The library appends one eventless ``initial`` transition to each compound state for its
    default entry; those are not in the document and traces skip them.
    """
    ids: dict[int, str] = {}
    for state in cls.states_map.values():
        declared = s.states[state.id].transitions if state.id in s.states else []
        library = list(state.transitions)
        extra = library[len(declared) :]
        if len(library) < len(declared) or not all(t.initial for t in extra):
            raise ChartError(  # pragma: no cover - would be a library change
                f"{path}: state {state.id!r} has {len(library)} transitions in "
                f"python-statemachine but {len(declared)} in the document"
            )
        for lt, info in zip(library, declared, strict=False):
            ids[id(lt)] = info.id
        for lt in extra:
            ids[id(lt)] = ""
    return ids


_CHILD_CHARTS: dict[tuple[str, str], Chart] = {}


def child_chart_of(parent: Path, name: str) -> Chart:
    """The chart a nesting action names: a file beside the parent's, else a packaged chart."""
    key = (str(parent), name)
    chart = _CHILD_CHARTS.get(key)
    if chart is None:
        beside = parent.parent / f"{name}.yaml"
        chart = load_chart(beside if beside.is_file() else name)
        _CHILD_CHARTS[key] = chart
    return chart


def chart_path(name: str) -> Path:
    """The path of a chart packaged with beacon, e.g. ``chart_path("session")``.

    Raises:
        ChartError: no packaged chart has that name.
    """
    path = Path(str(resources.files("beacon") / "statecharts" / f"{name}.yaml"))
    if not path.is_file():
        known = ", ".join(packaged_charts()) or "none"
        raise ChartError(f"no packaged chart named {name!r} (packaged: {known})")
    return path


def packaged_charts() -> list[str]:
    """Names of the charts packaged with beacon, sorted."""
    folder = resources.files("beacon") / "statecharts"
    if not folder.is_dir():
        return []
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )
