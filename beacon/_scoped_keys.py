"""FxA scoped keys for Sync: kB → kSync and kid, PKCE, and the ``keys_jwe`` of the code flow.

Contract (mozilla/ecosystem-platform ``docs/explanation/scoped-keys.md``; RFC 7636; RFC 7518
ECDH-ES; ``docs/accounts.md`` §5):

* :func:`oldsync_key` turns kB and the key rotation timestamp (ms) into a :class:`ScopedKey`:
  ``k`` = kSync = HKDF-SHA256(kB, ∅, ".../oldsync", 64) and ``kid`` =
  ``<ms>-<base64url(SHA-256(kB)[:16])>``, which is also the Sync ``X-KeyID``.
* :func:`pkce_pair` makes a PKCE verifier and its S256 challenge; :func:`pkce_challenge`
  computes the challenge of a given verifier.
* :class:`KeysJwk` is the ephemeral P-256 key pair of one code flow; ``.public`` is the
  ``keys_jwk`` query value and :meth:`KeysJwk.decrypt` opens the ``keys_jwe`` the token
  endpoint returns (compact JWE, ``ECDH-ES`` + ``A256GCM``, decrypted by joserfc) into the
  scoped keys it carries. :func:`encrypt_scoped_keys` is the other side (FxA web content; the
  embedded stand-in uses it).
* Key material never appears in a repr or a message; a JWE that does not decrypt, or whose
  cleartext is not a map of scoped keys, raises :class:`~beacon.TrustError` /
  :class:`~beacon.ProtocolViolation`; no joserfc exception escapes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from beacon._crypto import key_id, parse_key_id
from beacon._errors import ProtocolViolation, TrustError, UsageError

__all__ = [
    "SYNC_SCOPE",
    "KeysJwk",
    "ScopedKey",
    "b64url",
    "b64url_decode",
    "encrypt_scoped_keys",
    "oldsync_key",
    "pkce_challenge",
    "pkce_pair",
]

Rng = Callable[[int], bytes]

SYNC_SCOPE = "https://identity.mozilla.com/apps/oldsync"
_JWE_ALGORITHMS = ("ECDH-ES", "A256GCM")
_VERIFIER = re.compile(r"\A[A-Za-z0-9._~-]{43,128}\Z")


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ``UsageError`` when it is not."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise UsageError("not base64url")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise UsageError("not base64url")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


@dataclass(frozen=True)
class ScopedKey:
    """A scoped key: ``scope``, ``k`` (kSync for oldsync, 64 bytes) and ``kid``.

    For Sync, ``kid`` is the ``X-KeyID`` and its timestamp is keys_changed_at. The repr hides
    ``k``.
    """

    scope: str
    k: bytes = field(repr=False)
    kid: str

    @property
    def keys_changed_at(self) -> int:
        """The kid's timestamp (ms)."""
        return parse_key_id(self.kid)[0]

    @property
    def client_state(self) -> str:
        """``X-Client-State``: the hex of the kid's fingerprint."""
        return parse_key_id(self.kid)[1]

    def to_jwk(self) -> dict[str, str]:
        return {"kty": "oct", "scope": self.scope, "k": b64url(self.k), "kid": self.kid}


