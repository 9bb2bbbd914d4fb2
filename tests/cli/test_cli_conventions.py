"""Command-line conventions: version, help, exit statuses, interrupts, reset, folders, traces."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from beacon import _errors
from beacon._crypto import CollectionKeys, KeyBundle
from beacon.cli import build_parser, main
from beacon.cli._common import EXIT_STATUSES, exit_status, local_time
from beacon.client._client import STATE_FILE, SyncClient
from beacon.server import EmbeddedService

KB = bytes(range(32)).hex()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EmbeddedService, str]]:
    with EmbeddedService() as svc, svc.serve() as base_url:
        yield svc, base_url


def _sync_argv(svc: EmbeddedService, base: str, state: Path, *extra: str) -> tuple[list[str], Any]:
    account = svc.create_account()
    argv = [
        "sync",
        "--token-server",
        base,
        "--access-token",
        account.access_token,
        "--kb",
        KB,
        "--keys-changed-at",
        str(account.keys_changed_at),
        "--state",
        str(state),
        *extra,
    ]
    return argv, account


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    report: dict[str, Any] = json.loads(lines[0])
    return report


# -- version and help ---------------------------------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"beacon {version('beacon')}"


def _every_parser() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    def walk(name: str, parser: argparse.ArgumentParser) -> Iterator[tuple[str, Any]]:
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    yield from walk(f"{name} {sub}", child)

    yield from walk("beacon", build_parser())


COMMANDS = [name for name, _ in _every_parser()]


def test_every_command_of_the_tree_is_checked() -> None:
    assert {"beacon sync", "beacon reset", "beacon chart render", "beacon account create"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_has_an_example_and_no_markup(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command.split()[1:], "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "beacon " in text.split("\nexamples:\n  ", 1)[1]
    for markup in ("``", "`", ":class:", ":meth:", ":mod:", "::\n"):
        assert markup not in text, (command, markup)


def test_the_top_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for status, family, _ in EXIT_STATUSES:
        assert f"{status:>3}  {family}" in text


# -- exit statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (_errors.UsageError("x"), 2),
        (_errors.ChartError("x"), 2),
        (_errors.AuthenticationError("x"), 3),
        (_errors.BackoffError("x", until=1.0), 4),
        (_errors.TransportError("x"), 5),
        (_errors.TransportTimeout("x"), 5),
        (_errors.ServerError("x", status=500), 6),
        (_errors.ConflictError("x"), 6),
        (_errors.ProtocolViolation("x"), 7),
        (_errors.SetupRaceError("x"), 7),
        (_errors.TrustError("x"), 8),
        (_errors.RecordIntegrityError("x"), 8),
        (_errors.KeyMismatchError("x"), 8),
        (_errors.ClientUpgradeRequired("x", storage_version=6), 9),
    ],
)
def test_each_error_family_has_its_exit_status(error: _errors.BeaconError, status: int) -> None:
    assert exit_status(error) == status


def _serve_nonsense() -> tuple[HTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>not a token server</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_sync_exits_with_the_status_of_each_failure_family(
    served: tuple[EmbeddedService, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc, base = served
    seen: dict[str, int] = {}

    def run(name: str, argv: list[str]) -> dict[str, Any]:
        seen[name] = main([*argv, "--json"])
        report = _json(capsys)
        assert report["error"] is None or report["error"]["status"] == seen[name]
        return report

    argv, _ = _sync_argv(svc, base, tmp_path / "usage")
    argv[argv.index("--kb") + 1] = "zz"
    run("usage", argv)
    argv, _ = _sync_argv(svc, base, tmp_path / "auth")
    argv[argv.index("--access-token") + 1] = "not-a-token"
    run("authentication", argv)
    argv, _ = _sync_argv(svc, base, tmp_path / "backoff")
    svc.faults.fail_next(status=503, retry_after=10)
    report = run("backoff", argv)
    assert "epoch" in report["error"]["until_local"]
    argv, _ = _sync_argv(svc, base, tmp_path / "net")
    argv[argv.index("--token-server") + 1] = "http://127.0.0.1:9"
    run("network", argv)
    argv, _ = _sync_argv(svc, base, tmp_path / "server")
    svc.faults.fail_next(status=500, retry_after=None)
    run("server", argv)
    nonsense, url = _serve_nonsense()
    try:
        argv, _ = _sync_argv(svc, base, tmp_path / "protocol")
        argv[argv.index("--token-server") + 1] = url
        run("protocol", argv)
    finally:
        nonsense.shutdown()
        nonsense.server_close()
    argv, account = _sync_argv(svc, base, tmp_path / "trust-0")
    run("ok", argv)
    other_kb = KeyBundle.from_kb(bytes(32))
    svc.faults.put_record(
        account.fxa_uid, "crypto", "keys", CollectionKeys.generate().encrypt(other_kb)
    )
    argv[argv.index("--state") + 1] = str(tmp_path / "trust")
    run("trust", argv)
    argv, account = _sync_argv(svc, base, tmp_path / "upgrade-0")
    run("ok again", argv)
    newer = {"syncID": "abcdefghijkl", "storageVersion": 6, "engines": {}}
    svc.faults.put_record(account.fxa_uid, "meta", "global", json.dumps(newer))
    argv[argv.index("--state") + 1] = str(tmp_path / "upgrade")
    run("upgrade required", argv)
    assert seen == {
        "usage": 2,
        "authentication": 3,
        "backoff": 4,
        "network": 5,
        "server": 6,
        "protocol": 7,
        "ok": 0,
        "trust": 8,
        "ok again": 0,
        "upgrade required": 9,
    }


def test_an_error_is_one_line_on_stderr_with_a_hint_and_no_colour_off_a_terminal(
    served: tuple[EmbeddedService, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc, base = served
    argv, _ = _sync_argv(svc, base, tmp_path / "s")
    svc.faults.fail_next(status=503, retry_after=10)
    assert main(argv) == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("beacon: error: backoff: ")
    assert "(hint: try again after " in captured.err
    assert "\x1b[" not in captured.err


def test_local_time_shows_the_local_form_and_the_epoch() -> None:
    shown = local_time(1_796_114_960.9)
    assert shown.startswith("20")
    assert shown.endswith("(epoch 1796114961)")


# -- Ctrl-C -------------------------------------------------------------------------------------


def test_ctrl_c_during_a_sync_is_exit_130_and_one_json_object(
    served: tuple[EmbeddedService, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc, base = served
    argv, _ = _sync_argv(svc, base, tmp_path / "s", "--json")

    def interrupted(self: SyncClient) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(SyncClient, "sync", interrupted)
    assert main(argv) == 130
    report = _json(capsys)
    assert report["outcome"] == "interrupted"
    assert report["error"]["kind"] == "interrupted"
    monkeypatch.undo()
    assert main([*argv[:-1]]) == 0  # the state file is intact: the next run just works


def test_sigint_ends_a_sync_cleanly_with_one_json_object(tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT) while ``beacon sync --json`` waits on a server that never answers:
    the test sends it once the child's request has arrived, so no timing is guessed."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        argv = [sys.executable, "-m", "beacon", "sync", "--token-server"]
        argv += [f"http://127.0.0.1:{port}", "--keys-changed-at", "1"]
        argv += ["--state", str(tmp_path / "s"), "--json"]
        env = {**os.environ, "BEACON_ACCESS_TOKEN": "t", "BEACON_KB": KB}
        child = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            listener.settimeout(60)
            connection, _ = listener.accept()
            with connection:
                connection.recv(1)  # the request is on its way: the child is inside sync()
                child.send_signal(signal.SIGINT)
                out, err = child.communicate(timeout=60)
        finally:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    (line,) = out.splitlines()
    report = json.loads(line)
    assert report["outcome"] == "interrupted"
    assert report["states"][:2] == ["married", "assigning"]
    assert "Traceback" not in err


# -- reset --------------------------------------------------------------------------------------


def test_reset_deletes_only_the_state_file_after_confirmation(
    served: tuple[EmbeddedService, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc, base = served
    state = tmp_path / "device"
    argv, _ = _sync_argv(svc, base, state)
    assert main(argv) == 0
    (state / "keep-me.txt").write_text("mine")
    capsys.readouterr()
    assert main(["reset", "--state", str(state)]) == 2  # stdin is no terminal: needs --yes
    assert "--yes" in capsys.readouterr().err
    assert (state / STATE_FILE).exists()
    assert main(["reset", "--state", str(state), "--yes", "--json"]) == 0
    assert _json(capsys)["deleted"] == str(state / STATE_FILE)
    assert not (state / STATE_FILE).exists()
    assert (state / "keep-me.txt").read_text() == "mine"
    assert main(["reset", "--state", str(state), "--yes"]) == 0  # nothing left: still fine
    assert main(argv) == 0  # and the device starts over


def test_reset_asks_on_a_terminal_and_a_no_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "device"
    state.mkdir()
    (state / STATE_FILE).write_bytes(b"whatever")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["reset", "--state", str(state)]) == 1
    assert (state / STATE_FILE).exists()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["reset", "--state", str(state)]) == 0
    assert not (state / STATE_FILE).exists()


def test_a_corrupt_state_file_names_the_file_and_how_to_start_over(
    served: tuple[EmbeddedService, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc, base = served
    state = tmp_path / "device"
    state.mkdir()
    (state / STATE_FILE).write_bytes(b"this is not sqlite" * 100)
    argv, _ = _sync_argv(svc, base, state)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(state / STATE_FILE) in err
    assert f"beacon reset --state {state}" in err


# -- folders, Graphviz, traces ------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize(
    "argv",
    [
        ["chart", "render", "statecharts/token.yaml", "--no-svg", "-o", "{ro}/out"],
        ["demo", "--out", "{ro}/out"],
        ["serve", "--port", "0", "--data", "{ro}/data"],
    ],
)
def test_an_unwritable_folder_is_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    args = [
        a.replace("{ro}", str(ro)).replace("statecharts/", f"{REPO}/statecharts/") for a in argv
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot write there" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["chart", "render", "statecharts/token.yaml", "-o", "{tmp}/out"],
        ["chart", "render", "statecharts/token.yaml", "--no-svg", "-o", "{file}/out"],
        ["demo", "--out", "{file}/out"],
        ["serve", "--port", "0", "--data", "{file}/data"],
    ],
)
def test_a_folder_under_a_file_or_a_missing_graphviz_is_one_line_before_any_work(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    if "--no-svg" not in argv and "demo" not in argv:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` anywhere
    args = [
        a.replace("{tmp}", str(tmp_path))
        .replace("{file}", str(tmp_path / "file"))
        .replace("statecharts/", f"{REPO}/statecharts/")
        for a in argv
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    if "-o" in args and "--no-svg" not in args:
        assert "Graphviz" in err
        assert "install" in err
        assert not (tmp_path / "out").exists()  # named before the work starts


def test_an_unwritable_output_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    from beacon.charts import Trace

    trace = tmp_path / "t.json"
    Trace(chart="token").save(trace)
    status = main(["chart", "coverage", str(trace), "-o", str(tmp_path / "file" / "cov.json")])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(tmp_path / "file" / "cov.json") in err


def test_sync_trace_out_draws_with_chart_render(
    served: tuple[EmbeddedService, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc, base = served
    trace = tmp_path / "run.json"
    argv, _ = _sync_argv(svc, base, tmp_path / "s", "--trace-out", str(trace), "--json")
    assert main(argv) == 0
    capsys.readouterr()
    assert json.loads(trace.read_text())["chart"] == "session"
    out = tmp_path / "drawn"
    status = main(
        [
            "chart",
            "render",
            f"{REPO}/statecharts/session.yaml",
            "--trace",
            str(trace),
            "--no-svg",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    assert "penwidth" in (out / "session.trace.dot").read_text()


def test_quiet_sync_prints_only_its_result(
    served: tuple[EmbeddedService, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc, base = served
    argv, _ = _sync_argv(svc, base, tmp_path / "s", "--engines", "notes")
    assert main(["-q", *argv]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("synced in ")
    assert main(["-v", *argv]) == 0
    assert "states: married > " in capsys.readouterr().err
    assert main([*argv, "-q"]) == 0  # also after the command
    assert capsys.readouterr().err == ""
    assert main([*argv, "-v"]) == 0
    assert "states: " in capsys.readouterr().err
