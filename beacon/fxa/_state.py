"""What one signed-in account keeps between runs, and its statuses (the chart's states).

Contract:

* :class:`AccountState` is the whole persisted account: the status in firefox-ios's
  vocabulary (``separated``, ``engaged_before_verified``, ``engaged_after_verified``,
  ``cohabiting``, ``married``, ``doghouse``), the server and client it belongs to, and the
  credentials of that status. Secret fields are excluded from the repr; the credential
  stores (``_store``) keep the JSON only in a keyring or encrypted.
* What each status holds (firefox-ios ``FxAState.swift``, mapped to OAuth):
  ``engaged_*`` a session token, the key-fetch token and unwrapBKey; ``cohabiting`` the
  session token and kB; ``married`` also kSync, kid (keys_changed_at) and the refresh and
  access tokens; the OAuth code route marries without a session or kB. ``doghouse`` keeps
  only who the account was and why it must sign in again.
* A pending OAuth code flow (state, PKCE verifier, the ephemeral private key) is kept too,
  so the URL can be printed in one run and the redirect pasted in the next.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from beacon._errors import ProtocolViolation
from beacon._models import parse_model
from beacon.fxa._device_state import DeviceState

__all__ = ["STATUSES", "AccountState", "PendingAuthorization", "Status"]

Status = Literal[
    "separated",
    "engaged_before_verified",
    "engaged_after_verified",
    "cohabiting",
    "married",
    "doghouse",
]
STATUSES: tuple[str, ...] = (
    "separated",
    "engaged_before_verified",
    "engaged_after_verified",
    "cohabiting",
    "married",
    "doghouse",
)
STATE_VERSION = 1


class PendingAuthorization(BaseModel):
    """An OAuth code flow waiting for its redirect."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: str = Field(repr=False)
    code_verifier: str = Field(repr=False)
    private_jwk: dict[str, str] = Field(repr=False)
    url: str
    started_at: float


class AccountState(BaseModel):
    """The persisted account (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    version: int = STATE_VERSION
    status: Status = "separated"
    auth_server_url: str
    client_id: str
    scheme: Literal["bearer", "hawk", "auto"] = "auto"
    email: str | None = None
    uid: str | None = None
    verified: bool = False
    verification_method: str | None = None
    auth_at: int | None = None
    session_token: str | None = Field(default=None, repr=False)
    key_fetch_token: str | None = Field(default=None, repr=False)
    key_fetch_version: int | None = None
    unwrap_b_key: str | None = Field(default=None, repr=False)
    kb: str | None = Field(default=None, repr=False)
    ksync: str | None = Field(default=None, repr=False)
    kid: str | None = None
    keys_changed_at: int | None = None
    refresh_token: str | None = Field(default=None, repr=False)
    access_token: str | None = Field(default=None, repr=False)
    access_token_expires_at: float | None = None
    backoff_until: float | None = None
    doghouse_reason: str | None = None
    pending: PendingAuthorization | None = None
    device: DeviceState | None = None  # our FxA device and its send-tab keys (_devices)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: bytes | str) -> AccountState:
        """Read a saved state; :class:`~beacon.ProtocolViolation` if it is not one."""
        try:
            version = json.loads(data).get("version")
        except (ValueError, AttributeError):
            raise ProtocolViolation("the saved account is not JSON") from None
        if version != STATE_VERSION:
            raise ProtocolViolation(f"the saved account has unknown version {version!r}")
        return parse_model(cls, data)

    def drop_secrets(self) -> None:
        """Forget every token and key (doghouse, sign-out)."""
        for name in _SECRETS:
            setattr(self, name, None)
        self.pending = None
        self.device = None
        self.access_token_expires_at = None
        self.key_fetch_version = None

    def public_view(self) -> dict[str, Any]:
        """The non-secret fields, for ``beacon status``."""
        return {
            "status": self.status,
            "email": self.email,
            "uid": self.uid,
            "auth_server_url": self.auth_server_url,
            "client_id": self.client_id,
            "wire_form": self.scheme,
            "verified": self.verified,
            "verification_method": self.verification_method,
            "kid": self.kid,
            "keys_changed_at": self.keys_changed_at,
            "access_token_expires_at": self.access_token_expires_at,
            "backoff_until": self.backoff_until,
            "doghouse_reason": self.doghouse_reason,
            "has_session": self.session_token is not None,
            "has_refresh_token": self.refresh_token is not None,
            "has_kb": self.kb is not None,
            "oauth_flow_pending": self.pending is not None,
            # our FxA device: its id and name, never its send-tab keys or received URLs
            "device_id": None if self.device is None else self.device.id,
            "device_name": None if self.device is None else self.device.name,
            "send_tab_keys_published": self.device is not None
            and self.device.published_kid is not None,
            "tabs_received": 0 if self.device is None else len(self.device.received),
        }


_SECRETS = (
    "session_token",
    "key_fetch_token",
    "unwrap_b_key",
    "kb",
    "ksync",
    "refresh_token",
    "access_token",
)
