"""The demo's files: traces, overlaid diagrams, the page, the story; and the leak check.

Everything written here comes from traces (names and outcomes only) and the story (titles,
states, request lines without headers or bodies); :func:`find_leaks` proves it for the run's
own secrets.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from beacon._crypto import KeyBundle
from beacon.charts import Chart, Overlay, Trace, edge_class, load_chart, render_dot, render_svg
from beacon.demo._page import render_page
from beacon.demo._story import Story

__all__ = ["DIAGRAMS", "find_leaks", "overlaid_svg", "secrets_of", "write_outputs", "write_story"]

#: The charts drawn per device, the first one shown large on the page.
DIAGRAMS = ("session", "token")


def write_story(story: Story, out: Path) -> None:
    """``story.json``: the chapters, their requests and the checks."""
    (out / "story.json").write_text(json.dumps(story.to_json(), indent=2) + "\n", "utf-8")


def write_outputs(
    story: Story,
    out: Path,
    traces: Mapping[str, list[dict[str, Any]]],
    *,
    signins: Mapping[str, Trace] | None = None,
) -> None:
    """Every file of ``out/`` but the devices' state: ``traces`` maps a device to its runs'
    trace trees, in the order of its chapters; ``signins`` to its sign-in's account chart
    trace (drawn as the account diagram)."""
    charts = [load_chart(name) for name in DIAGRAMS]
    traces_dir = out / "traces"
    traces_dir.mkdir(exist_ok=True)
    diagrams: dict[str, dict[str, str]] = {}
    steps: dict[str, list[tuple[str, str]]] = {}
    for name in story.devices:
        runs = traces.get(name, [])
        for chapter, trace in zip(story.for_device(name), runs, strict=False):
            path = traces_dir / f"{chapter.number:02d}-{name}.json"
            path.write_text(json.dumps(trace, indent=2, sort_keys=True) + "\n", "utf-8")
        parsed = [Trace.from_json(t) for t in runs]
        steps[name] = _steps(charts[0], parsed)
        diagrams[name] = {}
        for chart in charts:
            svg = overlaid_svg(chart, parsed)
            target = out / f"{chart.name}-{name}.svg"
            target.write_text(svg, "utf-8")
            diagrams[name][chart.name] = svg
            story.files[f"{chart.name} diagram, device {name}'s path"] = str(target)
        signin = (signins or {}).get(name)
        if signin is not None:
            account_chart = load_chart("account")
            svg = overlaid_svg(account_chart, [signin])
            target = out / f"account-{name}.svg"
            target.write_text(svg, "utf-8")
            diagrams[name]["account"] = svg
            story.files[f"account diagram, device {name}'s sign-in"] = str(target)
    story.files["traces (one JSON tree per run)"] = str(traces_dir)
    page = out / "index.html"
    story.files["the page"] = str(page)
    story.files["the story as JSON"] = str(out / "story.json")
    page.write_text(render_page(story, diagrams=diagrams, traces=traces, steps=steps), "utf-8")
    write_story(story, out)


def overlaid_svg(chart: Chart, traces: Iterable[Trace]) -> str:
    """``chart`` with the runs of one device overlaid, transitions numbered across runs.

    Every run of ``chart`` in the trace trees (the token chart runs again after a 401) is
    joined, in order, into one trace, so the engine's trace overlay numbers each transition
    in the order the device took it, run after run.
    """
    runs = [t for trace in traces for t in trace.walk() if t.chart == chart.name]
    combined = Trace(chart=chart.name, steps=[step for run in runs for step in run.steps])
    return render_svg(render_dot(chart, Overlay.for_chart(chart, combined)))


def _steps(chart: Chart, traces: Iterable[Trace]) -> list[tuple[str, str]]:
    """Every transition the device took in ``chart``, in order: (its edge's class, its label)."""
    by_id = chart.structure.by_id
    return [
        (edge_class(chart.name, tid), by_id[tid].label)
        for trace in traces
        for run in trace.walk()
        if run.chart == chart.name
        for tid in run.transitions
        if tid in by_id
    ]


def secrets_of(kb: bytes, access_token: str) -> set[str]:
    """The forms in which this run's secrets could leak: kB (hex, base64, base64url), the
    access token, and the root key bundle's keys."""
    bundle = KeyBundle.from_kb(kb)
    return {
        kb.hex(),
        base64.b64encode(kb).decode("ascii"),
        base64.urlsafe_b64encode(kb).decode("ascii").rstrip("="),
        access_token,
        *bundle.to_b64(),
    }


def find_leaks(out: Path, secrets: set[str]) -> set[str]:
    """Files under ``out`` (except the devices' own state files) that hold a secret."""
    leaks = set()
    for path in out.rglob("*"):
        if not path.is_file() or path.relative_to(out).parts[0] == "devices":
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if any(secret in text for secret in secrets):
            leaks.add(str(path.relative_to(out)))
    return leaks
