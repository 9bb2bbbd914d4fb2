"""Charts running charts, roles of finals, errors carried by outcomes, reactive charts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from beacon import TransportError
from beacon._errors import BackoffError, BeaconError, SetupRaceError, make_error
from beacon.charts import Step, action, bind, check_chart, load_chart, outcome, run_child
from beacon.cli import main
from tests.charts.chart_services import GOOD, REPO, FakeClock, Fetcher


class Delegate:
    """``fetch_all`` runs the fetcher chart with a scripted fetcher."""

    def __init__(self, *script: str, answer: str | None = None) -> None:
        self.fetcher = Fetcher(*script)
        self.answer = answer  # what the action returns instead of the child's final

    @action("done", "gave_up", chart="fetcher")
    def fetch_all(self) -> str:
        result = run_child([self.fetcher])
        error = TransportError("the fetcher gave up") if result.failed else None
        return self.answer or outcome(result.final_state, error)


def test_a_nesting_action_runs_its_child_and_ends_in_the_childs_final() -> None:
    chart = load_chart(GOOD / "delegate.yaml")
    result = bind(chart, [Delegate("busy", "ok")], clock=FakeClock()).run()

    assert result.final_state == "finished"
    assert result.role.role == "success"
    [child] = result.trace.children
    assert child.chart == "fetcher"
    assert child.final_state == "done"
    assert child.role == "success"


def test_the_error_carried_by_the_outcome_reaches_the_run_result() -> None:
    chart = load_chart(GOOD / "delegate.yaml")
    result = bind(chart, [Delegate("busy", "busy", "busy")], clock=FakeClock()).run()

    assert result.final_state == "abandoned"
    assert result.failed
    assert result.role.error is TransportError
    assert isinstance(result.error, TransportError)
    [record] = [a for s in result.trace.steps for a in s.actions]
    assert record.error == "TransportError"
    assert "the fetcher gave up" not in result.trace.dumps()  # class names only, never text


def test_a_nesting_action_may_not_return_another_outcome_than_its_childs_final() -> None:
    chart = load_chart(GOOD / "delegate.yaml")
    machine = bind(chart, [Delegate("ok", answer="gave_up")], clock=FakeClock())

    with pytest.raises(
        BeaconError, match="returned 'gave_up', but chart 'fetcher' ended in 'done'"
    ):
        machine.run()


def test_run_child_outside_a_nesting_action_is_refused() -> None:
    with pytest.raises(BeaconError, match="run_child"):
        run_child([Fetcher()])


def test_observers_see_the_steps_of_nested_charts() -> None:
    seen: list[tuple[str, ...]] = []

    def observe(step: Step) -> None:
        seen.append(tuple(step.entered))

    chart = load_chart(GOOD / "delegate.yaml")
    bind(chart, [Delegate("ok")], clock=FakeClock(), observers=[observe]).run()

    entered = [s for states in seen for s in states]
    assert "fetching" in entered  # the child's
    assert entered[-1] == "finished"  # the parent's, after the child's


def test_a_nesting_action_declaring_other_outcomes_than_the_childs_finals_is_refused() -> None:
    class Wrong:
        @action("done", "failed", chart="fetcher")
        def fetch_all(self) -> str:
            return "done"

    findings = check_chart(GOOD / "delegate.yaml", [Wrong()])
    [finding] = [f for f in findings if f.check == "composition"]
    assert finding.severity == "error"
    assert "chart 'delegate': action 'fetch_all' (Wrong) runs chart 'fetcher'" in finding.message
    assert "['failed'] are not final states of 'fetcher'" in finding.message
    assert "can end in ['gave_up'], undeclared" in finding.message


def _copy_charts(tmp_path: Path) -> Path:
    for path in (REPO / "statecharts").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_renaming_a_child_final_without_its_parent_fails_chart_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    charts = _copy_charts(tmp_path)
    token = charts / "token.yaml"
    token.write_text(
        token.read_text(encoding="utf-8")
        .replace("target: backoff}", "target: backed_off}")
        .replace("\n  backoff: {final", "\n  backed_off: {final"),
        encoding="utf-8",
    )
    assert check_chart(token) == [f for f in check_chart(token) if f.severity != "error"]

    status = main(
        [
            "chart",
            "check",
            str(charts / "session.yaml"),
            "--services",
            "beacon.client:CHART_SERVICES",
        ]
    )

    out = capsys.readouterr().out
    assert status == 1
    assert "[composition]" in out
    assert "chart 'session': action 'obtain_token'" in out
    assert "['backoff'] are not final states of 'token'" in out
    assert "'token' can end in ['backed_off'], undeclared" in out


def test_the_packaged_charts_compose_with_their_services(
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = [str(REPO / "statecharts" / f"{n}.yaml") for n in ("session", "token", "collection")]
    assert main(["chart", "check", *paths]) == 0


def test_a_final_without_a_role_does_not_load(tmp_path: Path) -> None:
    doc = tmp_path / "door.yaml"
    text = (REPO / "statecharts" / "door.yaml").read_text(encoding="utf-8")
    doc.write_text(text.replace("""    donedata: {content: "{'role': 'success'}"}\n""", ""))

    with pytest.raises(BeaconError, match=r"\[role\] \(state 'removed'\): declares no role"):
        load_chart(doc)


@pytest.mark.parametrize(
    ("donedata", "problem"),
    [
        ("{content: \"{'role': 'fine'}\"}", "role 'fine' is not one of"),
        ("{content: \"{'role': 'failure'}\"}", "a failure must name the error"),
        ("{content: \"{'role': 'failure', 'error': 'OSError'}\"}", "not a class of beacon's"),
        ("{content: \"{'role': 'success', 'error': 'BeaconError'}\"}", "only a failure names"),
        ("{content: \"{'role': 'success', 'why': 1}\"}", "unknown keys ['why']"),
        ('{content: "role"}', "not a literal mapping"),
        ("{params: [{name: role, expr: \"'success'\"}]}", None),
        ('{params: [{name: role, expr: "success"}]}', "not a literal"),
    ],
)
def test_roles_are_checked_when_the_chart_loads(
    tmp_path: Path, donedata: str, problem: str | None
) -> None:
    doc = tmp_path / "one.yaml"
    doc.write_text(
        "states:\n  a: {initial: true, transitions: [{event: go, target: b}]}\n"
        f"  b: {{final: true, donedata: {donedata}}}\n"
    )
    findings = [f for f in check_chart(doc) if f.check == "role"]

    if problem is None:
        assert findings == []
    else:
        assert [problem in f.message for f in findings] == [True]


def test_a_reactive_chart_without_finals_passes_the_check(tmp_path: Path) -> None:
    doc = tmp_path / "switch.yaml"
    doc.write_text(
        "name: switch\nstates:\n"
        "  off: {initial: true, transitions: [{event: flip, target: 'on'}]}\n"
        "  'on': {transitions: [{event: flip, target: 'off'}]}\n"
    )

    assert check_chart(doc) == []
    machine = bind(load_chart(doc), [], clock=FakeClock())
    machine.send("flip")
    machine.send("flip")
    assert machine.configuration == ("off",)


def test_a_reactive_chart_still_reports_unreachable_states(tmp_path: Path) -> None:
    doc = tmp_path / "lamp.yaml"
    doc.write_text(
        "states:\n  off: {initial: true, transitions: [{event: flip, target: 'off'}]}\n"
        "  lost: {transitions: [{event: flip, target: 'off'}]}\n"
    )

    assert [(f.check, f.state) for f in check_chart(doc)] == [("unreachable", "lost")]


def test_an_error_class_that_needs_context_falls_back_to_its_nearest_base() -> None:
    error = make_error(BackoffError, "no window was recorded")
    assert type(error).__name__ == "ServerError"
    assert isinstance(make_error(SetupRaceError, "twice"), SetupRaceError)


def test_every_failure_final_of_the_sync_charts_names_a_specific_error() -> None:
    specific: dict[str, Any] = {}
    for name in ("session", "token", "collection"):
        chart = load_chart(name)
        for final, role in chart.roles.items():
            if role.is_failure:
                specific[f"{name}:{final}"] = role.error
    assert specific["session:in_backoff"] is BackoffError
    assert specific["session:setup_race"] is SetupRaceError
    assert all(isinstance(e, type) and issubclass(e, BeaconError) for e in specific.values())


def test_a_finished_machine_keeps_its_own_snapshot_after_its_instance_serves_another_run() -> None:
    chart = load_chart(GOOD / "fetcher.yaml")
    first = bind(chart, [Fetcher("busy", "ok")], clock=FakeClock())
    first.run()
    before = first.snapshot()
    second = bind(chart, [Fetcher("busy", "busy", "busy")], clock=FakeClock())
    assert second.run().final_state == "gave_up"  # the reused instance, another datamodel

    assert first.snapshot() == before
    assert before["datamodel"] == {"tries": 1}
    assert first.configuration == ("done",)
