"""Wire models (pydantic v2) of the FxA answers a client reads.

Contract: every successful FxA response is read through :func:`beacon._models.parse_model`
into one of these (a bad answer is a :class:`~beacon.ProtocolViolation` that names fields,
never values: logins and token grants carry secrets). Unknown fields are ignored (FxA adds
fields freely); the fields beacon acts on are typed strictly. Field names are the wire's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "CredentialsStatus",
    "EmailStatus",
    "KeysResponse",
    "LoginResponse",
    "OAuthTokenResponse",
    "ScopedKeyData",
    "SessionStatus",
    "TotpVerifyResponse",
]

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


class CredentialsStatus(_Wire):
    """``POST /account/credentials/status``: which stretching the account uses."""

    currentVersion: Literal["v1", "v2"]
    clientSalt: str | None = None
    upgradeNeeded: bool = False


class LoginResponse(_Wire):
    """``POST /account/login?keys=true``. Token fields are secrets (hidden from reprs)."""

    uid: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    sessionToken: Hex64 = Field(repr=False)
    keyFetchToken: Hex64 | None = Field(default=None, repr=False)
    keyFetchTokenVersion2: Hex64 | None = Field(default=None, repr=False)
    verificationMethod: str | None = None
    verificationReason: str | None = None
    verified: bool
    sessionVerified: bool | None = None
    emailVerified: bool | None = None
    authAt: int


class KeysResponse(_Wire):
    """``GET /account/keys``: the 96-byte bundle as 192 hex characters."""

    bundle: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{192}$")] = Field(repr=False)


class SessionStatus(_Wire):
    """``GET /session/status``."""

    uid: str
    state: str | None = None


class EmailStatus(_Wire):
    """``GET /recovery_email/status``."""

    email: str | None = None
    verified: bool
    sessionVerified: bool | None = None
    emailVerified: bool | None = None


class TotpVerifyResponse(_Wire):
    """``POST /session/verify/totp``."""

    success: bool


class ScopedKeyData(_Wire):
    """One scope of ``POST /account/scoped-key-data``; the timestamp is in milliseconds."""

    identifier: str
    keyRotationSecret: str = Field(repr=False)
    keyRotationTimestamp: Annotated[int, Field(ge=0)]


class OAuthTokenResponse(_Wire):
    """``POST /oauth/token`` (every grant). Tokens are secrets."""

    access_token: Annotated[str, StringConstraints(min_length=1)] = Field(repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    keys_jwe: str | None = Field(default=None, repr=False)
    session_token: str | None = Field(default=None, repr=False)
    scope: str
    token_type: str = "bearer"
    expires_in: Annotated[int, Field(gt=0)]
    auth_at: int | None = None
