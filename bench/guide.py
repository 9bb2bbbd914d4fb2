"""The coverage guide against the blind search: examples until every transition is taken.

For each chart (every action drawn, seed 0, the same budget of examples for both), a guided
and a blind campaign run until every transition the guide can reach was taken, or the budget
ends. The figure is the blind campaign's examples over the guided one's (higher is better); a
blind campaign that never covers every transition counts as the whole budget, so its ratio is
a lower bound. A count of examples does not depend on the machine's speed, so no pairwise
timing is needed; the seconds are reported beside it.
"""

from __future__ import annotations

from typing import Any

from beacon.charts import chart_path, load_chart
from beacon.testing import ChartSetup, run_chart_campaign
from bench._figures import figure

CHARTS = ("door", "token", "collection", "session", "account")


def _door() -> Any:
    from pathlib import Path

    return load_chart(Path(__file__).resolve().parent.parent / "statecharts" / "door.yaml")


def run(*, quick: bool = False) -> dict[str, Any]:
    """Guided vs blind per chart; ``quick`` measures the door and the token chart only."""
    budget = 60 if quick else 300
    names = CHARTS[:2] if quick else CHARTS
    figures = []
    detail: dict[str, Any] = {}
    for name in names:
        chart = _door() if name == "door" else load_chart(chart_path(name))
        runs = {
            mode: run_chart_campaign(
                ChartSetup(chart), examples=budget, seed=0, guided=mode, until_covered=True
            )
            for mode in (True, False)
        }
        guided, blind = runs[True], runs[False]
        g = guided.first_full if guided.first_full is not None else budget
        b = blind.first_full if blind.first_full is not None else budget
        reached = "" if blind.first_full is not None else f" (blind: not in {budget})"
        figures.append(
            figure(
                f"{name}: examples to every transition, blind / guided",
                float(b) / g,
                "x",
                baseline=float(b),
                baseline_name="blind examples",
                ratio=float(b) / g,
                target=1.0,
                note=f"guided {g}, blind {b}{reached}; "
                f"{guided.seconds:.1f} s vs {blind.seconds:.1f} s",
            )
        )
        detail[name] = {
            "transitions": len(chart.structure.transitions),
            "guided": {"examples": guided.first_full, "seconds": round(guided.seconds, 2)},
            "blind": {
                "examples": blind.first_full,
                "taken": blind.coverage.taken(chart.name),
                "seconds": round(blind.seconds, 2),
            },
        }
    return {"figures": figures, "charts": detail, "budget": budget}
