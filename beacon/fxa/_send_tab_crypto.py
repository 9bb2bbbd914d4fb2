"""The send-tab key scheme of Firefox Accounts device commands (pure, no I/O).

Contract (as application-services ``fxa-client/src/internal/commands/keys.rs`` and
``send_tab.rs``, https://github.com/mozilla/application-services):

* A device that can receive tabs holds :class:`CommandKeys`: a P-256 key pair and a 16-byte
  auth secret, generated once and kept secret at rest (the account's credential store).
* It publishes ``availableCommands["https://identity.mozilla.com/cmd/open-uri"]``: the JSON
  text ``{"kid", "IV", "hmac", "ciphertext"}``, where ``IV``/``hmac``/``ciphertext`` are a Sync
  record envelope (AES-256-CBC + HMAC-SHA256, :func:`beacon._crypto.encrypt_record`) of
  ``{"publicKey", "authSecret"}`` (base64url, no padding) under the bundle of the account's
  kSync, and ``kid`` is the hex of kXCS (the client-state bytes), so a sender can tell keys
  published under older account keys. Only devices of the account (they share kSync) can
  read the public keys, and the server cannot swap them unnoticed.
* A sender encrypts the JSON payload ``{"entries": [{"title", "url"}], "flowID", "streamID"}``
  with Web Push's ``aes128gcm`` content encoding (RFC 8188 and RFC 8291: an ephemeral ECDH
  key against the recipient's public key, mixed with its auth secret) through ``http_ece``,
  and sends ``{"encrypted": base64url}`` as the command's payload.
* Failures are beacon's: a published bundle or a payload that is not what the scheme says is
  :class:`~beacon.ProtocolViolation`; one whose HMAC, AEAD tag or ``kid`` does not check is
  :class:`~beacon.TrustError`. No ``http_ece``, ``cryptography`` or JSON exception escapes,
  and no message holds a key or a plaintext.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from beacon._crypto import KeyBundle, decrypt_record, encrypt_record, parse_key_id
from beacon._errors import ProtocolViolation, TrustError, UsageError
from beacon._parse import parse_json
from beacon._scoped_keys import b64url, b64url_decode

__all__ = [
    "OPEN_URI",
    "CommandKeys",
    "PublicCommandKeys",
    "decrypt_payload",
    "encrypt_payload",
    "open_published_keys",
    "publish_keys",
]

#: The send-tab command's name in a device's ``availableCommands``.
OPEN_URI = "https://identity.mozilla.com/cmd/open-uri"

Rng = Callable[[int], bytes]
_PUBLIC_KEY_SIZE = 65  # an uncompressed P-256 point
_AUTH_SECRET_SIZE = 16


@dataclass(frozen=True)
class PublicCommandKeys:
    """What a device publishes (encrypted) so that others can send it tabs."""

    public_key: bytes  # uncompressed P-256 point
    auth_secret: bytes = field(repr=False)

    def to_json(self) -> dict[str, str]:
        return {"publicKey": b64url(self.public_key), "authSecret": b64url(self.auth_secret)}


@dataclass(frozen=True)
class CommandKeys:
    """Our private send-tab keys: the P-256 private scalar and the auth secret."""

    private_key: bytes = field(repr=False)  # 32-byte big-endian scalar
    auth_secret: bytes = field(repr=False)

    @classmethod
    def generate(cls, *, rng: Rng = os.urandom) -> CommandKeys:
        """A fresh key pair and auth secret (the scalar drawn from ``rng``, below the order)."""
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        while True:
            scalar = int.from_bytes(rng(32), "big")
            if 0 < scalar < order:
                break
        return cls(scalar.to_bytes(32, "big"), rng(_AUTH_SECRET_SIZE))

    @classmethod
    def from_b64(cls, private_key: str, auth_secret: str) -> CommandKeys:
        """From the stored base64url values; ``UsageError`` when they are not keys."""
        keys = cls(b64url_decode(private_key), b64url_decode(auth_secret))
        if len(keys.private_key) != 32 or len(keys.auth_secret) != _AUTH_SECRET_SIZE:
            raise UsageError("the stored send-tab keys are damaged")
        keys.ec_key()
        return keys

    def ec_key(self) -> ec.EllipticCurvePrivateKey:
        try:
            return ec.derive_private_key(int.from_bytes(self.private_key, "big"), ec.SECP256R1())
        except ValueError:
            raise UsageError("the stored send-tab keys are damaged") from None

    def public(self) -> PublicCommandKeys:
        point = (
            self.ec_key().public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        )
        return PublicCommandKeys(point, self.auth_secret)


def _kxcs_hex(kid: str) -> str:
    try:
        return parse_key_id(kid)[1]
    except UsageError:
        raise UsageError("the account's key id is malformed") from None


def publish_keys(keys: PublicCommandKeys, ksync: bytes, kid: str, *, rng: Rng = os.urandom) -> str:
    """The ``availableCommands[OPEN_URI]`` value: our public keys sealed under kSync."""
    envelope = json.loads(encrypt_record(KeyBundle.from_ksync(ksync), keys.to_json(), rng=rng))
    return json.dumps({"kid": _kxcs_hex(kid), **envelope}, separators=(",", ":"))


def open_published_keys(published: object, ksync: bytes, kid: str) -> PublicCommandKeys:
    """A device's published send-tab keys, checked and decrypted with the account's kSync.

    Raises:
        ProtocolViolation: the value is not the scheme's JSON, or the keys have the wrong size.
        TrustError: published under other account keys (``kid``), or the HMAC fails.
    """
    if not isinstance(published, str):
        raise ProtocolViolation("the device's open-uri command data is not a string")
    bundle = parse_json(published, "the device's open-uri command data")
    fields = ("kid", "IV", "hmac", "ciphertext")
    if not isinstance(bundle, dict) or not all(isinstance(bundle.get(f), str) for f in fields):
        raise ProtocolViolation("the device's open-uri command data lacks kid, IV, hmac or text")
    if bundle["kid"].lower() != _kxcs_hex(kid):
        raise TrustError(
            "the device published its send-tab keys under other account keys;"
            " it must sync or sign in again before it can receive tabs"
        )
    envelope = json.dumps({f: bundle[f] for f in fields[1:]})
    try:
        clear = decrypt_record(KeyBundle.from_ksync(ksync), envelope)
    except TrustError:
        raise TrustError("the device's published send-tab keys do not verify") from None
    try:
        public_key = b64url_decode(clear["publicKey"])
        auth_secret = b64url_decode(clear["authSecret"])
    except (KeyError, UsageError):
        raise ProtocolViolation("the device's send-tab keys are not base64url keys") from None
    if len(public_key) != _PUBLIC_KEY_SIZE or len(auth_secret) != _AUTH_SECRET_SIZE:
        raise ProtocolViolation("the device's send-tab keys have the wrong size")
    return PublicCommandKeys(public_key, auth_secret)


def encrypt_payload(
    keys: PublicCommandKeys,
    payload: Mapping[str, Any],
    *,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
    salt: bytes | None = None,
    rng: Rng = os.urandom,
) -> str:
    """``payload`` as JSON, aes128gcm-encrypted to ``keys``, base64url (RFC 8291).

    ``ephemeral`` and ``salt`` are fixed only by known-answer tests.
    """
    plaintext = json.dumps(dict(payload), separators=(",", ":")).encode("utf-8")
    sender = ephemeral if ephemeral is not None else ec.generate_private_key(ec.SECP256R1())
    try:
        content = http_ece.encrypt(
            plaintext,
            salt=salt if salt is not None else rng(16),
            private_key=sender,
            dh=keys.public_key,
            auth_secret=keys.auth_secret,
            version="aes128gcm",
        )
    except (http_ece.ECEException, ValueError):
        raise ProtocolViolation("the device's send-tab public key is not a P-256 point") from None
    return b64url(content)


def decrypt_payload(keys: CommandKeys, encrypted: object) -> dict[str, Any]:
    """A received command payload's ``encrypted`` value, decrypted with our keys.

    Raises:
        ProtocolViolation: not base64url, or a plaintext that is not a JSON object.
        TrustError: it does not decrypt under our keys (tampered, or sent to old keys).
    """
    if not isinstance(encrypted, str):
        raise ProtocolViolation("a received command's payload has no encrypted text")
    try:
        content = b64url_decode(encrypted)
    except UsageError:
        raise ProtocolViolation("a received command's payload is not base64url") from None
    try:
        plaintext = http_ece.decrypt(
            content, private_key=keys.ec_key(), auth_secret=keys.auth_secret, version="aes128gcm"
        )
    except (http_ece.ECEException, ValueError, TypeError, IndexError, struct.error):
        raise TrustError(
            "a received tab does not decrypt under this device's send-tab keys"
            " (tampered, or sent to keys this device no longer has)"
        ) from None
    value = parse_json(plaintext, "a received tab")
    if not isinstance(value, dict):
        raise ProtocolViolation("a received tab is not a JSON object")
    return value
