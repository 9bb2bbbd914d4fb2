"""Credentials at rest: the OS keyring when there is one, else an encrypted owner-only file.

Contract:

* A store keeps one :class:`~._state.AccountState` (``load``/``save``/``clear``) and says in
  ``description`` where it lives. Nothing is ever written in plaintext.
* :class:`KeyringStore` keeps the account JSON as one item of the OS keyring through the
  ``keyring`` library (macOS Keychain, Secret Service, KWallet, Windows Credential Locker),
  as Firefox for iOS keeps its account JSON as one Keychain item. The keyring encrypts at
  rest and unlocks with the user's login; beacon holds no key for it.
* :class:`EncryptedFileStore` is the fallback for machines without a keyring (headless
  Linux: ``keyring`` then has only its ``fail`` backend). The file is created owner-only
  (0600), replaced atomically, and holds ``magic ‖ salt ‖ nonce ‖ AES-256-GCM(JSON)`` whose
  key is scrypt(passphrase, salt). The passphrase is never stored, so the key never lies
  beside the file: a copied file (backup, stolen disk) is useless without it. The passphrase
  comes from the caller (``BEACON_CREDENTIALS_PASSPHRASE`` or a prompt in the CLI).
  A key derived from machine facts (machine-id, uid) was rejected: anyone who can read the
  file can usually read those too.
* :func:`default_store` picks the keyring when its backend is usable (priority ≥ 1, not the
  ``fail``/``null`` backends), else the file; a keyring that fails at use raises
  :class:`~beacon.UsageError` naming the fallback. Wrong passphrase or a damaged file raise
  :class:`~beacon.TrustError`; no keyring or cryptography exception escapes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from beacon._errors import TrustError, UsageError
from beacon.fxa._state import AccountState

__all__ = [
    "CredentialStore",
    "EncryptedFileStore",
    "KeyringStore",
    "MemoryStore",
    "default_store",
    "keyring_usable",
]

_MAGIC = b"beacon-fxa-1\n"
_SCRYPT_N = 2**15
KEYRING_SERVICE = "beacon-fxa"
PASSPHRASE_ENV = "BEACON_CREDENTIALS_PASSPHRASE"


class CredentialStore(Protocol):
    """Where one account's state lives."""

    description: str

    def load(self) -> AccountState | None: ...

    def save(self, state: AccountState) -> None: ...

    def clear(self) -> None: ...


class MemoryStore:
    """Keeps the state in this process only (a library user who persists it elsewhere)."""

    description = "memory (not persisted)"

    def __init__(self, state: AccountState | None = None) -> None:
        self._json = state.to_json() if state is not None else None

    def __repr__(self) -> str:
        return "MemoryStore()"

    def load(self) -> AccountState | None:
        return None if self._json is None else AccountState.from_json(self._json)

    def save(self, state: AccountState) -> None:
        self._json = state.to_json()

    def clear(self) -> None:
        self._json = None


class KeyringStore:
    """One keyring item (service ``beacon-fxa``, user ``profile``) holding the account JSON.

    ``backend`` is a ``keyring.backend.KeyringBackend``; default: the one keyring picks.
    """

    def __init__(self, profile: str = "default", *, backend: object | None = None) -> None:
        import keyring

        self._backend = backend if backend is not None else keyring.get_keyring()
        self._profile = profile
        self.description = f"keyring ({type(self._backend).__module__}), item {profile!r}"

    def __repr__(self) -> str:
        return f"KeyringStore({self._profile!r})"

    def _call(self, name: str, *args: str) -> object:
        try:
            return getattr(self._backend, name)(KEYRING_SERVICE, self._profile, *args)
        except Exception as exc:  # backends raise D-Bus, OS and their own errors
            raise UsageError(
                f"the keyring refused to {name.split('_')[0]} the account ({type(exc).__name__});"
                f" set {PASSPHRASE_ENV} to use the encrypted file instead"
            ) from None

    def load(self) -> AccountState | None:
        raw = self._call("get_password")
        return AccountState.from_json(raw) if isinstance(raw, str) else None

    def save(self, state: AccountState) -> None:
        self._call("set_password", state.to_json())

    def clear(self) -> None:
        try:
            self._call("delete_password")
        except UsageError:
            # Deleting an item that is not there is refused too: only a real failure counts.
            if self.load() is not None:
                raise


class EncryptedFileStore:
    """The account JSON in an owner-only file, AES-256-GCM under scrypt(passphrase)."""

    def __init__(self, path: str | os.PathLike[str], passphrase: str | Callable[[], str]) -> None:
        self.path = Path(path)
        self._passphrase = passphrase
        self.description = f"encrypted file {self.path}"

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self.path)!r})"

    def _key(self, salt: bytes) -> bytes:
        if callable(self._passphrase):
            self._passphrase = self._passphrase()  # ask once (a prompt), not per load/save
        phrase = self._passphrase
        if not isinstance(phrase, str) or not phrase:
            raise UsageError(f"the credentials file needs a passphrase ({PASSPHRASE_ENV})")
        return hashlib.scrypt(
            phrase.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=8, p=1, maxmem=64 * 2**20, dklen=32
        )

    def load(self) -> AccountState | None:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UsageError(f"cannot read {self.path}: {exc.strerror}") from None
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 16 + 12 + 16:
            raise TrustError(f"{self.path} is not a beacon credentials file")
        head = len(_MAGIC)
        salt, nonce = blob[head : head + 16], blob[head + 16 : head + 28]
        try:
            plain = AESGCM(self._key(salt)).decrypt(nonce, blob[head + 28 :], blob[: head + 16])
        except InvalidTag:
            raise TrustError(
                f"cannot decrypt {self.path}: wrong passphrase or a damaged file"
            ) from None
        return AccountState.from_json(plain)

    def save(self, state: AccountState) -> None:
        salt, nonce = os.urandom(16), os.urandom(12)
        head = _MAGIC + salt
        blob = head + nonce + AESGCM(self._key(salt)).encrypt(nonce, state.to_json().encode(), head)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, blob)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror}") from None

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot remove {self.path}: {exc.strerror}") from None


def keyring_usable(backend: object | None = None) -> bool:
    """True when the keyring backend can store secrets (not ``fail``/``null``, priority ≥ 1)."""
    import keyring

    chosen = backend if backend is not None else keyring.get_keyring()
    module = type(chosen).__module__
    if module.endswith((".fail", ".null")):
        return False
    try:
        priority = float(getattr(chosen, "priority", 0))
    except (TypeError, ValueError, NotImplementedError):
        return False
    return priority >= 1


def default_store(
    directory: str | os.PathLike[str],
    *,
    profile: str = "default",
    passphrase: str | Callable[[], str] | None = None,
) -> CredentialStore:
    """The keyring when usable, else ``<directory>/<profile>.fxa`` encrypted (see above)."""
    if keyring_usable():
        return KeyringStore(profile)
    source = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV, "")
    return EncryptedFileStore(Path(directory) / f"{profile}.fxa", source)
