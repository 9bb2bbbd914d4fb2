"""What our FxA device keeps between runs: its id, send-tab keys, command index, tabs.

Contract: :class:`DeviceState` is one field of :class:`~._state.AccountState` (``device``),
so it lives where the account lives (the OS keyring or the encrypted file, never plaintext)
and goes with the account's secrets on sign-out. The private key and the auth secret are
excluded from the repr; received tabs (URLs are private too) are kept there as well, the
last :data:`KEEP_RECEIVED` of them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KEEP_RECEIVED", "DeviceState", "ReceivedTab"]

#: How many received tabs the account keeps for ``beacon tabs received --all``.
KEEP_RECEIVED = 100


class ReceivedTab(BaseModel):
    """One tab another device sent to ours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    url: str = Field(repr=False)
    title: str = Field(default="", repr=False)
    sender_id: str | None = None
    sender_name: str | None = None
    received_at: float
    flow_id: str = ""


class DeviceState(BaseModel):
    """Our device record and its send-tab keys (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str | None = None
    name: str
    type: str = "desktop"
    private_key: str = Field(repr=False)  # base64url P-256 scalar
    auth_secret: str = Field(repr=False)  # base64url, 16 bytes
    published_kid: str | None = None  # the kid our public keys were sealed under
    command_index: int = 0  # the highest command index handled
    received: list[ReceivedTab] = Field(default_factory=list, repr=False)
