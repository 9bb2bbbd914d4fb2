"""Sync 1.5 record crypto: key bundles, X-KeyID / X-Client-State, the encrypted envelope.

Contract:

1. Pure functions over bytes and str: no I/O, no clock. Randomness enters only through an
   ``rng: Callable[[int], bytes]`` argument (default :func:`os.urandom`), so every output can
   be reproduced in tests.
2. Key material never appears in a ``repr``, ``str`` or exception message.
3. :func:`decrypt_record` verifies the HMAC, in constant time, over the base64 ciphertext
   text *before* it decrypts anything, and every failure of a record raises
   :class:`~beacon.RecordIntegrityError` with one fixed message and no chained cause
   (docs/protocol.md §4.2), a recipe shaped like cryptography's Fernet
   (https://github.com/pyca/cryptography/blob/main/src/cryptography/fernet.py).
4. No ``cryptography`` exception escapes; the caller's bad arguments raise
   :class:`~beacon.UsageError`.

Known weakness of the format, not of this code: Sync 1.5's HMAC covers the ciphertext only,
not the IV. A changed IV changes the first decrypted block; most such changes break the JSON,
but some yield a different valid record. Pass ``bso_id=`` to :func:`decrypt_record` so at least
a changed record id is caught (a-s treats that mismatch as malformed, docs/protocol.md §4.2).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn

import pydantic_core
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from beacon._errors import KeyMismatchError, ProtocolViolation, RecordIntegrityError, UsageError
from beacon._parse import json_or_none

__all__ = [
    "CollectionKeys",
    "KeyBundle",
    "SyncKey",
    "b64decode_strict",
    "client_state",
    "decrypt_record",
    "encrypt_record",
    "key_id",
    "parse_key_id",
]

Rng = Callable[[int], bytes]

#: HKDF info for the root ("Sync") bundle (docs/protocol.md §4.1).
OLDSYNC_INFO = b"identity.mozilla.com/picl/v1/oldsync"
KEY_SIZE = 32
IV_SIZE = 16
_INTEGRITY_MESSAGE = "record failed integrity verification"
# Lowercase hex as written; all-uppercase also read (a-s decodes hex), but not mixed case,
# so that no single changed character of a valid hmac is still accepted.
_HEX_MAC = re.compile(r"[0-9a-f]{64}|[0-9A-F]{64}")
_B64URL_NOPAD = re.compile(r"[A-Za-z0-9_-]+")


def _hkdf_oldsync(ikm: bytes) -> bytes:
    """kSync = HKDF-SHA256(ikm, salt = empty, info = .../oldsync, L = 64) (§4.1, §5.2)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=2 * KEY_SIZE, salt=None, info=OLDSYNC_INFO
    ).derive(ikm)


def _check_kb(kb: bytes) -> None:
    if not isinstance(kb, bytes) or len(kb) != KEY_SIZE:
        raise UsageError("kB must be exactly 32 bytes")


def _fail_integrity() -> NoReturn:
    # One fixed message. Callers raise it *outside* any except block, so no inner exception
    # (a JSONDecodeError holds the whole plaintext in .doc) rides along as __context__.
    raise RecordIntegrityError(_INTEGRITY_MESSAGE)


def b64decode_strict(text: object) -> bytes | None:
    """Decode standard base64 (alphabet and padding checked); ``None`` if ``text`` is not.

    Returning instead of raising keeps the failing input out of any exception chain.
    """
    if not isinstance(text, str) or not text.isascii():
        return None
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except binascii.Error:
        return None


