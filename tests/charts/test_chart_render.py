"""Diagrams: deterministic DOT, failure styling, overlays, Mermaid, the committed-diagram guard."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest

from beacon.charts import (
    Chart,
    Coverage,
    Overlay,
    bind,
    load_chart,
    render_dot,
    render_mermaid,
)
from beacon.cli import main
from tests.charts.chart_services import REPO, DoorService, FakeClock

CHARTS = sorted((REPO / "statecharts").glob("*.yaml"))


@pytest.mark.parametrize("path", CHARTS, ids=[p.stem for p in CHARTS])
def test_committed_diagrams_match_their_charts(path: Path) -> None:
    chart = load_chart(path)
    committed = REPO / "diagrams" / f"{chart.name}.dot"

    assert committed.exists(), f"{committed} is missing: run `make diagrams`"
    assert committed.read_text(encoding="utf-8") == render_dot(chart), (
        f"{committed} is out of date with {path}: run `make diagrams` and commit the result"
    )


def test_rendering_is_deterministic(door_chart: Chart) -> None:
    assert render_dot(door_chart) == render_dot(load_chart(door_chart.path))


def test_compound_states_are_clusters_with_initial_and_final_markers(door_chart: Chart) -> None:
    dot = render_dot(door_chart)

    assert "subgraph cluster_in_service {" in dot
    assert '"in_service.__initial" -> closed' in dot
    assert 'removed [label="removed\n(success)"' in dot


def test_edges_read_event_guard_and_effects(door_chart: Chart) -> None:
    dot = render_dot(door_chart)

    # A label longer than a line breaks before its guard and before its effects.
    assert 'label="jammed\n[retries < 2]\n/ retries += 1"' in dot
    assert 'label="wrong_key\n[not has_spare_key]"' in dot
    assert 'label="wrong_key [has_spare_key]"' in dot  # short enough for one line


def test_a_retry_into_an_ordinary_state_is_not_drawn_as_a_failure() -> None:
    # The word "conflict" once painted this normal recovery red; only roles decide now.
    dot = render_dot(load_chart(REPO / "statecharts" / "session.yaml"))

    [edge] = [
        line for line in dot.splitlines() if "uploading_meta_global -> initial_assigned" in line
    ]
    assert "#c0392b" not in edge
    assert "dashed" not in edge


def test_finals_show_their_declared_role_and_recovery_edges_are_amber() -> None:
    dot = render_dot(load_chart(REPO / "statecharts" / "token.yaml"))

    assert re.search(r'node_reassigned \[label="node_reassigned\n\(recovery\)" [^]]*#b9770e', dot)
    [edge] = [line for line in dot.splitlines() if "-> node_reassigned" in line]
    assert "#b9770e" in edge
    assert "dashed" not in edge


def test_failure_edges_and_states_are_drawn_red_and_dashed(door_chart: Chart) -> None:
    dot = render_dot(door_chart)

    [edge] = [line for line in dot.splitlines() if "-> broken" in line]
    assert "style=dashed" in edge
    assert "#c0392b" in edge
    assert re.search(r'broken \[label="broken\n\(failure\)" [^]]*#c0392b', dot)


def test_a_trace_overlay_numbers_the_path_taken(door_chart: Chart) -> None:
    machine = bind(door_chart, [DoorService(jams=1)], clock=FakeClock())
    machine.send("open")
    machine.send("close")
    dot = render_dot(door_chart, Overlay.for_chart(door_chart, trace=machine.trace))

    assert 'label="open #1"' in dot
    assert 'label="jammed\n[retries < 2]\n/ retries += 1 #2"' in dot
    assert 'label="close #4"' in dot
    assert "lock" in dot
    assert 'locked [label=locked style="rounded,filled"' not in dot
    assert 'opened [label=opened fillcolor="#dbe8fb"' in dot


def test_a_coverage_overlay_counts_hits_and_marks_never_taken(door_chart: Chart) -> None:
    coverage = Coverage()
    for _ in range(2):
        machine = bind(door_chart, [DoorService()])
        machine.send("open")
        coverage.add(machine.trace)
    dot = render_dot(door_chart, Overlay.for_chart(door_chart, coverage=coverage))

    assert 'label="open ×2"' in dot
    assert 'label="lock (never)"' in dot
    assert "style=dotted" in dot


def test_mermaid_export_nests_compound_states(door_chart: Chart) -> None:
    text = render_mermaid(door_chart)

    assert text.startswith("stateDiagram-v2\n")
    assert "    state in_service {\n        [*] --> closed\n    }" in text
    assert "    closed --> opening : open" in text
    assert "    class broken failure" in text


def test_chart_render_writes_dot_svg_and_mermaid(tmp_path: Path, door_chart: Chart) -> None:
    status = main(["chart", "render", str(door_chart.path), "-o", str(tmp_path), "--mermaid"])

    assert status == 0
    assert (tmp_path / "door.dot").read_text() == render_dot(door_chart)
    assert (tmp_path / "door.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "door.mmd").read_text() == render_mermaid(door_chart)


def test_chart_render_with_a_trace_writes_separate_files(tmp_path: Path, door_chart: Chart) -> None:
    machine = bind(door_chart, [DoorService()], clock=FakeClock())
    machine.send("remove")
    machine.trace.save(tmp_path / "run.json")

    main(
        [
            "chart",
            "render",
            str(door_chart.path),
            "-o",
            str(tmp_path),
            "--no-svg",
            "--trace",
            str(tmp_path / "run.json"),
        ]
    )

    assert 'label="remove #1"' in (tmp_path / "door.trace.dot").read_text()
    assert not (tmp_path / "door.dot").exists()


def _png_size(dot_text: str) -> tuple[int, int]:
    png = subprocess.run(
        ["dot", "-Tpng", "-Gdpi=96"], input=dot_text.encode(), capture_output=True, check=True
    ).stdout
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.parametrize("name", ["session", "token", "collection", "door"])
def test_each_diagram_fits_a_laptop_screen_with_legible_labels(name: str) -> None:
    dot = render_dot(load_chart(REPO / "statecharts" / f"{name}.yaml"))
    width, _ = _png_size(dot)

    assert width <= 1600
    # Graphviz sizes are points; 96 dpi makes 1 pt = 4/3 px: 7.5 pt is 10 px.
    sizes = [float(x) for x in re.findall(r'fontsize="?([0-9.]+)', dot)]
    assert sizes
    assert min(sizes) * 96 / 72 >= 10


def test_failure_finals_are_grouped_in_one_cluster() -> None:
    dot = render_dot(load_chart(REPO / "statecharts" / "session.yaml"))
    group = dot[dot.index("subgraph cluster_failures") :]
    group = group[: group.index("\n\t}")]

    for final in ("in_backoff", "auth_failed", "unreachable", "failed", "setup_race"):
        assert f"\t\t{final} [" in group
    assert "synced [" not in group
