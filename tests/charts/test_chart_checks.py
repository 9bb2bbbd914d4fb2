"""Each load-time check catches its planted defect (tests/charts/broken) with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beacon import ChartError
from beacon.charts import (
    Finding,
    action,
    check_chart,
    completeness_matrix,
    format_matrix,
    guard,
    load_chart,
)
from beacon.charts._check import analyse
from beacon.cli import main
from tests.charts.chart_services import BROKEN, GOOD, REPO


class Launcher:
    @action("ok")
    def ignite(self) -> str:
        return "ok"


class Fetch:
    @action("ok", "not_found", "network_error")
    def fetch(self) -> str:
        return "ok"


PLANTED = [
    # file, services, check, state, event, words the message must contain
    ("schema.yaml", None, "schema", None, None, "'transitons' was unexpected"),
    ("unknown_target.yaml", None, "schema", "idle", "go", "target 'finished' is not a state"),
    ("unreachable.yaml", None, "unreachable", "orphan", None, "no sequence of transitions"),
    ("trap.yaml", None, "trap", "stuck", None, "no transition out of it"),
    ("final_unreachable.yaml", None, "final-unreachable", "spinning", None, "no top-level final"),
    ("unbound.yaml", [Launcher()], "unbound", "idle", None, "no service offers action 'launch'"),
    ("nondeterminism.yaml", None, "nondeterminism", "idle", "go", "idle#0 has no guard"),
    ("completeness.yaml", [Fetch()], "completeness", "fetching", "not_found", "can return"),
]


@pytest.mark.parametrize(
    ("name", "services", "check", "state", "event", "words"),
    PLANTED,
    ids=[p[0].removesuffix(".yaml") for p in PLANTED],
)
def test_each_check_catches_its_planted_defect(
    name: str,
    services: list[object] | None,
    check: str,
    state: str | None,
    event: str | None,
    words: str,
) -> None:
    findings = check_chart(BROKEN / name, services)
    errors = [f for f in findings if f.severity == "error" and f.check == check]

    assert errors, f"no {check} error in {findings}"
    first = errors[0]
    assert first.file == str(BROKEN / name)
    assert (first.state, first.event) == (state, event)
    assert words in first.message
    assert str(BROKEN / name) in str(first)


def test_a_guard_no_service_offers_is_reported() -> None:
    findings = check_chart(BROKEN / "unbound.yaml", [Launcher()])

    assert "no service offers guard 'armed'" in [f.message for f in findings]


def test_overlapping_guards_are_a_warning_naming_both_transitions() -> None:
    findings = check_chart(BROKEN / "overlap.yaml")

    assert [(f.check, f.severity, f.state, f.event) for f in findings] == [
        ("nondeterminism", "warning", "idle", "go")
    ]
    assert findings[0].transition == ("idle --go [sunny]--> beach / idle --go [warm]--> park")


def test_complementary_guards_are_shown_exclusive() -> None:
    # fetcher.yaml has "tries < 2" / "tries >= 2"; door.yaml has "x" / "not x".
    assert check_chart(GOOD / "fetcher.yaml") == []
    assert check_chart(REPO / "statecharts" / "door.yaml") == []


def test_an_outcome_handled_only_under_guards_that_may_all_fail_is_a_warning(
    tmp_path: Path,
) -> None:
    doc = tmp_path / "partial.yaml"
    doc.write_text(
        "states:\n"
        "  fetching:\n"
        "    initial: true\n"
        "    enter: fetch\n"
        "    transitions:\n"
        "      - {event: ok, target: done}\n"
        "      - {event: not_found, cond: retry_allowed, target: fetching}\n"
        "      - {event: network_error, target: done}\n"
        "  done: {final: true, donedata: {content: \"{'role': 'success'}\"}}\n"
    )

    class Partial(Fetch):
        @guard
        def retry_allowed(self) -> bool:
            return True

    findings = check_chart(doc, [Partial()])
    assert [(f.check, f.severity, f.event) for f in findings] == [
        ("completeness", "warning", "not_found")
    ]


def test_a_falsy_datamodel_literal_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "literal.yaml"
    doc.write_text(
        "datamodel:\n  count: 0\nstates:\n  a: {initial: true, transitions: [{event: go, "
        "target: b}]}\n  b: {final: true, donedata: {content: \"{'role': 'success'}\"}}\n"
    )

    [finding] = check_chart(doc)
    assert 'count: "0"' in finding.message


def test_load_chart_raises_with_every_error_finding() -> None:
    with pytest.raises(ChartError, match=r"\[trap\].*'stuck'") as caught:
        load_chart(BROKEN / "trap.yaml")
    assert all(isinstance(f, Finding) for f in caught.value.findings)


@pytest.mark.parametrize("name", ["door", "token", "session", "collection"])
def test_the_packaged_charts_have_no_errors(name: str) -> None:
    findings = check_chart(REPO / "statecharts" / f"{name}.yaml")

    assert [str(f) for f in findings if f.severity == "error"] == []


def test_chart_check_exits_1_and_prints_json_for_a_broken_chart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["chart", "check", str(BROKEN / "trap.yaml"), "--json"])

    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert report[0]["file"] == str(BROKEN / "trap.yaml")
    assert report[0]["findings"][0]["check"] == "trap"


def test_chart_check_exits_0_for_good_charts(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["chart", "check", str(GOOD / "fetcher.yaml")])

    assert status == 0
    assert capsys.readouterr().out.strip().endswith("fetcher.yaml: ok")


def test_a_guard_testing_an_unknown_state_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "in.yaml"
    doc.write_text(
        "states:\n"
        "  a:\n"
        "    initial: true\n"
        "    transitions:\n"
        "      - {event: go, cond: In('b'), target: b}\n"
        "      - {event: go, cond: In('nowhere'), target: b}\n"
        "  b: {final: true, donedata: {content: \"{'role': 'success'}\"}}\n"
    )

    [finding] = check_chart(doc)
    assert (finding.check, finding.state, finding.event) == ("schema", "a", "go")
    assert finding.message == "guard \"In('nowhere')\" tests In() of unknown state(s) ['nowhere']"


def test_the_completeness_matrix_names_the_unhandled_outcome() -> None:
    structure = analyse(BROKEN / "completeness.yaml", [Fetch()]).structure
    assert structure is not None
    cells = completeness_matrix(structure, [Fetch()])

    assert [(c.outcome, c.status) for c in cells] == [
        ("ok", "handled"),
        ("not_found", "unhandled"),
        ("network_error", "handled"),
    ]
    assert "fetching  fetch   not_found      UNHANDLED: -" in format_matrix(cells)


def test_chart_check_matrix_shows_outcomes_handled_by_an_enclosing_state(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["chart", "check", str(REPO / "statecharts" / "session.yaml"), "--matrix"])

    rows = [line.split(None, 3) for line in capsys.readouterr().out.splitlines()]
    assert status == 0
    by_cell = {tuple(r[:3]): r[3] for r in rows if len(r) == 4}
    assert by_cell[("syncing_engine", "sync_engine", "unauthorized")] == (
        "assigned --unauthorized--> invalidated"
    )
    # Two guarded handlers whose guards exclude each other's failure: handled, both named.
    assert by_cell[("ready", "next_engine", "done")] == (
        "ready --done [engines_failed]--> failed; ready --done [not engines_failed]--> finishing"
    )
