"""Record payloads at rest: sealed under a data key that only the account's kB opens.

Contract:

1. **One data key per state file.** A random 256-bit key, kept in the ``settings`` table only
   wrapped under the kB-derived root bundle (the Sync record envelope, as the storage token
   and the cached crypto/keys are). A copied state file opens nothing without kB.
2. **Sealed values.** A record's payload and its base (the content last agreed with a server)
   are AES-256-GCM ciphertexts, ``version || nonce (12 random bytes) || ciphertext+tag``,
   stored as BLOBs, with the collection and the record id as associated data: a sealed
   value copied into another row does not open. Two markers of a base stay as they are: the
   tombstone (the ``deleted`` column says as much) and :data:`SAME_AS_PAYLOAD`, a base equal
   to the row's payload (what every row applied from or uploaded to a server holds), so that
   such a row stores its content once.
3. **A kB change.** After a password reset the wrapped key opens only under the previous kB:
   :func:`unlock` with ``previous`` wraps it under the new one too (no record is rewritten),
   keeping the old wrap until the new kB is proven (:func:`settle`: the token server took its
   key id and crypto/keys decrypt under it), so a mistaken "new" kB locks nothing out.
   Without ``previous``, a file holding records raises :class:`~beacon.UsageError` (they
   would be lost); a file holding none gets a fresh key.
4. **Older files.** A file without a wrapped key, whose rows are still plaintext (written
   before sealing existed), has every row sealed in the unlocking transaction.
5. What is *not* sealed: collection names, record ids, the deleted flag, server and local
   timestamps, change counters (the sync bookkeeping), and the settings that were never
   secret (meta/global, info/collections, the kB fingerprint, backoff deadlines).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from beacon._crypto import KeyBundle, decrypt_record, encrypt_record
from beacon._errors import BeaconError, UsageError

if TYPE_CHECKING:
    from beacon.client._sqlite import StateFile

__all__ = ["SAME_AS_PAYLOAD", "SETTING", "Seal", "settle", "unlock"]

#: The settings key holding the wrapped data key.
SETTING = "records_key"
_VERSION = b"\x01"
_NONCE = 12
#: A base that is a tombstone is stored as this marker, never sealed.
_TOMBSTONE = "tombstone"
#: A base equal to the row's payload is stored as this marker, never sealed. Not JSON object
#: text, so no payload or base can equal it.
SAME_AS_PAYLOAD = "=payload"
_MARKERS = (_TOMBSTONE, SAME_AS_PAYLOAD)


class Seal:
    """Seals and opens one state file's record values; its repr shows no key."""

    __slots__ = ("_aead", "_path", "_rng")

    def __init__(
        self, key: bytes, *, path: object = "", rng: Callable[[int], bytes] = os.urandom
    ) -> None:
        self._aead = AESGCM(key)
        self._path = str(path)
        self._rng = rng

    def __repr__(self) -> str:
        return "Seal(<data key>)"

    def seal(self, collection: str, record_id: str, text: str | None) -> bytes | str | None:
        """``text`` sealed for this row; None and the two markers stay as they are."""
        if text is None or text in _MARKERS:
            return text
        nonce = self._rng(_NONCE)
        aad = f"{collection}\x00{record_id}".encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, text.encode(), aad)

    def open(self, collection: str, record_id: str, value: Any) -> str | None:
        """The text of a sealed value of this row (None and the tombstone marker pass)."""
        if value is None or value == _TOMBSTONE:
            return value if value is None else _TOMBSTONE
        if not isinstance(value, bytes) or value[:1] != _VERSION or len(value) < 1 + _NONCE + 16:
            raise self._damaged(record_id)
        aad = f"{collection}\x00{record_id}".encode()
        try:
            return self._aead.decrypt(value[1 : 1 + _NONCE], value[1 + _NONCE :], aad).decode()
        except (InvalidTag, UnicodeDecodeError):
            raise self._damaged(record_id) from None

    def _damaged(self, record_id: str) -> UsageError:
        return UsageError(
            f"the state file {self._path!r} holds a record ({record_id!r}) that does not open:"
            " the file was altered or damaged; start over with `beacon reset`"
        )


def _wrap(root: KeyBundle, key: bytes, rng: Callable[[int], bytes]) -> str:
    return encrypt_record(root, {"data_key": key.hex()}, rng=rng)


def _wraps(stored: object) -> list[str]:
    """The wraps of the data key a settings value holds (one, or several during a kB change)."""
    if isinstance(stored, str):
        return [stored]
    if isinstance(stored, list):
        return [w for w in stored if isinstance(w, str)]
    return []


def _unwrap_any(root: KeyBundle, stored: object) -> bytes | None:
    for wrapped in _wraps(stored):
        key = _unwrap(root, wrapped)
        if key is not None:
            return key
    return None


def settle(store: StateFile, root: KeyBundle, *, rng: Callable[[int], bytes] = os.urandom) -> None:
    """Keep only the wrap under ``root``: the new kB is proven, the old one's wrap goes."""
    with store.transaction():
        key = _unwrap_any(root, store._get(SETTING))
        if key is not None:
            store._put(SETTING, _wrap(root, key, rng))


def _unwrap(root: KeyBundle, wrapped: object) -> bytes | None:
    if not isinstance(wrapped, str):
        return None
    try:
        key = bytes.fromhex(str(decrypt_record(root, wrapped)["data_key"]))
    except (BeaconError, KeyError, TypeError, ValueError):
        return None
    return key if len(key) == 32 else None


def unlock(
    store: StateFile,
    root: KeyBundle,
    *,
    previous: KeyBundle | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> Seal:
    """The file's :class:`Seal`, opened under ``root`` (see the module docstring, 1-4)."""
    with store.transaction():
        stored = store._get(SETTING)
        key = _unwrap_any(root, stored)
        if key is not None:
            return Seal(key, path=store.path, rng=rng)
        if stored is not None and previous is not None:
            key = _unwrap_any(previous, stored)
            if key is not None:  # both wraps, until settle() proves the new kB
                store._put(SETTING, [*_wraps(stored), _wrap(root, key, rng)])
                return Seal(key, path=store.path, rng=rng)
        if key is None:
            rows = store.execute("SELECT collection, id, payload, base FROM records")
            if stored is not None and rows:
                raise UsageError(
                    f"the records in the state file {str(store.path)!r} are sealed under"
                    " another kB (a password reset?): give the previous kB to keep them"
                    " (--previous-kb, or SyncClient(previous_kb=...)), or start over with"
                    " `beacon reset`"
                )
            key = rng(32)
            seal = Seal(key, path=store.path, rng=rng)
            _seal_plaintext_rows(store, seal, rows)
        store._put(SETTING, _wrap(root, key, rng))
        return Seal(key, path=store.path, rng=rng)


def _seal_plaintext_rows(store: StateFile, seal: Seal, rows: list[Any]) -> None:
    """Seal the rows of a file written before sealing existed (contract 4)."""
    for collection, record_id, payload, base in rows:
        if isinstance(payload, bytes) or isinstance(base, bytes):
            raise UsageError(
                f"the state file {str(store.path)!r} holds sealed records but no data key:"
                " start over with `beacon reset`"
            )
        store.execute(
            "UPDATE records SET payload = ?, base = ? WHERE collection = ? AND id = ?",
            (
                seal.seal(collection, record_id, payload),
                seal.seal(collection, record_id, base),
                collection,
                record_id,
            ),
        )