@dataclass(frozen=True, eq=False)
class KeyBundle:
    """An AES-256 encryption key and an HMAC-SHA256 key: the pair every Sync record uses.

    Build one from the account key with :meth:`from_kb`, from a crypto/keys entry with
    :meth:`from_b64`, or at random with :meth:`generate`. ``repr`` and ``str`` show no key
    material; ``==`` compares the keys in constant time.

    >>> bundle = KeyBundle.from_kb(bytes(32))
    >>> bundle
    KeyBundle(<keys hidden>)
    """

    encryption_key: bytes = field(repr=False)
    hmac_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        for key in (self.encryption_key, self.hmac_key):
            if not isinstance(key, bytes) or len(key) != KEY_SIZE:
                raise UsageError("a key bundle needs two keys of exactly 32 bytes")

    def __repr__(self) -> str:
        return "KeyBundle(<keys hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyBundle):
            return NotImplemented
        return hmac.compare_digest(
            self.encryption_key + self.hmac_key, other.encryption_key + other.hmac_key
        )

    def __hash__(self) -> int:
        return hash((self.encryption_key, self.hmac_key))

    @classmethod
    def from_kb(cls, kb: bytes) -> KeyBundle:
        """Derive the root bundle from the 32-byte account key kB (docs/protocol.md §4.1)."""
        _check_kb(kb)
        return cls.from_ksync(_hkdf_oldsync(kb))

    @classmethod
    def from_ksync(cls, ksync: bytes) -> KeyBundle:
        """Split the 64-byte kSync (encryption key, then HMAC key) into a bundle."""
        if not isinstance(ksync, bytes) or len(ksync) != 2 * KEY_SIZE:
            raise UsageError("kSync must be exactly 64 bytes")
        return cls(ksync[:KEY_SIZE], ksync[KEY_SIZE:])

    @classmethod
    def generate(cls, *, rng: Rng = os.urandom) -> KeyBundle:
        """Two fresh random 32-byte keys, drawn from ``rng``."""
        return cls(rng(KEY_SIZE), rng(KEY_SIZE))

    @classmethod
    def from_b64(cls, pair: Sequence[str]) -> KeyBundle:
        """Read a crypto/keys entry ``[enc_b64, hmac_b64]`` (standard base64, §4.4).

        Raises:
            UsageError: not two strings, not strict base64, or not 32 bytes each.
        """
        if not isinstance(pair, Sequence) or isinstance(pair, str | bytes) or len(pair) != 2:
            raise UsageError("a key pair must be a list of two base64 strings")
        keys = [b64decode_strict(text) for text in pair]
        if keys[0] is None or keys[1] is None:
            raise UsageError("a key in the pair is not a valid base64 string")
        return cls(keys[0], keys[1])

    def to_b64(self) -> list[str]:
        """The crypto/keys form: ``[enc_b64, hmac_b64]`` in standard padded base64 (§4.4)."""
        return [
            base64.b64encode(self.encryption_key).decode("ascii"),
            base64.b64encode(self.hmac_key).decode("ascii"),
        ]


def _kxcs(kb: bytes) -> bytes:
    """First 16 bytes of SHA-256(kB): the client-state bytes (docs/protocol.md §1.3)."""
    _check_kb(kb)
    return hashlib.sha256(kb).digest()[:16]


def key_id(kb: bytes, keys_changed_at_ms: int) -> str:
    """The ``X-KeyID`` header: ``<keysChangedAt ms>-<base64url, no padding, of kXCS>`` (§1.3).

    >>> key_id(bytes(32), 1234)
    '1234-Zmh6rfhivXdsj8GLjp-OIA'
    """
    if isinstance(keys_changed_at_ms, bool) or not isinstance(keys_changed_at_ms, int):
        raise UsageError("keys_changed_at_ms must be an integer number of milliseconds")
    if keys_changed_at_ms < 0:
        raise UsageError("keys_changed_at_ms must not be negative")
    tail = base64.urlsafe_b64encode(_kxcs(kb)).rstrip(b"=").decode("ascii")
    return f"{keys_changed_at_ms}-{tail}"


def parse_key_id(value: str) -> tuple[int, str]:
    """Split an ``X-KeyID`` into (keys_changed_at, client state as lowercase hex) (§1.3, §5.7).

    The timestamp may be zero-padded; the tail is base64url without padding.

    Raises:
        UsageError: no ``-``, a non-decimal timestamp, or a tail that is not base64url.
    """
    if not isinstance(value, str):
        raise UsageError("malformed X-KeyID")
    stamp, sep, tail = value.partition("-")
    # At most 19 digits: int() of thousands of digits raises ValueError, and a 64-bit column.
    if not sep or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 19:
        raise UsageError("malformed X-KeyID")
    if not _B64URL_NOPAD.fullmatch(tail) or len(tail) % 4 == 1:
        raise UsageError("malformed X-KeyID")
    raw = base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
    return int(stamp), raw.hex()


