"""``python -m bench`` (``make bench``): run every benchmark, write results.json, print a table.

Each benchmark is a module of this package with ``run() -> dict``. Modules that are not there
yet are listed as absent rather than silently skipped; one that fails is reported with its
error and makes the exit status non-zero. Every figure is measured side by side with its
baseline in this one run (see ``bench/_figures.py``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: (key, module, what it measures), in the order of the table.
BENCHMARKS: tuple[tuple[str, str, str], ...] = (
    ("crypto", "bench.crypto", "record encrypt / decrypt-and-verify vs a bare cryptography loop"),
    (
        "local_edits",
        "bench.local_edits",
        "bulk local edits (put_many) vs a bare SQLite executemany",
    ),
    (
        "download",
        "bench.download",
        "full download and upload over loopback vs their serial floor, CPU/record, peak memory",
    ),
    ("requests", "bench.requests", "requests per no-change sync and per first sync"),
    ("server", "bench.server", "embedded service throughput"),
    (
        "charts",
        "bench.charts",
        "chart dispatch overhead and load_chart (cold, warm) vs bare python-statemachine",
    ),
    ("explore", "bench.explore", "model-based exploration speed"),
    (
        "campaign_speed",
        "bench.campaign_speed",
        "campaign transitions/s: today's code vs the issue-time code, and vs BEACON_CHART_REUSE=0",
    ),
    ("guide", "bench.guide", "coverage-guided vs blind: examples until every transition"),
    ("signin", "bench.signin", "requests per FxA sign-in and refresh; onepw v2 stretch cost"),
    (
        "sync_cost",
        "bench.sync_cost",
        "no-change / incremental sync CPU at 1k-100k records, whole process vs import httpx,"
        " upload peak memory 100k vs 10k",
    ),
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def _run_one(module_name: str, *, quick: bool) -> dict[str, Any]:
    """Import and run one benchmark module; never raises."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return {"status": "absent"}
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    run = getattr(module, "run", None)
    if not callable(run):
        return {"status": "error", "error": "the module has no run() function"}
    kwargs: dict[str, Any] = {}
    if quick and "quick" in inspect.signature(run).parameters:
        kwargs["quick"] = True
    start = time.perf_counter()
    try:
        result = run(**kwargs)
    except Exception as exc:  # a broken benchmark is reported, the others still run
        return {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "seconds": time.perf_counter() - start,
        }
    return {"status": "ok", "seconds": time.perf_counter() - start, "result": result}


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0 or 0.01 <= abs(value) < 1e6:
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _rows(key: str, outcome: dict[str, Any]) -> list[list[str]]:
    """Table rows for one benchmark: its figures, or its scalar results when it has none."""
    status = outcome["status"]
    if status == "absent":
        return [[key, "(module absent: not measured)", "", "", "", "", "", ""]]
    if status == "error":
        return [[key, f"ERROR {outcome['error']}", "", "", "", "", "", ""]]
    result = outcome["result"]
    rows: list[list[str]] = []
    figures = result.get("figures") if isinstance(result, dict) else None
    if isinstance(figures, list):
        for fig in figures:
            value = f"{_fmt(fig.get('value'))} {fig.get('unit', '')}".strip()
            baseline = _fmt(fig.get("baseline"))
            if baseline and fig.get("baseline_name"):
                baseline = f"{baseline} ({fig['baseline_name']})"
            met = fig.get("met")
            rows.append(
                [
                    key,
                    str(fig.get("name", "")),
                    value,
                    baseline,
                    _fmt(fig.get("ratio")),
                    str(fig.get("target") or ""),
                    "" if met is None else ("met" if met else "MISSED"),
                    str(fig.get("note") or ""),
                ]
            )
        return rows
    # A module with its own shape: one row per scalar, one level of nesting flattened.
    flat: list[tuple[str, object]] = []
    if isinstance(result, dict):
        for name, value in result.items():
            if isinstance(value, dict):
                flat.extend(
                    (f"{name}.{sub}", v)
                    for sub, v in value.items()
                    if not isinstance(v, dict | list)
                )
            elif not isinstance(value, list):
                flat.append((name, value))
    else:
        flat.append(("result", result))
    return [[key, name, _fmt(value), "", "", "", "", ""] for name, value in flat]


def print_table(results: dict[str, Any], console: Console) -> None:
    table = Table(title="beacon benchmarks (each ratio measured side by side in this run)")
    for column in ("bench", "figure", "value", "baseline", "ratio", "target", "", "note"):
        table.add_column(column, overflow="fold", max_width=48 if column == "note" else None)
    for key, outcome in results["benchmarks"].items():
        for row in _rows(key, outcome):
            table.add_row(*row)
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (a smoke run; the figures mean little)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results.json goes")
    args = parser.parse_args(argv)
    known = [key for key, _, _ in BENCHMARKS]
    selected = args.only or known
    unknown = sorted(set(selected) - set(known))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")

    console = Console(stderr=True)
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    for key, module_name, what in BENCHMARKS:
        if key not in selected:
            continue
        console.print(f"[bold]{key}[/bold]: {what} ...")
        outcome = _run_one(module_name, quick=args.quick)
        if outcome["status"] == "error":
            console.print(outcome.get("traceback") or outcome["error"], style="red")
        results["benchmarks"][key] = outcome
    results["seconds"] = sum(o.get("seconds", 0.0) for o in results["benchmarks"].values())

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print_table(results, Console(width=None if sys.stdout.isatty() else 150))
    console.print(f"wrote {args.out} in {results['seconds']:.1f} s")
    failed = [k for k, o in results["benchmarks"].items() if o["status"] == "error"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