def oldsync_key(kb: bytes, key_rotation_timestamp: int) -> ScopedKey:
    """kSync and kid for Sync from kB (gecko ``getKeyForScope``; see the module docstring)."""
    if not isinstance(kb, bytes) or len(kb) != 32:
        raise UsageError("kB must be exactly 32 bytes")
    ksync = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=None,
        info=b"identity.mozilla.com/picl/v1/oldsync",
    ).derive(kb)
    return ScopedKey(SYNC_SCOPE, ksync, key_id(kb, key_rotation_timestamp))


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge: base64url(SHA-256(ASCII verifier)) (RFC 7636 §4.2)."""
    if not isinstance(verifier, str) or not _VERIFIER.match(verifier):
        raise UsageError("a PKCE verifier is 43-128 characters of [A-Za-z0-9._~-]")
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def pkce_pair(rng: Rng = os.urandom) -> tuple[str, str]:
    """(verifier, challenge): a verifier from 32 random bytes (43 characters)."""
    verifier = b64url(rng(32))
    return verifier, pkce_challenge(verifier)


def _scoped_keys_from(plaintext: bytes) -> dict[str, ScopedKey]:
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolViolation("the scoped keys are not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolViolation("the scoped keys are not a JSON object")
    keys: dict[str, ScopedKey] = {}
    for scope, jwk in data.items():
        if not isinstance(jwk, dict) or jwk.get("kty") != "oct":
            raise ProtocolViolation("a scoped key is not an oct JWK")
        k, kid = jwk.get("k"), jwk.get("kid")
        if not isinstance(k, str) or not isinstance(kid, str):
            raise ProtocolViolation("a scoped key lacks k or kid")
        try:
            raw = b64url_decode(k)
            parse_key_id(kid)
        except UsageError:
            raise ProtocolViolation("a scoped key has a malformed k or kid") from None
        keys[scope] = ScopedKey(scope, raw, kid)
    return keys


class KeysJwk:
    """The ephemeral P-256 key pair of one OAuth code flow (``keys_jwk`` / ``keys_jwe``).

    ``KeysJwk.generate()`` makes a fresh pair; ``KeysJwk.from_private(jwk)`` restores one
    (the flow may span two processes: the URL is printed, the redirect pasted later).
    """

    def __init__(self, key: ECKey) -> None:
        if key.curve_name != "P-256" or not key.is_private:
            raise UsageError("keys_jwk needs a private P-256 key")
        self._key = key

    def __repr__(self) -> str:
        return "KeysJwk(P-256)"

    @classmethod
    def generate(cls) -> KeysJwk:
        return cls(ECKey.generate_key("P-256", private=True))

    @classmethod
    def from_private(cls, jwk: Mapping[str, Any]) -> KeysJwk:
        try:
            key = ECKey.import_key(dict(jwk))
        except (JoseError, ValueError, TypeError):
            raise UsageError("not a P-256 private JWK") from None
        return cls(key)

    def private_jwk(self) -> dict[str, Any]:
        """The private key as a JWK, to persist between the two halves of a flow. Secret."""
        return dict(self._key.as_dict(private=True))

    @property
    def public(self) -> str:
        """``keys_jwk``: base64url of the public JWK's JSON (sorted keys, no spaces)."""
        pub = self._key.as_dict(private=False)
        doc = {"crv": pub["crv"], "kty": pub["kty"], "x": pub["x"], "y": pub["y"]}
        return b64url(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())

    def decrypt(self, keys_jwe: str) -> dict[str, ScopedKey]:
        """The scoped keys inside ``keys_jwe``, by scope.

        Raises:
            TrustError: it does not decrypt under this key (or is not a compact JWE).
            ProtocolViolation: it decrypts to something other than a map of oct JWKs.
        """
        if not isinstance(keys_jwe, str) or keys_jwe.count(".") != 4:
            raise TrustError("keys_jwe is not a compact JWE")
        try:
            result = jwe.decrypt_compact(keys_jwe, self._key, algorithms=_JWE_ALGORITHMS)
        except (JoseError, ValueError, TypeError, KeyError):
            raise TrustError("keys_jwe did not decrypt under this flow's key") from None
        if result.plaintext is None:
            raise TrustError("keys_jwe has no plaintext")
        return _scoped_keys_from(result.plaintext)


def encrypt_scoped_keys(keys: Mapping[str, ScopedKey], keys_jwk: str) -> str:
    """Encrypt scoped keys to a client's ``keys_jwk`` (what FxA web content does).

    Raises:
        UsageError: ``keys_jwk`` is not a base64url P-256 public JWK.
    """
    try:
        jwk = json.loads(b64url_decode(keys_jwk))
        public = ECKey.import_key(jwk)
    except (UsageError, ValueError, TypeError, JoseError):
        raise UsageError("keys_jwk is not a base64url P-256 public JWK") from None
    if public.curve_name != "P-256":
        raise UsageError("keys_jwk must be a P-256 key")
    plaintext = json.dumps({scope: key.to_jwk() for scope, key in keys.items()})
    header = {"alg": "ECDH-ES", "enc": "A256GCM", "kid": public.thumbprint()}
    return jwe.encrypt_compact(header, plaintext, public, algorithms=_JWE_ALGORITHMS)
