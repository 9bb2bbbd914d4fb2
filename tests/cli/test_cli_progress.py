"""The sync progress bar: what it counts (observed from outside the client) and when it shows."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from beacon.cli import _progress
from beacon.cli._common import error_line
from beacon.cli._progress import CountingTransport, ProgressEngine, SyncProgress
from beacon.client._client import SyncClient
from beacon.server import EmbeddedService


def test_the_counts_match_what_the_sync_did(tmp_path: Path) -> None:
    with EmbeddedService() as svc:
        account = svc.create_account()
        progress = SyncProgress(enabled=False)
        notes = ProgressEngine("notes", progress)
        client = SyncClient(
            svc.token_server_url,
            account.access_token,
            kb=bytes(32),
            keys_changed_at=account.keys_changed_at,
            state_path=tmp_path / "a",
            engines=[notes],
            transport=CountingTransport(progress, svc.transport()),
        )
        try:
            notes.put_many((f"n{i}", {"text": str(i)}) for i in range(25))
            with progress:
                result = client.sync()
        finally:
            client.close()
    assert progress.requests == result.requests
    assert progress.records == result.engines["notes"]["uploaded"] == 25


def test_the_bar_shows_records_requests_and_rate_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    progress = SyncProgress(enabled=True, console=console)
    with progress:
        progress._show()  # what the timer does after DELAY seconds
        progress.add_request()
        progress.add_records(1234)
    text = out.getvalue()
    assert "records" in text
    assert "requests" in text
    assert "records/s" in text


def test_no_bar_off_a_terminal_or_when_disabled() -> None:
    off_terminal = SyncProgress(enabled=True, console=Console(file=io.StringIO()))
    disabled = SyncProgress(enabled=False, console=Console(file=io.StringIO(), force_terminal=True))
    for progress in (off_terminal, disabled):
        with progress:
            assert progress._timer is None
            progress.add_records(5)


def test_a_run_shorter_than_the_delay_draws_nothing() -> None:
    out = io.StringIO()
    progress = SyncProgress(enabled=True, console=Console(file=out, force_terminal=True))
    assert _progress.DELAY >= 1.0
    with progress:
        progress.add_records(3)
    progress._show()  # a timer firing after the end starts nothing
    assert progress._bar is None
    assert out.getvalue() == ""


def test_errors_are_red_on_a_terminal_only_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from beacon._errors import UsageError

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert "\x1b[" in error_line(UsageError("x"))
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in error_line(UsageError("x"))
