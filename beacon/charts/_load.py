"""Loading a chart document into a checked :class:`Chart`, and finding the packaged charts.

Contract: :func:`load_chart` reads one YAML file, runs every check that needs no services
(``_check.py``) and raises :class:`~beacon.ChartError` carrying the findings when any is an
error. A :class:`Chart` is immutable and may be bound any number of times. The
python-statemachine class behind it is switched to strict settings once, here: callback
exceptions propagate (``catch_errors_as_events = False``) and an external event no transition
takes raises (``allow_event_without_transition = False``).

A document is read and checked once: :func:`load_chart` keeps each chart per process (by path
and content hash) and, across processes, the checked reading of the document (the mapping
and the warnings; never code) in a JSON file of the user's cache directory, keyed by the
file's SHA-256, its path, beacon's and python-statemachine's versions and a stamp of the
checker's modules. An entry whose own
checksum, key or shape does not match is ignored and rebuilt, never trusted; a cache that
cannot be written is skipped. What a hit skips is the YAML parse, the schema validation
(jsonschema) and the checks; the library class is built from the cached mapping every time.
``BEACON_CACHE_DIR`` moves the cache; ``BEACON_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statemachine import StateChart
from statemachine.io.evaluators import RestrictedEvaluator

from beacon._errors import ChartError
from beacon.charts._finding import Finding
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
    try:
        text = path.read_bytes()
    except OSError:
        text = None  # analyse() reports the unreadable file as a finding
    digest = hashlib.sha256(text).hexdigest() if text is not None else ""
    memo_key = (str(path), digest)
    chart = _LOADED.get(memo_key) if text is not None else None
    if chart is not None:
        return chart
    analysis = _cached_analysis(path, digest) if text is not None else None
    if analysis is None:
        analysis = analyse(path)  # only now the checker (YAML, jsonschema) is imported
        if text is not None and analysis.machine_class is not None:
            _save_analysis(path, digest, analysis)
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
    chart = Chart(
        name=structure.name or path.stem,
        path=path,
        digest=digest,
        doc=analysis.doc,
        structure=structure,
        warnings=tuple(analysis.findings),
        machine_class=cls,
        transition_ids=_transition_ids(path, cls, structure),
        datamodel=_datamodel(structure),
        roles=_roles(structure),
    )
    _LOADED[memo_key] = chart
    return chart


@dataclass
class _Reading:
    """What a load needs of :class:`beacon.charts._check.Analysis` (read, or from the cache)."""

    doc: dict[str, Any]
    structure: Structure | None
    machine_class: type[StateChart[Any]] | None
    findings: list[Finding]


def analyse(path: Path) -> _Reading:
    """Read and check the document (:func:`beacon.charts._check.analyse`)."""
    from beacon.charts._check import analyse as read_and_check

    a = read_and_check(path)
    return _Reading(a.doc, a.structure, a.machine_class, a.findings)


# -- the load cache ---------------------------------------------------------------------------

# Charts loaded in this process, by (path, SHA-256 of the text): a changed file loads afresh.
_LOADED: dict[tuple[str, str], Chart] = {}
# Bump when the entry's shape or what a hit skips changes.
_CACHE_FORMAT = 1
_CACHE_ENV = "BEACON_CACHE_DIR"


def _cache_dir() -> Path | None:
    """The user's cache directory for beacon's charts (XDG, macOS or Windows), or None."""
    chosen = os.environ.get(_CACHE_ENV)
    if chosen is not None:
        return None if chosen in ("", "off") else Path(chosen)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base, "beacon", "Cache", "charts") if base else None
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "beacon" / "charts"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg if xdg else Path.home() / ".cache", "beacon", "charts")


def _versions() -> str:
    # The modules' own constants: importlib.metadata would cost more than the hit saves.
    import statemachine

    import beacon

    return (
        f"beacon={beacon.__version__},python-statemachine={statemachine.__version__},"
        f"checks={_checker_stamp()}"
    )


def _checker_stamp() -> str:
    """Size and mtime of the modules that read and check a chart: an entry built by an older
    checker (a development build between two versions) is rebuilt, never trusted. A stat per
    file costs microseconds; hashing the sources would cost more than the hit saves."""
    here = Path(__file__).resolve().parent
    parts = []
    for module in sorted(here.glob("_*.py")):
        try:
            info = module.stat()
        except OSError:
            continue
        parts.append(f"{module.name}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _cache_key(path: Path, digest: str) -> str:
    """What an entry must have been built from: format, versions, the file and its text."""
    where = str(path.resolve())
    return hashlib.sha256(f"{_CACHE_FORMAT}|{_versions()}|{where}|{digest}".encode()).hexdigest()


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _cached_analysis(path: Path, digest: str) -> _Reading | None:
    """The checked reading of ``path`` from the cache, rebuilt; None on any doubt."""
    folder = _cache_dir()
    if folder is None:
        return None
    key = _cache_key(path, digest)
    try:
        entry = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        body = entry["body"]
        if entry["checksum"] != _checksum(body) or body["key"] != key:
            return None  # damaged, or written for another file or version
        doc = body["doc"]
        warnings = [Finding(**w) for w in body["warnings"]]
        if not isinstance(doc, dict) or any(w.severity == "error" for w in warnings):
            return None
        return _rebuild(path, doc, warnings)
    except Exception:  # a missing, unreadable or odd entry: read the document instead
        return None


def _rebuild(path: Path, doc: dict[str, Any], warnings: list[Finding]) -> _Reading:
    """The library's IR, beacon's structure and the class, from the (checked) mapping."""
    from statemachine.io.evaluators import evaluator_for
    from statemachine.io.interpreter import Interpreter
    from statemachine.io.native import native_dict_to_definition

    definition = native_dict_to_definition(doc, source_name=path.stem)
    structure = Structure(definition)
    # As _check._build_class builds it, with the YAML reader (used only to compile invoked
    # children given as text) imported when first used: a cached chart needs no YAML parser.
    interpreter = Interpreter(reader=_LazyYAMLReader(), evaluator=evaluator_for(False))
    interpreter.process_definition(definition, location=path.stem)
    cls = interpreter.scs[path.stem]
    cls._io_processor = interpreter  # type: ignore[attr-defined]  # as load() keeps it alive
    return _Reading(doc, structure, cls, warnings)


class _LazyYAMLReader:
    """python-statemachine's YAML reader, imported on first use."""

    def __getattr__(self, name: str) -> Any:
        from statemachine.io.yaml.reader import YAMLReader

        return getattr(YAMLReader(), name)


def _save_analysis(path: Path, digest: str, analysis: _Reading) -> None:
    """Write the entry atomically (owner-only); a cache that cannot be written is skipped."""
    folder = _cache_dir()
    if folder is None:
        return
    body = {
        "key": _cache_key(path, digest),
        "doc": analysis.doc,
        "warnings": [f.to_json() for f in analysis.findings],
    }
    if any(f.severity == "error" for f in analysis.findings):
        return
    try:
        if json.loads(json.dumps(body["doc"])) != analysis.doc:
            return  # JSON would not give the same mapping back (non-string keys...)
        text = json.dumps({"checksum": _checksum(body), "body": body})
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, folder / f"{body['key']}.json")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _prune(folder)
    except (OSError, TypeError, ValueError):
        return


#: Entries kept: one per chart version seen; the oldest go first (edited charts, upgrades).
_CACHE_ENTRIES = 64


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for stale in entries[:-_CACHE_ENTRIES]:
        stale.unlink(missing_ok=True)


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


def _packaged() -> Path:
    """The packaged charts' folder: beside this package on a file system (every install but
    a zip), which costs a stat where importlib.resources' readers cost milliseconds."""
    beside = Path(__file__).resolve().parent.parent / "statecharts"
    if beside.is_dir():
        return beside
    from importlib import resources

    return Path(str(resources.files("beacon") / "statecharts"))


def chart_path(name: str) -> Path:
    """The path of a chart packaged with beacon, e.g. ``chart_path("session")``.

    Raises:
        ChartError: no packaged chart has that name.
    """
    path = _packaged() / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(packaged_charts()) or "none"
        raise ChartError(f"no packaged chart named {name!r} (packaged: {known})")
    return path


def packaged_charts() -> list[str]:
    """Names of the charts packaged with beacon, sorted."""
    folder = _packaged()
    if not folder.is_dir():
        return []
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )
