"""Token-server tokens in Mozilla's tokenlib format (docs/protocol.md §1.7).

A token ``id`` is URL-safe base64 (with padding) of ``JSON bytes ‖ HMAC-SHA256(signing key,
JSON bytes)``; the matching Hawk ``key`` is derived from the master secret, the token's salt
and the id itself. The token server mints with :func:`mint_token`; a storage node checks with
:func:`parse_token` and recomputes the key with :func:`derive_secret`.

Contract: pure functions; the clock enters as ``now`` / ``expires`` and randomness as ``rng``.
Failures raise :class:`TokenInvalid` (or :class:`TokenExpired`), which the embedded server
maps to 401; messages never carry the secret, the token or the derived key.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from beacon._errors import UsageError

__all__ = ["TokenExpired", "TokenInvalid", "derive_secret", "mint_token", "parse_token"]

_SIGNING_INFO = b"services.mozilla.com/tokenlib/v1/signing"
_DERIVE_INFO = b"services.mozilla.com/tokenlib/v1/derive/"
_SIG_SIZE = 32
_B64URL_PADDED = re.compile(r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?")
_SALT = re.compile(r"[ -~]{1,64}")
_MAX_TOKEN = 8192


class TokenInvalid(Exception):
    """A token is malformed or its signature does not verify under the master secret."""


class TokenExpired(TokenInvalid):
    """A token verified but its ``expires`` has passed; ``data`` holds its verified payload.

    The storage node still accepts such tokens for ``GET info/collections`` (§2.4 item 3).
    """

    def __init__(self, message: str, *, data: dict[str, Any]) -> None:
        super().__init__(message)
        self.data = data


def _hkdf(ikm: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    # salt=None means HashLen zero bytes (RFC 5869), as tokenlib does for the signing key.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _secret_bytes(secret: str) -> bytes:
    if not isinstance(secret, str) or not secret:
        raise UsageError("the master secret must be a non-empty string")
    return secret.encode("utf-8")


def _signing_key(secret: str) -> bytes:
    return _hkdf(_secret_bytes(secret), salt=None, info=_SIGNING_INFO)


def _dumps_or_none(plaintext: Mapping[str, Any]) -> bytes | None:
    # tokenlib's rendering: json.dumps with default separators (docs/protocol.md §5.6).
    try:
        return json.dumps(plaintext, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        return None


def _loads_or_none(body: bytes) -> Any:
    # Failures return instead of raising, so the decoded token never rides on __context__.
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None


def mint_token(
    data: Mapping[str, Any],
    *,
    secret: str,
    expires: float,
    salt: str | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> tuple[str, str]:
    """Sign ``data`` plus ``expires`` and ``salt`` into a token; return ``(id, hawk key)``.

    ``data`` should carry at least ``uid`` and ``node`` (§1.7). ``salt`` defaults to three
    random bytes as six hex characters, as tokenlib does.

    Raises:
        UsageError: ``data`` is not a JSON-serialisable mapping, names ``expires`` or ``salt``
            itself, ``expires`` is not a finite number, or the secret is empty.
    """
    if not isinstance(data, Mapping):
        raise UsageError("token data must be a mapping")
    if "expires" in data or "salt" in data:
        raise UsageError("pass expires and salt as arguments, not inside the token data")
    if (
        isinstance(expires, bool)
        or not isinstance(expires, int | float)
        or not math.isfinite(expires)
    ):
        raise UsageError("expires must be a finite number of POSIX seconds")
    if salt is None:
        salt = rng(3).hex()
    if not _SALT.fullmatch(salt):
        raise UsageError("the token salt must be 1-64 printable ASCII characters")
    plaintext = {**data, "expires": expires, "salt": salt}
    body = _dumps_or_none(plaintext)
    if body is None:
        raise UsageError("token data must be JSON-serialisable")
    signature = hmac.new(_signing_key(secret), body, hashlib.sha256).digest()
    token = base64.urlsafe_b64encode(body + signature).decode("ascii")
    return token, derive_secret(token, secret=secret)


def _verified_payload(token: str, secret: str) -> dict[str, Any]:
    """Decode the id strictly, check its signature in constant time, parse its JSON object."""
    signing_key = _signing_key(secret)  # first, so an empty secret is a UsageError
    if not isinstance(token, str) or len(token) > _MAX_TOKEN or not _B64URL_PADDED.fullmatch(token):
        raise TokenInvalid("token is not URL-safe base64")
    raw = base64.urlsafe_b64decode(token.encode("ascii"))  # the pattern admits only valid input
    if len(raw) <= _SIG_SIZE:
        raise TokenInvalid("token is too short")
    body, signature = raw[:-_SIG_SIZE], raw[-_SIG_SIZE:]
    expected = hmac.new(signing_key, body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise TokenInvalid("token signature does not verify")
    payload = _loads_or_none(body)
    if not isinstance(payload, dict):
        raise TokenInvalid("token payload is not a JSON object")
    salt, expires = payload.get("salt"), payload.get("expires")
    if not isinstance(salt, str) or not _SALT.fullmatch(salt):
        raise TokenInvalid("token payload has no usable salt")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise TokenInvalid("token payload has no numeric expires")
    return payload


def parse_token(token: str, *, secret: str, now: float) -> dict[str, Any]:
    """Verify a token id and return its payload (``uid``, ``node``, ``expires``, ``salt``, ...).

    Raises:
        TokenInvalid: bad base64, too short, bad signature, or a payload that is not a JSON
            object with a string ``salt`` and a numeric ``expires``.
        TokenExpired: it verified, but ``expires <= now``.
    """
    payload = _verified_payload(token, secret)
    if payload["expires"] <= now:
        raise TokenExpired("token has expired", data=payload)
    return payload


def derive_secret(token: str, *, secret: str) -> str:
    """The Hawk key for a token: URL-safe base64 (padded) of HKDF(secret, salt, id) (§1.7).

    Raises:
        TokenInvalid: the token does not verify (see :func:`parse_token`); expiry is not checked.
    """
    salt = _verified_payload(token, secret)["salt"]
    derived = _hkdf(
        _secret_bytes(secret), salt=salt.encode("ascii"), info=_DERIVE_INFO + token.encode("ascii")
    )
    return base64.urlsafe_b64encode(derived).decode("ascii")