@dataclass(frozen=True)
class SyncKey:
    """What a Sync client needs of the account key, from kB or from a scoped key.

    ``root`` is the bundle crypto/keys is sealed under, ``key_id`` the ``X-KeyID`` and
    ``client_state`` its hex tail (what the store keeps as the key's fingerprint). kB gives
    all three (§1.3, §4.1); the OAuth scoped-keys flow hands out kSync (the 64-byte root) and
    its ``kid``, which *is* the X-KeyID. The repr shows no key.
    """

    root: KeyBundle = field(repr=False)
    key_id: str
    client_state: str

    @classmethod
    def of(
        cls,
        *,
        kb: bytes | None = None,
        keys_changed_at: int | None = None,
        ksync: bytes | None = None,
        kid: str | None = None,
    ) -> SyncKey:
        """From kB and keys_changed_at, or from kSync and kid (exactly one of the two pairs).

        Raises:
            UsageError: neither pair, both, or a value of the wrong shape.
        """
        if kb is not None and (ksync is not None or kid is not None):
            raise UsageError("give kb (with keys_changed_at) or ksync with kid, not both")
        if kb is not None:
            if not isinstance(kb, bytes) or len(kb) != KEY_SIZE:
                raise UsageError("kb must be 32 bytes")
            if isinstance(keys_changed_at, bool) or not isinstance(keys_changed_at, int):
                raise UsageError("keys_changed_at must be an int (milliseconds)")
            if keys_changed_at < 0:
                raise UsageError("keys_changed_at must not be negative")
            return cls(KeyBundle.from_kb(kb), key_id(kb, keys_changed_at), client_state(kb))
        if ksync is None or kid is None:
            raise UsageError("kb must be 32 bytes (or give ksync and kid instead)")
        stamp, state = parse_key_id(kid)
        if len(state) != 32:
            raise UsageError("kid must end in the 16-byte client state")
        if keys_changed_at is not None and keys_changed_at != stamp:
            raise UsageError("keys_changed_at differs from the kid's")
        return cls(KeyBundle.from_ksync(ksync), kid, state)


def client_state(kb: bytes) -> str:
    """The ``X-Client-State`` value: lowercase hex of the first 16 bytes of SHA-256(kB)."""
    return _kxcs(kb).hex()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _mac_hex(bundle: KeyBundle, ciphertext_b64: str) -> str:
    # The HMAC covers the ASCII *text* of the base64 ciphertext, rendered as lowercase hex
    # (docs/protocol.md §4.2 [DIFF]: not base64, whatever the old prose says).
    return hmac.new(bundle.hmac_key, ciphertext_b64.encode("ascii"), hashlib.sha256).hexdigest()


def _check_bundle(bundle: object) -> None:
    if not isinstance(bundle, KeyBundle):
        raise UsageError("records are encrypted and decrypted with a KeyBundle")


def _dumps_or_none(cleartext: Mapping[str, Any]) -> str | None:
    try:
        return json.dumps(cleartext, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None


def _loads_or_none(text: str | bytes) -> Any:
    """Parsed JSON, or ``None`` on any failure (JSON ``null`` is never a valid result here);
    :mod:`beacon._parse` bounds the depth and the numbers of what another device wrote."""
    return json_or_none(text)


def encrypt_record(
    bundle: KeyBundle,
    cleartext: Mapping[str, Any],
    *,
    iv: bytes | None = None,
    rng: Rng = os.urandom,
) -> str:
    """Encrypt a record into a BSO payload: JSON text ``{"ciphertext", "IV", "hmac"}`` (§4.2).

    AES-256-CBC with PKCS#7 under ``bundle.encryption_key``, a fresh IV from ``rng`` unless
    ``iv`` is given, and a lowercase-hex HMAC-SHA256 over the base64 ciphertext text.

    Raises:
        UsageError: ``cleartext`` is not a JSON-serialisable mapping, or ``iv`` is not 16 bytes.
    """
    _check_bundle(bundle)
    if not isinstance(cleartext, Mapping):
        raise UsageError("a record's cleartext must be a mapping")
    plain = _dumps_or_none(cleartext)
    if plain is None:
        raise UsageError("a record's cleartext must be JSON-serialisable")
    if iv is None:
        iv = rng(IV_SIZE)
    if not isinstance(iv, bytes) or len(iv) != IV_SIZE:
        raise UsageError("the IV must be exactly 16 bytes")
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plain.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(bundle.encryption_key), modes.CBC(iv)).encryptor()
    ciphertext_b64 = _b64(encryptor.update(padded) + encryptor.finalize())
    envelope = {
        "ciphertext": ciphertext_b64,
        "IV": _b64(iv),
        "hmac": _mac_hex(bundle, ciphertext_b64),
    }
    return json.dumps(envelope, separators=(",", ":"))


