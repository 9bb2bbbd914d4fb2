"""``beacon demo`` end to end: real loopback HTTP, two devices, the story and its outputs."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from beacon.cli import main
from beacon.demo import Story, run_demo

KB = bytes(range(7, 39))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Story, Path]:
    out = tmp_path_factory.mktemp("demo-output")
    return run_demo(out, kb=KB), out


def _chapters(out: Path) -> list[dict[str, Any]]:
    chapters: list[dict[str, Any]] = json.loads((out / "story.json").read_text())["chapters"]
    return chapters


def test_every_claim_of_the_story_holds(demo: tuple[Story, Path]) -> None:
    story, out = demo
    failed = [c.claim for c in story.checks if not c.passed]
    assert failed == []
    assert story.ok
    assert json.loads((out / "story.json").read_text())["ok"] is True


def test_a_recovers_from_a_401_in_the_middle_of_a_run(demo: tuple[Story, Path]) -> None:
    _, out = demo
    revoked = [c for c in _chapters(out) if c["device"] == "A" and "revokes" in c["title"]]
    assert len(revoked) == 1
    run = revoked[0]
    statuses = [(r["method"], r["status"]) for r in run["requests"]]
    # The run had already talked to storage before the refusal: the 401 is mid-run.
    assert statuses.index(("POST", 401)) > 0
    assert statuses[0] == ("GET", 200)
    assert run["path"].count("invalidated") == 1
    assert run["outcome"] == "synced"
    assert statuses[-1] == ("POST", 200)  # the upload went through with the new token


def test_the_node_move_makes_a_fresh_start_and_the_devices_converge(
    demo: tuple[Story, Path],
) -> None:
    story, out = demo
    chapters = _chapters(out)
    moved = next(i for i, c in enumerate(chapters) if "moves the user" in c["title"])
    a_after, b_after = chapters[moved], chapters[moved + 1]
    assert (a_after["device"], b_after["device"]) == ("A", "B")
    for run in (a_after, b_after):
        assert "leaving_old_node" in run["path"]
        assert run["requests"][0]["status"] == 401
        assert run["requests"][0]["path"].startswith("node 1:")
        assert any(r["path"].startswith("node 2:") for r in run["requests"])
    assert "fresh_start" in a_after["path"]
    assert "fresh_start" not in b_after["path"]
    converged = [c for c in story.checks if c.claim.startswith("both devices converge")]
    assert [c.passed for c in converged] == [True]
    assert chapters[-1]["outcome"] == "synced"
    assert len(chapters[-1]["requests"]) == 1


def test_outputs_are_written(demo: tuple[Story, Path]) -> None:
    story, out = demo
    traces = sorted((out / "traces").glob("*.json"))
    assert len(traces) == len(story.chapters)
    for path in traces:
        tree = json.loads(path.read_text())
        assert tree["chart"] == "session"
        assert tree["final_state"] == "synced"
    for device in ("A", "B"):
        for chart in ("session", "token", "account"):
            svg = (out / f"{chart}-{device}.svg").read_text()
            assert "<svg" in svg[:1000]
            assert "#1f5fbf" in svg  # the trace overlay's colour: a path was drawn
    # A's token chart shows the node move it met (new_node), numbered as a taken transition.
    token_a = (out / "token-A.svg").read_text()
    assert re.search(r"new_node #\d+", token_a)
    # The account chart shows each device's password sign-in, separated to married.
    story_checks = [c.claim for c in demo[0].checks if "signs in with a password" in c.claim]
    assert len(story_checks) == 2
    account_a = (out / "account-A.svg").read_text()
    assert re.search(r"#1\b", account_a)  # its transitions are numbered: the path is drawn
    page = (out / "index.html").read_text()
    assert page.count("<svg") == 6  # per device: session, token, account
    assert "Device A" in page
    assert "Device B" in page
    assert "the story happened as told" in page


def test_the_page_is_self_contained(demo: tuple[Story, Path]) -> None:
    _, out = demo
    page = (out / "index.html").read_text()
    assert page.count("<script") == 1  # the stepper's, inline
    assert "<script>" in page
    external = re.findall(r'(?:src|href)="(https?:)?//', page)
    assert external == []
    assert "<link" not in page


def test_no_output_holds_a_secret(demo: tuple[Story, Path]) -> None:
    _, out = demo
    secrets = [KB.hex(), base64.b64encode(KB).decode(), base64.urlsafe_b64encode(KB).decode()]
    for path in out.rglob("*"):
        if path.is_file() and "devices" not in path.relative_to(out).parts:
            text = path.read_text(errors="replace")
            assert not [s for s in secrets if s.rstrip("=") in text], path


def test_the_command_prints_json_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["demo", "--out", str(tmp_path / "out"), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert status == 0
    assert printed["ok"] is True
    assert [c["device"] for c in printed["chapters"]][:2] == ["A", "B"]
    assert (tmp_path / "out" / "index.html").exists()


def test_the_command_prints_the_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["demo", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert status == 0, printed  # the timeline and the checks say what did not happen
    assert "invalidated" in printed
    assert "leaving_old_node" in printed
    assert "✗" not in printed
    assert printed.count("✓") >= 10
    assert "the story happened as told" in printed


def test_the_page_steps_through_each_devices_run_on_its_own_diagram(
    demo: tuple[Story, Path],
) -> None:
    _, out = demo
    page = (out / "index.html").read_text()
    steppers = re.findall(r'<div class="stepper" data-diagram="([^"]+)" data-steps="([^"]+)"', page)
    assert len(steppers) == 2  # one per device
    for diagram, data in steppers:
        steps = json.loads(html.unescape(data))
        assert steps  # every run took transitions
        drawing = page[page.index(f'id="{diagram}"') :]
        drawing = drawing[: drawing.index("</svg>")]
        classes = set(re.findall(r'class="edge ([^"]+)"', drawing))
        classes = {html.unescape(c) for c in classes}
        assert {cls for cls, _ in steps} <= classes  # each step lights an edge of its diagram
        assert all("-->" in label for _, label in steps)
