"""``beacon login`` / ``logout`` / ``status`` against the embedded service over loopback."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from beacon.cli import main
from beacon.fxa import FirefoxAccount, LoopbackRedirect, MemoryStore
from beacon.server import EmbeddedService

EMAIL = "cli@example.com"
PASSWORD = "a cli password"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmbeddedService, str]]:
    # No keyring on a test machine: the encrypted file, under a passphrase from the env.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("BEACON_CREDENTIALS_PASSPHRASE", "test passphrase")
    svc = EmbeddedService(rng=random.Random(5).randbytes)
    with svc.serve() as base:
        yield svc, base
    svc.close()


def _run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def test_login_status_logout_with_a_code_in_a_second_run(
    served: tuple[EmbeddedService, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    svc, base = served
    svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    svc.faults.fxa.unverified_next_login(EMAIL)
    common = ["--auth-server", base + "/fxa", "--config-dir", str(tmp_path)]
    status, out, err = _run(
        monkeypatch, capsys, ["login", EMAIL, "--password-stdin", *common], PASSWORD + "\n"
    )
    assert status == 1  # a code (the redirect) is still needed
    assert "--code" in err
    code = svc.faults.fxa.codes(EMAIL)["sign_in_code"]
    status, out, err = _run(
        monkeypatch, capsys, ["login", EMAIL, "--code", str(code), "--json", *common]
    )
    assert status == 0
    assert json.loads(out)["outcome"] == "married"
    stored = (tmp_path / "default.fxa").read_bytes()
    assert PASSWORD.encode() not in stored
    status, out, _ = _run(monkeypatch, capsys, ["status", "--json", *common])
    assert status == 0
    view = json.loads(out)
    assert view["status"] == "married"
    assert view["email"] == EMAIL
    status, _, _ = _run(monkeypatch, capsys, ["logout", *common])
    assert status == 0
    assert not (tmp_path / "default.fxa").exists()
    status, out, _ = _run(monkeypatch, capsys, ["status", *common])
    assert (status, out.strip()) == (1, "signed out")


def test_a_wrong_password_is_one_line_and_exit_3(
    served: tuple[EmbeddedService, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    svc, base = served
    svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    argv = ["login", EMAIL, "--password-stdin", "--auth-server", base + "/fxa"]
    status, _, err = _run(monkeypatch, capsys, [*argv, "--config-dir", str(tmp_path)], "not it\n")
    assert status == 3  # authentication
    assert (
        err.strip()
        == "beacon: error: incorrect_password: POST /v1/account/login: incorrect password"
    )


def test_the_loopback_listener_catches_the_redirect(served: tuple[EmbeddedService, str]) -> None:
    svc, base = served
    svc.fxa.create_account(EMAIL, PASSWORD, v2=False)

    def browse(url: str) -> None:
        # The person: opens the page, signs in, the browser follows the redirect to loopback.
        parts = urlsplit(url)
        with httpx.Client() as browser:
            answer = browser.post(
                f"{base}{parts.path}?{parts.query}",
                content=urlencode({"email": EMAIL, "password": PASSWORD}),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code == 302
            assert browser.get(answer.headers["location"]).status_code == 200

    with (
        FirefoxAccount(MemoryStore(), auth_server_url=base + "/fxa") as account,
        LoopbackRedirect(timeout=30, on_url=browse) as listener,
    ):
        result = account.sign_in_oauth(listener, redirect_uri=listener.redirect_uri)
        assert result.outcome == "married", result.error
        assert account.credentials().kb is None


def test_login_oauth_prints_the_url_then_finishes_with_the_pasted_redirect(
    served: tuple[EmbeddedService, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    svc, base = served
    svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    common = ["--auth-server", base + "/fxa", "--config-dir", str(tmp_path)]
    status, out, err = _run(monkeypatch, capsys, ["login", "--oauth", "--json", *common])
    assert status == 1  # a code (the redirect) is still needed
    url = json.loads(out)["authorization_url"]
    assert url in err  # shown to the person
    parts = urlsplit(url)
    with httpx.Client() as browser:
        answer = browser.post(
            f"{base}{parts.path}?{parts.query}",
            content=urlencode({"email": EMAIL, "password": PASSWORD}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    redirect = answer.headers["location"]
    status, out, _ = _run(
        monkeypatch, capsys, ["login", "--oauth", "--redirect", redirect, "--json", *common]
    )
    assert status == 0
    assert json.loads(out)["states"] == ["recalling", "authorizing", "exchanging", "married"]
    status, out, _ = _run(monkeypatch, capsys, ["status", "--json", *common])
    assert (status, json.loads(out)["has_kb"]) == (0, False)


def test_beacon_sync_uses_the_signed_in_account_with_no_secret_on_its_command_line(
    served: tuple[EmbeddedService, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    svc, base = served
    svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    common = ["--auth-server", base + "/fxa", "--config-dir", str(tmp_path / "config")]
    monkeypatch.delenv("BEACON_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("BEACON_KB", raising=False)
    status, _, _ = _run(
        monkeypatch, capsys, ["login", EMAIL, "--password-stdin", *common], PASSWORD + "\n"
    )
    assert status == 0

    argv = [
        "sync",
        "--token-server",
        f"{base}/1.0/sync/1.5",
        "--state",
        str(tmp_path / "device"),
        "--engines",
        "notes",
        "--config-dir",
        str(tmp_path / "config"),
        "--json",
    ]
    status, out, _ = _run(monkeypatch, capsys, argv)

    assert status == 0
    report = json.loads(out)
    assert report["outcome"] == "ok"
    assert PASSWORD not in out


def test_beacon_sync_without_credentials_or_an_account_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("BEACON_CREDENTIALS_PASSPHRASE", "test passphrase")
    monkeypatch.delenv("BEACON_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("BEACON_KB", raising=False)
    argv = ["sync", "--token-server", "http://127.0.0.1:9/", "--state", str(tmp_path / "d")]
    argv += ["--profile", "nobody-signed-in-here"]
    status, _, err = _run(monkeypatch, capsys, [*argv, "--config-dir", str(tmp_path / "c")])
    assert status == 2
    assert "beacon login" in err
