"""Firefox Accounts "onepw" crypto: password stretching, token credentials, the key bundle.

Contract (protocol facts: mozilla/ecosystem-platform ``docs/explanation/onepw-protocol.md``;
``docs/accounts.md`` of this repository names the finer sources):

1. Pure functions over bytes and str: no I/O, no clock; randomness only through an ``rng``
   argument. Every known-answer vector of the onepw documents is a unit test.
2. HKDF is HKDF-SHA256 with an empty salt and the info ``identity.mozilla.com/picl/v1/<name>``.
3. Client side: :func:`stretch_v1` (PBKDF2-SHA256, 1000 rounds, salted with the email) and
   :func:`stretch_v2` (650 000 rounds, salted with the account's ``clientSalt``) give the
   stretched password; :class:`PasswordKeys` holds the two values derived from it (``authPW``,
   sent to the server, and ``unwrapBKey``, kept until kB is known). :func:`token_credentials`
   derives a token's id, Hawk key and bundle key; :func:`bearer_header` is the 2026 wire form
   ``Bearer <prefix>_<token id hex>``. :func:`unbundle_keys` verifies (constant time) and
   unwraps a ``GET /account/keys`` bundle; :func:`unwrap_kb` gives kB.
4. Server side (the embedded stand-in and tests): :func:`server_verifier` (scrypt, then
   verifyHash and wrapwrapKey), :func:`bundle_keys`.
5. Key material never appears in a ``repr`` or an error message; a bundle whose MAC does not
   verify raises :class:`~beacon.TrustError`; bad arguments raise :class:`~beacon.UsageError`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from beacon._errors import TrustError, UsageError

__all__ = [
    "NAMESPACE",
    "TOKEN_KINDS",
    "V1_ITERATIONS",
    "V2_ITERATIONS",
    "PasswordKeys",
    "ServerVerifier",
    "TokenCredentials",
    "bearer_header",
    "bundle_keys",
    "hkdf",
    "make_client_salt",
    "server_verifier",
    "stretch_v1",
    "stretch_v2",
    "token_credentials",
    "unbundle_keys",
    "unwrap_kb",
    "wrap_kb",
    "xor",
]

Rng = Callable[[int], bytes]

NAMESPACE = "identity.mozilla.com/picl/v1/"
V1_ITERATIONS = 1000
V2_ITERATIONS = 650_000
_V1_SALT = NAMESPACE + "quickStretch:"
_V2_SALT = NAMESPACE + "quickStretchV2:"
_CLIENT_SALT = re.compile(r"\A" + re.escape(_V2_SALT) + r"[0-9a-f]{32}\Z")

#: Token kind (its HKDF name) → the prefix of its Bearer form (fxa ADR-0050).
TOKEN_KINDS: dict[str, str] = {
    "sessionToken": "fxs",
    "keyFetchToken": "fxk",
    "accountResetToken": "fxar",
    "passwordForgotToken": "fxpf",
    "passwordChangeToken": "fxpc",
}

#: scrypt cost of the real auth server (onepw "Creating The Account").
SCRYPT_N = 64 * 1024


def hkdf(ikm: bytes, name: str, length: int) -> bytes:
    """HKDF-SHA256(ikm, salt = empty, info = NAMESPACE + name, length)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=(NAMESPACE + name).encode()
    ).derive(ikm)


def xor(a: bytes, b: bytes) -> bytes:
    """Bytewise XOR of two strings of equal length."""
    if len(a) != len(b):
        raise UsageError("xor needs two values of the same length")
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _pbkdf2(password: str, salt: str, iterations: int) -> bytes:
    if not isinstance(password, str) or not password:
        raise UsageError("a password is required")
    return PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt.encode("utf-8"), iterations=iterations
    ).derive(password.encode("utf-8"))


def stretch_v1(password: str, email: str) -> bytes:
    """quickStretchedPW v1: PBKDF2-SHA256(password, quickStretch:<email>, 1000, 32).

    ``email`` is used byte for byte: it must be the email the server salts with (errno 120
    returns it when the typed one differs).
    """
    if not isinstance(email, str) or not email:
        raise UsageError("an email is required")
    return _pbkdf2(password, _V1_SALT + email, V1_ITERATIONS)


def stretch_v2(password: str, client_salt: str) -> bytes:
    """quickStretchedPW v2: PBKDF2-SHA256(password, clientSalt, 650 000, 32).

    ``client_salt`` is the whole prefixed string (``…/quickStretchV2:<32 hex>``), as the server
    stores and sends it.
    """
    if not isinstance(client_salt, str) or not _CLIENT_SALT.match(client_salt):
        raise UsageError("a v2 clientSalt is 'identity.mozilla.com/picl/v1/quickStretchV2:<hex>'")
    return _pbkdf2(password, client_salt, V2_ITERATIONS)


def make_client_salt(rng: Rng = os.urandom) -> str:
    """A fresh v2 clientSalt: the prefix and 16 random bytes as 32 hex characters."""
    return _V2_SALT + rng(16).hex()


@dataclass(frozen=True)
class PasswordKeys:
    """What a stretched password yields: ``auth_pw`` (sent, hex) and ``unwrap_b_key`` (kept).

    ``version`` is 1 or 2. The repr shows only the version.
    """

    version: int
    auth_pw: bytes = field(repr=False)
    unwrap_b_key: bytes = field(repr=False)

    @classmethod
    def from_stretched(cls, stretched: bytes, *, version: int) -> PasswordKeys:
        """authPW = HKDF(stretched, "authPW"); unwrapBKey = HKDF(stretched, "unwrapBkey")."""
        if len(stretched) != 32:
            raise UsageError("a stretched password is 32 bytes")
        return cls(version, hkdf(stretched, "authPW", 32), hkdf(stretched, "unwrapBkey", 32))

    @classmethod
    def v1(cls, password: str, email: str) -> PasswordKeys:
        return cls.from_stretched(stretch_v1(password, email), version=1)

    @classmethod
    def v2(cls, password: str, client_salt: str) -> PasswordKeys:
        return cls.from_stretched(stretch_v2(password, client_salt), version=2)

    @property
    def auth_pw_hex(self) -> str:
        return self.auth_pw.hex()


@dataclass(frozen=True)
class TokenCredentials:
    """HKDF(token, kind, 96) split in three: the id, the Hawk key, the bundle key.

    ``token_id`` (hex) is the Hawk ``id`` and the body of the Bearer form; ``hawk_key`` is the
    raw Hawk MAC key; ``bundle_key`` is the keyRequestKey of a keyFetchToken. Only ``kind``
    shows in the repr.
    """

    kind: str
    token_id: str = field(repr=False)
    hawk_key: bytes = field(repr=False)
    bundle_key: bytes = field(repr=False)

    @property
    def bearer(self) -> str:
        """The ``Authorization`` value of the 2026 wire form: ``Bearer <prefix>_<id hex>``."""
        return f"Bearer {TOKEN_KINDS[self.kind]}_{self.token_id}"


def _token_bytes(token: str | bytes) -> bytes:
    if isinstance(token, str):
        if not re.fullmatch(r"[0-9a-fA-F]{64}", token):
            raise UsageError("an FxA token is 64 hex characters")
        return bytes.fromhex(token)
    if len(token) != 32:
        raise UsageError("an FxA token is 32 bytes")
    return token


def token_credentials(token: str | bytes, kind: str) -> TokenCredentials:
    """Derive a token's id, Hawk key and bundle key (onepw "HAWK Notes")."""
    if kind not in TOKEN_KINDS:
        raise UsageError(f"unknown FxA token kind {kind!r}")
    out = hkdf(_token_bytes(token), kind, 96)
    return TokenCredentials(kind, out[:32].hex(), out[32:64], out[64:])


def bearer_header(token: str | bytes, kind: str) -> str:
    """``Bearer <prefix>_<token id>`` for ``token`` of ``kind`` (fxa ADR-0050)."""
    return token_credentials(token, kind).bearer


def _bundle_keys(key_request_key: bytes) -> tuple[bytes, bytes]:
    out = hkdf(key_request_key, "account/keys", 96)
    return out[:32], out[32:]


def unbundle_keys(key_request_key: bytes, bundle: bytes) -> tuple[bytes, bytes]:
    """Verify and unwrap a ``GET /account/keys`` bundle: (kA, wrapKB).

    Raises:
        TrustError: the bundle is not 96 bytes or its MAC does not verify (checked in constant
            time before anything is unwrapped).
    """
    if len(bundle) != 96:
        raise TrustError("the account keys bundle has the wrong length")
    hmac_key, xor_key = _bundle_keys(key_request_key)
    ciphertext, mac = bundle[:64], bundle[64:]
    expected = hmac.new(hmac_key, ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise TrustError("the account keys bundle failed verification")
    plain = xor(ciphertext, xor_key)
    return plain[:32], plain[32:]


def bundle_keys(key_request_key: bytes, ka: bytes, wrap_kb: bytes) -> bytes:
    """The server's side of :func:`unbundle_keys`: ciphertext(kA ‖ wrapKB) ‖ MAC."""
    if len(ka) != 32 or len(wrap_kb) != 32:
        raise UsageError("kA and wrapKB are 32 bytes each")
    hmac_key, xor_key = _bundle_keys(key_request_key)
    ciphertext = xor(ka + wrap_kb, xor_key)
    return ciphertext + hmac.new(hmac_key, ciphertext, hashlib.sha256).digest()


def unwrap_kb(wrap_kb: bytes, unwrap_b_key: bytes) -> bytes:
    """kB = wrapKB ⊕ unwrapBKey."""
    if len(wrap_kb) != 32 or len(unwrap_b_key) != 32:
        raise UsageError("wrapKB and unwrapBKey are 32 bytes each")
    return xor(wrap_kb, unwrap_b_key)


def wrap_kb(kb: bytes, unwrap_b_key: bytes) -> bytes:
    """wrapKb = kB ⊕ unwrapBKey, as a client sends it when it chooses kB (account create)."""
    return unwrap_kb(kb, unwrap_b_key)


@dataclass(frozen=True)
class ServerVerifier:
    """The auth server's values derived from authPW: verifyHash (stored) and wrapwrapKey."""

    verify_hash: bytes = field(repr=False)
    wrapwrap_key: bytes = field(repr=False)


def server_verifier(auth_pw: bytes, auth_salt: bytes, *, n: int = SCRYPT_N) -> ServerVerifier:
    """bigStretchedPW = scrypt(authPW, authSalt, N, r=8, p=1, 32); then two HKDFs.

    The real server uses N = 65 536; the embedded stand-in may pass a smaller ``n`` to keep
    tests fast (the values then differ from a real server's, the protocol does not).
    """
    big = hashlib.scrypt(
        auth_pw, salt=auth_salt, n=n, r=8, p=1, maxmem=256 * n * 8 + 2**20, dklen=32
    )
    return ServerVerifier(hkdf(big, "verifyHash", 32), hkdf(big, "wrapwrapKey", 32))
