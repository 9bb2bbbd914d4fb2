"""``beacon chart``: check, draw, walk and replay statechart documents.

::

    beacon chart check PATH... [--services MODULE:ATTR] [--json]   exit 1 on any error
    beacon chart render PATH... -o DIR [--trace FILE] [--coverage FILE] [--mermaid] [--no-svg]
    beacon chart paths PATH [--json]
    beacon chart replay PATH TRACE [--json]             exit 1 on a divergence
    beacon chart coverage TRACE... -o FILE [--chart PATH...]
    beacon chart export --format scxml|xstate|mermaid PATH [-o FILE]

``render`` writes ``<chart>.dot`` and ``<chart>.svg`` (``.mmd`` with ``--mermaid``). With an
overlay the files are ``<chart>.trace.*`` / ``<chart>.coverage.*`` so the committed diagrams
stay as they are.

``export`` writes the chart in another tool's format (stdout, or ``-o FILE``): SCXML that
python-statemachine's own loader reads back into the same chart (callback names ride in
``beacon:*`` attributes), an XState v5 machine config as JSON (Stately's editor imports it),
or a Mermaid ``stateDiagram-v2``. docs/charts.md (Export) says what maps to what.

``check`` also checks action and guard names and completeness (every declared outcome handled)
when it knows the chart's services: the packaged Sync charts bind ``beacon.client``'s
``CHART_SERVICES`` by themselves, the account chart ``beacon.fxa.ACCOUNT_CHART_SERVICES``;
``--services MODULE:ATTR`` names the service classes of any other chart (a sequence of
classes, or a mapping from chart name to classes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from beacon._errors import ChartError, UsageError
from beacon.charts import (
    Coverage,
    MatrixCell,
    Overlay,
    Trace,
    chart_path,
    check_chart,
    completeness_matrix,
    export_scxml,
    export_xstate,
    format_matrix,
    load_chart,
    render_dot,
    render_mermaid,
    render_svg,
    replay,
    transition_paths,
)
from beacon.cli._common import require_dot, writable_dir

#: ``beacon chart export --format``: what each format writes.
_EXPORTS = {
    "scxml": lambda chart: export_scxml(chart),
    "xstate": lambda chart: json.dumps(export_xstate(chart), indent=2) + "\n",
    "mermaid": lambda chart: render_mermaid(chart),
}

_EXAMPLES = {
    "chart": "beacon chart check statecharts/*.yaml\n"
    "beacon chart render statecharts/session.yaml -o diagrams/ --trace run.json",
    "check": "beacon chart check statecharts/*.yaml\n"
    "beacon chart check my-chart.yaml --services my_module:SERVICES --json",
    "render": "beacon chart render statecharts/*.yaml -o diagrams/\n"
    "beacon sync ... --trace-out run.json && "
    "beacon chart render statecharts/session.yaml --trace run.json -o my-run/",
    "paths": "beacon chart paths statecharts/token.yaml",
    "replay": "beacon chart replay statecharts/session.yaml run.json",
    "coverage": "beacon chart coverage traces/*.json -o coverage.json"
    " --chart statecharts/session.yaml",
    "export": "beacon chart export --format scxml statecharts/door.yaml > door.scxml\n"
    "beacon chart export --format xstate statecharts/session.yaml -o session.json",
}


def _sub(sub: Any, name: str, help: str) -> Any:
    from beacon.cli._common import add_command

    return add_command(
        sub, name, help=help, doc=help[:1].upper() + help[1:] + ".", examples=_EXAMPLES[name]
    )


def register(subparsers: Any) -> None:
    """Add ``beacon chart`` and its sub-subcommands."""
    from beacon.cli._common import add_command

    parser = add_command(
        subparsers,
        "chart",
        help="check, draw, walk and replay statecharts",
        doc=__doc__,
        examples=_EXAMPLES["chart"],
    )
    sub = parser.add_subparsers(dest="chart_command", metavar="ACTION")
    sub.required = True

    check = _sub(sub, "check", "check chart documents; exit 1 on errors")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    check.add_argument("--json", action="store_true", help="print findings as JSON")
    check.add_argument(
        "--services",
        metavar="MODULE:ATTR",
        help="service classes to check names and outcomes against (see beacon chart --help)",
    )
    check.add_argument(
        "--matrix",
        action="store_true",
        help="also print every state x declared outcome and the transition handling it",
    )
    check.set_defaults(func=_check)

    render = _sub(sub, "render", "write DOT and SVG diagrams")
    render.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    render.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    render.add_argument("--trace", type=Path, metavar="FILE", help="overlay one run")
    render.add_argument("--coverage", type=Path, metavar="FILE", help="overlay hit counts")
    render.add_argument("--mermaid", action="store_true", help="also write <chart>.mmd")
    render.add_argument("--no-svg", action="store_true", help="write DOT only (no Graphviz needed)")
    render.set_defaults(func=_render)

    paths = _sub(sub, "paths", "event sequences that take every transition")
    paths.add_argument("path", type=Path, metavar="PATH")
    paths.add_argument("--json", action="store_true")
    paths.set_defaults(func=_paths)

    rep = _sub(sub, "replay", "re-run a chart against a recorded trace")
    rep.add_argument("path", type=Path, metavar="PATH")
    rep.add_argument("trace", type=Path, metavar="TRACE")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=_replay)

    cov = _sub(sub, "coverage", "accumulate traces into a coverage file")
    cov.add_argument("traces", nargs="+", type=Path, metavar="TRACE")
    cov.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    cov.add_argument(
        "--chart",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="report never-taken transitions of this chart",
    )
    cov.set_defaults(func=_coverage)

    export = _sub(sub, "export", "write a chart as SCXML, XState v5 JSON or Mermaid")
    export.add_argument("--format", required=True, choices=sorted(_EXPORTS), help="what to write")
    export.add_argument("path", type=Path, metavar="PATH")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    export.set_defaults(func=_export)


def _check(args: argparse.Namespace) -> int:
    status = 0
    report = []
    explicit = _load_services(args.services) if args.services else None
    for path in args.paths:
        services = _services_for(path, explicit)
        findings = check_chart(path, services)
        if any(f.severity == "error" for f in findings):
            status = 1
        entry: dict[str, object] = {"file": str(path), "findings": [f.to_json() for f in findings]}
        cells = _matrix(path, services) if args.matrix else None
        if cells is not None:
            entry["matrix"] = [c.to_json() for c in cells]
        report.append(entry)
        if not args.json:
            for f in findings:
                print(f)
            if not findings:
                print(f"{path}: ok")
            if args.matrix:
                print(format_matrix(cells) if cells else f"{path}: no services, no matrix")
    if args.json:
        print(json.dumps(report, indent=2))
    return status


def _matrix(path: Path, services: list[object] | None) -> list[MatrixCell] | None:
    """The completeness matrix, when the chart loads and its services are known."""
    if services is None:
        return None
    try:
        chart = load_chart(path)
    except ChartError:
        return None
    return completeness_matrix(chart.structure, services)


ServiceTable = Mapping[str, Sequence[type]] | Sequence[type]


def _load_services(spec: str) -> ServiceTable:
    """The service classes named by ``--services MODULE:ATTR``."""
    module_name, _, attr = spec.partition(":")
    try:
        table: object = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UsageError(f"--services {spec!r}: cannot import it ({exc})") from exc
    if isinstance(table, Mapping) or (
        isinstance(table, Sequence) and all(isinstance(c, type) for c in table)
    ):
        return table
    raise UsageError(f"--services {spec!r}: not a sequence of classes nor a mapping of them")


def _services_for(path: Path, explicit: ServiceTable | None) -> list[object] | None:
    """Uncalled instances of the chart's service classes, or None when none are known.

    Without ``--services`` only the packaged Sync charts get services: a user's chart that
    happens to be called ``session.yaml`` is not checked against beacon's Sync services.
    """
    classes: Sequence[type] | None
    if explicit is None:
        from beacon.client import CHART_SERVICES as SYNC_SERVICES
        from beacon.fxa import ACCOUNT_CHART_SERVICES as ACCOUNT_SERVICES

        packaged_services = {**SYNC_SERVICES, **ACCOUNT_SERVICES}
        try:
            packaged = path.resolve() == chart_path(path.stem).resolve()
        except ChartError:
            packaged = False
        classes = packaged_services.get(path.stem) if packaged else None
    elif isinstance(explicit, Mapping):
        classes = explicit.get(path.stem)
    else:
        classes = explicit
    # Checks read the classes' marks only; nothing is constructed or called.
    return None if classes is None else [object.__new__(cls) for cls in classes]


def _render(args: argparse.Namespace) -> int:
    trace = Trace.load(args.trace) if args.trace else None
    coverage = Coverage.load(args.coverage) if args.coverage else None
    suffix = ".trace" if trace else ".coverage" if coverage else ""
    if not args.no_svg:
        require_dot("beacon chart render (without --no-svg)")
    writable_dir(args.output, "-o")
    for path in args.paths:
        chart = load_chart(path)
        dot = render_dot(chart, Overlay.for_chart(chart, trace, coverage))
        stem = args.output / f"{chart.name}{suffix}"
        stem.with_suffix(stem.suffix + ".dot").write_text(dot, encoding="utf-8")
        written = [f"{stem}.dot"]
        if not args.no_svg:
            Path(f"{stem}.svg").write_text(render_svg(dot), encoding="utf-8")
            written.append(f"{stem}.svg")
        if args.mermaid:
            Path(f"{stem}.mmd").write_text(render_mermaid(chart), encoding="utf-8")
            written.append(f"{stem}.mmd")
        print(" ".join(written))
    return 0


def _paths(args: argparse.Namespace) -> int:
    chart = load_chart(args.path)
    found = transition_paths(chart)
    if args.json:
        print(json.dumps([p.to_json() for p in found], indent=2))
        return 0
    for n, p in enumerate(found, start=1):
        print(f"path {n}: {' '.join(p.events) or '(no events)'}")
        for step in p.steps:
            print(f"    {step.label}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    report = replay(load_chart(args.path), Trace.load(args.trace))
    d = report.divergence
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "divergence": None
                    if d is None
                    else {
                        "step": d.step,
                        "what": d.what,
                        "expected": d.expected,
                        "actual": d.actual,
                    },
                }
            )
        )
    else:
        print("replay matches the trace" if d is None else f"diverged at {d}")
    return 0 if report.ok else 1


def _coverage(args: argparse.Namespace) -> int:
    coverage = Coverage()
    for path in args.traces:
        coverage.add(Trace.load(path))
    coverage.save(args.output)
    for path in args.chart:
        chart = load_chart(path)
        never = coverage.never_taken(chart)
        print(f"{chart.name}: {coverage.ratio(chart):.0%} of transitions taken", file=sys.stdout)
        for label in never:
            print(f"    never: {label}")
    return 0


def _export(args: argparse.Namespace) -> int:
    path: Path = args.path
    # A packaged chart's name ("door") is a PATH too; a file name that is not there is not.
    if (path.suffix or path.parent != Path()) and not path.is_file():
        raise UsageError(f"{str(path)!r}: no such chart file")
    text = _EXPORTS[args.format](load_chart(path))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(args.output)
    return 0
