"""``beacon devices``, ``send-tab`` and ``tabs received`` between two signed-in beacon devices
over loopback HTTP: the tab arrives once, and no key or token shows in output or files."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from beacon.cli import main
from beacon.fxa import EncryptedFileStore
from beacon.server import EmbeddedService

EMAIL = "tabs@example.com"
PASSWORD = "a password for tabs"
PASSPHRASE = "test passphrase"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("BEACON_CREDENTIALS_PASSPHRASE", PASSPHRASE)
    svc = EmbeddedService(rng=random.Random(9).randbytes)
    svc.fxa.create_account(EMAIL, PASSWORD)
    with svc.serve() as base:
        yield base
    svc.close()


class Cli:
    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], base: str
    ) -> None:
        self.monkeypatch, self.capsys, self.base = monkeypatch, capsys, base
        self.outputs: list[str] = []

    def __call__(self, home: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        status = main([*argv, "--config-dir", str(home)])
        out = self.capsys.readouterr()
        self.outputs += [out.out, out.err]
        return status, out.out, out.err

    def login(self, home: Path) -> None:
        status, _, _ = self(
            home,
            "login",
            EMAIL,
            "--password-stdin",
            "--auth-server",
            self.base + "/fxa",
            stdin=PASSWORD + "\n",
        )
        assert status == 0


def test_two_cli_devices_send_each_other_a_tab_and_show_no_secret(
    served: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = Cli(monkeypatch, capsys, served)
    laptop, phone = tmp_path / "laptop", tmp_path / "phone"
    cli.login(laptop)
    cli.login(phone)
    status, out, _ = cli(phone, "tabs", "received", "--name", "Phone")  # registers the phone
    assert (status, out.strip()) == (0, "no new tabs")
    status, out, _ = cli(laptop, "devices", "--json", "--name", "Laptop")
    assert status == 0
    listed = {d["name"]: d for d in json.loads(out)["devices"]}
    assert listed["Laptop"]["current"]
    assert listed["Phone"]["can_receive_tabs"]

    status, out, _ = cli(laptop, "send-tab", "Phone", "https://example.com/x", "--title", "X")
    assert status == 0
    assert out.startswith("sent to Phone")
    status, out, _ = cli(phone, "tabs", "received", "--json")
    assert status == 0
    (tab,) = json.loads(out)["tabs"]
    assert (tab["url"], tab["title"], tab["from"]) == ("https://example.com/x", "X", "Laptop")
    status, out, _ = cli(phone, "tabs", "received")
    assert (status, out.strip()) == (0, "no new tabs")  # the index moved on
    status, out, _ = cli(phone, "tabs", "received", "--all")
    assert "https://example.com/x" in out

    status, _, err = cli(laptop, "send-tab", "Tablet", "https://example.com/")
    assert status == 2
    assert "no device named 'Tablet'" in err

    # `beacon status` names our device and counts its tabs, and prints no URL or key.
    status, out, _ = cli(phone, "status", "--json")
    view = json.loads(out)
    assert (status, view["device_name"], view["tabs_received"]) == (0, "Phone", 1)
    assert view["device_id"] == listed["Phone"]["id"]
    assert view["send_tab_keys_published"]
    status, out, _ = cli(phone, "status")
    assert "device_name: Phone" in out
    assert "example.com/x" not in out

    # Nothing secret in what was printed, nor in plaintext in the credentials files.
    for home in (laptop, phone):
        raw = (home / "default.fxa").read_bytes()
        state = EncryptedFileStore(home / "default.fxa", PASSPHRASE).load()
        assert state is not None
        assert state.device is not None
        secrets = [
            state.device.private_key,
            state.device.auth_secret,
            state.ksync,
            state.kb,
            state.refresh_token,
            state.session_token,
            state.access_token,
        ]
        for secret in filter(None, secrets):
            assert secret.encode() not in raw
            assert all(secret not in text for text in cli.outputs)
        assert b"https://example.com/x" not in raw  # received tabs are private too
