"""Credentials at rest: the encrypted owner-only file, and the keyring through `keyring`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from beacon import TrustError, UsageError
from beacon.fxa import AccountState, EncryptedFileStore, KeyringStore, default_store, keyring_usable

SECRET = "f" * 64


def _state() -> AccountState:
    return AccountState(
        auth_server_url="https://api.accounts.firefox.com",
        client_id="e7ce535d93522896",
        email="alice@example.com",
        status="married",
        session_token=SECRET,
        refresh_token="r" * 64,
        kb="a" * 64,
    )


class DictKeyring(KeyringBackend):
    """An in-memory keyring backend, set explicitly (never the machine's keyring)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.items:
            raise PasswordDeleteError("no such item")
        del self.items[(service, username)]


def test_the_file_store_round_trips_owner_only_and_encrypted(tmp_path: Path) -> None:
    store = EncryptedFileStore(tmp_path / "cfg" / "default.fxa", "a passphrase")
    assert store.load() is None
    store.save(_state())
    raw = (tmp_path / "cfg" / "default.fxa").read_bytes()
    assert SECRET.encode() not in raw
    assert b"alice@example.com" not in raw
    mode = stat.S_IMODE((tmp_path / "cfg" / "default.fxa").stat().st_mode)
    assert mode == 0o600
    loaded = store.load()
    assert loaded is not None
    assert loaded.session_token == SECRET
    store.clear()
    assert store.load() is None


def test_a_wrong_passphrase_or_a_damaged_file_is_a_trust_error(tmp_path: Path) -> None:
    path = tmp_path / "default.fxa"
    EncryptedFileStore(path, "right").save(_state())
    with pytest.raises(TrustError) as caught:
        EncryptedFileStore(path, "wrong").load()
    assert "right" not in str(caught.value)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(TrustError):
        EncryptedFileStore(path, "right").load()


def test_the_file_store_needs_a_passphrase(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="BEACON_CREDENTIALS_PASSPHRASE"):
        EncryptedFileStore(tmp_path / "x.fxa", "").save(_state())


def test_the_keyring_store_keeps_one_item_with_the_account_json() -> None:
    backend = DictKeyring()
    store = KeyringStore("work", backend=backend)
    store.save(_state())
    assert list(backend.items) == [("beacon-fxa", "work")]
    loaded = store.load()
    assert loaded is not None
    assert loaded.refresh_token == "r" * 64
    store.clear()
    assert store.load() is None
    store.clear()  # clearing nothing is fine


def test_a_headless_machine_falls_back_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())  # type: ignore[no-untyped-call]
    assert not keyring_usable()
    assert keyring_usable(DictKeyring())
    store = default_store(tmp_path, passphrase="p")
    assert isinstance(store, EncryptedFileStore)
    assert store.path == tmp_path / "default.fxa"


def test_an_unwritable_place_or_a_broken_keyring_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(UsageError, match="cannot write"):
        EncryptedFileStore(blocker / "default.fxa", "p").save(_state())

    class Broken(DictKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")

    with pytest.raises(UsageError, match="BEACON_CREDENTIALS_PASSPHRASE"):
        KeyringStore(backend=Broken()).load()
