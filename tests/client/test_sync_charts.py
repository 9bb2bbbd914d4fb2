"""The three Sync charts pass every check with their services bound (completeness included)."""

from __future__ import annotations

import pytest

from beacon.charts import chart_path, check_chart, load_chart
from beacon.client._collection_service import CollectionService
from beacon.client._fresh_start import FreshStartService
from beacon.client._session_service import SessionService
from beacon.client._token_service import TokenService

# The services are only inspected (their marked methods), never called: no __init__ needed.
SERVICES: dict[str, tuple[type, ...]] = {
    "token": (TokenService,),
    "session": (SessionService, FreshStartService),
    "collection": (CollectionService,),
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_chart_checks_clean_with_its_services_bound(name: str) -> None:
    services: list[object] = [object.__new__(cls) for cls in SERVICES[name]]
    findings = check_chart(chart_path(name), services)
    assert [str(f) for f in findings] == []


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
