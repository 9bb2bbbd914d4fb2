"""Plain pieces of the FxA stand-in: its schema, its error, the throttle, TOTP, rows.

Contract: no I/O beyond what callers pass in. :data:`SCHEMA` is created idempotently by
``_fxa_core``; :class:`FxAHTTPError` is rendered by ``_fxa_http`` as FxA's JSON error body;
:func:`totp_code` is RFC 6238 (HMAC-SHA1, 30 s, 6 digits); :func:`valid_v2` checks the v2
credential fields as fxa's ``parseSalt`` does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEMA",
    "FxAAccount",
    "FxAHTTPError",
    "Throttle",
    "TokenRow",
    "invalid_token",
    "is_hex64",
    "totp_code",
    "valid_v2",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS fxa_accounts (
    uid TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    normalized_email TEXT NOT NULL UNIQUE,
    email_verified INTEGER NOT NULL,
    email_code TEXT NOT NULL,
    auth_salt BLOB NOT NULL,
    verify_hash BLOB NOT NULL,
    wrapwrap_kb BLOB NOT NULL,
    verify_hash_v2 BLOB,
    wrapwrap_kb_v2 BLOB,
    client_salt TEXT,
    ka BLOB NOT NULL,
    kb_sealed BLOB,
    totp_secret BLOB,
    unblock_code TEXT,
    block_next_login INTEGER NOT NULL DEFAULT 0,
    unverified_next_login INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fxa_tokens (
    token_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    uid TEXT NOT NULL,
    hawk_key BLOB NOT NULL,
    bundle_key BLOB,
    session_id TEXT,
    verified INTEGER NOT NULL,
    verification_method TEXT,
    code TEXT,
    ka BLOB,
    wrap_kb BLOB,
    auth_at INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fxa_tokens_by_uid ON fxa_tokens (uid);
CREATE TABLE IF NOT EXISTS fxa_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fxa_oauth_codes (
    code_hash TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    access_type TEXT NOT NULL,
    code_challenge TEXT,
    keys_jwe TEXT,
    redirect_uri TEXT,
    auth_at INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""


@dataclass
class _Rule:
    remaining: int
    path_contains: str | None
    retry_after: int


class Throttle:
    """Pending 429 answers for FxA requests, consumed in arrival order (thread-safe)."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def add(self, count: int, *, retry_after: int, path_contains: str | None) -> None:
        with self._lock:
            self._rules.append(_Rule(count, path_contains, retry_after))

    def take(self, path: str) -> int | None:
        with self._lock:
            for rule in self._rules:
                if rule.path_contains is None or rule.path_contains in path:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule.retry_after
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class FxAHTTPError(Exception):
    """An FxA refusal: HTTP ``status``, ``errno``, a message and extra body fields."""

    def __init__(
        self,
        status: int,
        errno: int,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} errno {errno}")
        self.status = status
        self.errno = errno
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def invalid_token() -> FxAHTTPError:
    return FxAHTTPError(401, 110, "The authentication token could not be found")


def totp_code(secret: bytes, when: float, *, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1) at time ``when``."""
    counter = struct.pack(">Q", int(when // step))
    digest = hmac.new(secret, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


@dataclass(frozen=True)
class FxAAccount:
    """A stand-in account as the Python side sees it; the repr hides kB."""

    uid: str
    email: str
    kb: bytes | None = field(repr=False, default=None)


@dataclass(frozen=True)
class TokenRow:
    token_id: str
    kind: str
    uid: str
    hawk_key: bytes = field(repr=False)
    session_id: str | None
    verified: bool
    verification_method: str | None
    auth_at: int


_CLIENT_SALT = re.compile(r"\Aidentity\.mozilla\.com/picl/v1/quickStretchV2:[0-9a-f]{32}\Z")


def valid_v2(body: Mapping[str, Any]) -> bool:
    """authPWVersion2 and wrapKbVersion2 are 64 hex; clientSalt has the v2 prefix (fxa
    ``parseSalt``)."""
    salt = body.get("clientSalt")
    return (
        is_hex64(body.get("authPWVersion2"))
        and is_hex64(body.get("wrapKbVersion2"))
        and isinstance(salt, str)
        and _CLIENT_SALT.match(salt) is not None
    )


def is_hex64(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )
