"""The three Sync charts pass every check with their services bound (completeness included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beacon.charts import chart_path, check_chart, load_chart
from beacon.cli import main
from beacon.client import CHART_SERVICES as SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_chart_checks_clean_with_its_services_bound(name: str) -> None:
    services: list[object] = [object.__new__(cls) for cls in SERVICES[name]]
    findings = check_chart(chart_path(name), services)
    assert [str(f) for f in findings] == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_chart_check_binds_the_sync_services_by_itself(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chart", "check", "--json", str(chart_path(name))]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["findings"] == []


def test_chart_check_catches_an_unhandled_outcome_of_the_sync_services(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Drop the session chart's "not_found" edge out of needs_keys: the service still declares it.
    text = chart_path("session").read_text(encoding="utf-8")
    broken = text.replace("          - {event: not_found, target: missing_keys}\n", "", 1)
    assert broken != text
    path = tmp_path / "session.yaml"
    path.write_text(broken, encoding="utf-8")
    spec = "beacon.client:CHART_SERVICES"
    assert main(["chart", "check", "--json", "--services", spec, str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    messages = " ".join(f["message"] for f in report[0]["findings"])
    assert "not_found" in messages


def test_the_session_chart_shows_the_seed_notes_states() -> None:
    states = load_chart("session").structure.states
    for seed_state in ("married", "initial_assigned", "ready"):
        assert seed_state in states
    for recovery in (
        "missing_meta_global",
        "missing_keys",
        "storage_outdated",
        "fresh_start",
        "invalidated",
        "client_upgrade_required",
        "setup_race",
    ):
        assert recovery in states
    assert states["assigned"].compound  # a 401 anywhere in here is one edge on the picture


def test_every_failure_outcome_ends_in_a_final_state_of_its_own() -> None:
    structure = load_chart("session").structure
    finals = {sid for sid, s in structure.states.items() if s.final}
    assert finals == {
        "synced",
        "in_backoff",
        "auth_failed",
        "unreachable",
        "failed",
        "client_upgrade_required",
        "untrusted_keys",
        "setup_race",
    }