class _Envelope(NamedTuple):  # a tuple: built per record, cheaper than a frozen dataclass
    ciphertext_b64: str
    iv: bytes
    mac_hex: str


def _envelope_or_none(payload: str) -> Any:
    """The envelope's JSON, as :func:`_loads_or_none` reads it. An envelope is a flat object
    of strings, which no bound of :mod:`beacon._parse` can refuse: such a value is taken as
    parsed, anything else goes through the bounded parser."""
    if type(payload) is str:
        try:
            obj = pydantic_core.from_json(payload, allow_inf_nan=False, cache_strings=False)
        except ValueError:
            return None  # what the bounded parser answers for text it cannot parse
        if type(obj) is dict and all(type(v) is str for v in obj.values()):
            return obj
    return _loads_or_none(payload)


def _open_envelope(payload: str) -> _Envelope:
    """Parse the envelope's shape only; nothing here is trusted yet."""
    obj = _envelope_or_none(payload)
    if not isinstance(obj, dict):
        _fail_integrity()
    ciphertext_b64, iv_b64, mac_hex = obj.get("ciphertext"), obj.get("IV"), obj.get("hmac")
    if not (isinstance(ciphertext_b64, str) and isinstance(iv_b64, str)):
        _fail_integrity()
    if not isinstance(mac_hex, str) or not _HEX_MAC.fullmatch(mac_hex):
        _fail_integrity()
    if not ciphertext_b64.isascii():
        _fail_integrity()
    iv = b64decode_strict(iv_b64)
    # The IV is outside the HMAC: insist on its canonical base64 so its text cannot vary.
    if iv is None or len(iv) != IV_SIZE or _b64(iv) != iv_b64:
        _fail_integrity()
    return _Envelope(ciphertext_b64, iv, mac_hex)


def _mac_matches(bundle: KeyBundle, envelope: _Envelope) -> bool:
    # Readers accept either hex case (a-s decodes the hex); compare in constant time.
    expected = _mac_hex(bundle, envelope.ciphertext_b64).encode("ascii")
    return hmac.compare_digest(expected, envelope.mac_hex.lower().encode("ascii"))


def _plaintext_or_none(bundle: KeyBundle, envelope: _Envelope) -> str | None:
    ciphertext = b64decode_strict(envelope.ciphertext_b64)
    if ciphertext is None:
        return None
    cipher = Cipher(algorithms.AES(bundle.encryption_key), modes.CBC(envelope.iv))
    try:
        decryptor = cipher.decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except ValueError:  # not whole blocks, bad padding, not UTF-8
        return None


def _decrypt_verified(bundle: KeyBundle, envelope: _Envelope) -> dict[str, Any]:
    """AES-CBC decrypt, strip PKCS#7, UTF-8, JSON object; only after the HMAC matched."""
    plain = _plaintext_or_none(bundle, envelope)
    record = None if plain is None else _loads_or_none(plain)
    if not isinstance(record, dict):
        _fail_integrity()
    return record


def decrypt_record(bundle: KeyBundle, payload: str, *, bso_id: str | None = None) -> dict[str, Any]:
    """Verify and decrypt a BSO payload made by :func:`encrypt_record` or any Sync client.

    Args:
        bundle: the collection's key bundle (:meth:`CollectionKeys.bundle_for`).
        payload: the BSO ``payload`` string.
        bso_id: when given, a cleartext ``id`` that differs from it is refused (§4.2).

    Raises:
        RecordIntegrityError: for every failure (HMAC, base64, IV length, padding, UTF-8,
            JSON, a non-object cleartext, an id mismatch), always with the same message.
    """
    _check_bundle(bundle)
    envelope = _open_envelope(payload)
    if not _mac_matches(bundle, envelope):
        _fail_integrity()
    record = _decrypt_verified(bundle, envelope)
    if bso_id is not None and record.get("id", bso_id) != bso_id:
        _fail_integrity()
    return record


@dataclass(frozen=True, eq=False)
class CollectionKeys:
    """The cleartext of crypto/keys: a default bundle and optional per-collection bundles.

    ``repr`` names the collections but shows no key material (docs/protocol.md §4.4).
    """

    default: KeyBundle
    collections: Mapping[str, KeyBundle] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.default, KeyBundle):
            raise UsageError("the default must be a KeyBundle")
        frozen = dict(self.collections)
        if not all(isinstance(k, str) and isinstance(v, KeyBundle) for k, v in frozen.items()):
            raise UsageError("collections must map names to KeyBundles")
        object.__setattr__(self, "collections", MappingProxyType(frozen))

    def __repr__(self) -> str:
        return f"CollectionKeys(default=<hidden>, collections={sorted(self.collections)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CollectionKeys):
            return NotImplemented
        return self.default == other.default and dict(self.collections) == dict(other.collections)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def generate(cls, collections: Iterable[str] = (), *, rng: Rng = os.urandom) -> CollectionKeys:
        """A random default bundle, plus a random bundle for each named collection."""
        default = KeyBundle.generate(rng=rng)
        return cls(default, {name: KeyBundle.generate(rng=rng) for name in collections})

    def bundle_for(self, collection: str) -> KeyBundle:
        """The collection's own bundle if crypto/keys lists one, else the default (§4.2)."""
        return self.collections.get(collection, self.default)

    def to_cleartext(self) -> dict[str, Any]:
        """The crypto/keys cleartext record (docs/protocol.md §4.4)."""
        return {
            "id": "keys",
            "collection": "crypto",
            "default": self.default.to_b64(),
            "collections": {name: b.to_b64() for name, b in sorted(self.collections.items())},
        }

    @classmethod
    def from_cleartext(cls, record: Mapping[str, Any]) -> CollectionKeys:
        """Read a decrypted crypto/keys record.

        Raises:
            ProtocolViolation: the record does not have the shape of §4.4.
        """
        if record.get("id", "keys") != "keys" or record.get("collection", "crypto") != "crypto":
            raise ProtocolViolation("crypto/keys cleartext has the wrong id or collection")
        collections = record.get("collections", {})
        if not isinstance(collections, Mapping):
            raise ProtocolViolation("crypto/keys 'collections' is not an object")
        try:
            default = KeyBundle.from_b64(record.get("default", ()))
            per = {str(name): KeyBundle.from_b64(pair) for name, pair in collections.items()}
        except UsageError:
            raise ProtocolViolation("crypto/keys holds a malformed key pair") from None
        return cls(default, per)

    def encrypt(self, root: KeyBundle, *, iv: bytes | None = None, rng: Rng = os.urandom) -> str:
        """The crypto/keys BSO payload, encrypted under the root bundle from kB (§4.2)."""
        return encrypt_record(root, self.to_cleartext(), iv=iv, rng=rng)

    @classmethod
    def decrypt(cls, root: KeyBundle, payload: str) -> CollectionKeys:
        """Verify and read a crypto/keys payload with the root bundle.

        Raises:
            KeyMismatchError: the HMAC does not verify under ``root`` (another kB made it).
            RecordIntegrityError: the envelope itself is malformed.
            ProtocolViolation: it verifies, but the cleartext is not a crypto/keys record.
        """
        envelope = _open_envelope(payload)
        if not _mac_matches(root, envelope):
            raise KeyMismatchError("crypto/keys does not verify under the key bundle from kB")
        return cls.from_cleartext(_decrypt_verified(root, envelope))

    def changed_collections(self, other: CollectionKeys, engines: Iterable[str]) -> set[str]:
        """The engines whose effective bundle differs between ``self`` and ``other``."""
        return {name for name in engines if self.bundle_for(name) != other.bundle_for(name)}
