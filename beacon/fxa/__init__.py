"""Signing in to a Firefox account: onepw password sign-in, the OAuth code route, credentials.

The door of ``beacon.fxa``: :class:`FirefoxAccount` runs ``statecharts/account.yaml``
(firefox-ios's separated → engaged → cohabiting → married, and the doghouse) over
:class:`FxAClient` (one method per auth-server request, typed answers and errors), keeping
the account in a :class:`CredentialStore` (the OS keyring, or :class:`EncryptedFileStore`).
:func:`sync_credentials` hands ``beacon sync`` its access token, kB or kSync + kid and
keys_changed_at. :class:`FxADevices` registers this device and sends and receives tabs
(device commands). The crypto lives below, in ``beacon._onepw`` and ``beacon._scoped_keys``.
"""

from __future__ import annotations

from beacon.fxa._account import (
    AccountResult,
    AccountTokenSource,
    FirefoxAccount,
    SyncCredentials,
    sync_client,
    sync_credentials,
)
from beacon.fxa._client import DEFAULT_AUTH_SERVER, DEFAULT_CLIENT_ID, FxAClient
from beacon.fxa._device_state import DeviceState, ReceivedTab
from beacon.fxa._devices import (
    Device,
    DeviceCommandUnavailable,
    FxADevices,
    TabPoll,
    UnknownDevice,
)
from beacon.fxa._errors import (
    ChallengeRequired,
    FxAAuthenticationError,
    FxABackoffError,
    FxAError,
    IncorrectEmailCase,
    IncorrectPassword,
    InvalidCode,
    InvalidFxAToken,
    RequestBlocked,
    SignInRequired,
    UnknownAccount,
    UnverifiedSession,
)
from beacon.fxa._loopback import LoopbackRedirect
from beacon.fxa._service import AccountService
from beacon.fxa._state import AccountState
from beacon.fxa._store import (
    CredentialStore,
    EncryptedFileStore,
    KeyringStore,
    MemoryStore,
    default_store,
    keyring_usable,
)

#: The service classes the account chart binds (``beacon chart check`` reads their marks).
ACCOUNT_CHART_SERVICES: dict[str, tuple[type, ...]] = {"account": (AccountService,)}

__all__ = [
    "ACCOUNT_CHART_SERVICES",
    "DEFAULT_AUTH_SERVER",
    "DEFAULT_CLIENT_ID",
    "AccountResult",
    "AccountService",
    "AccountState",
    "AccountTokenSource",
    "ChallengeRequired",
    "CredentialStore",
    "Device",
    "DeviceCommandUnavailable",
    "DeviceState",
    "EncryptedFileStore",
    "FirefoxAccount",
    "FxAAuthenticationError",
    "FxABackoffError",
    "FxAClient",
    "FxADevices",
    "FxAError",
    "IncorrectEmailCase",
    "IncorrectPassword",
    "InvalidCode",
    "InvalidFxAToken",
    "KeyringStore",
    "LoopbackRedirect",
    "MemoryStore",
    "ReceivedTab",
    "RequestBlocked",
    "SignInRequired",
    "SyncCredentials",
    "TabPoll",
    "UnknownAccount",
    "UnknownDevice",
    "UnverifiedSession",
    "default_store",
    "keyring_usable",
    "sync_client",
    "sync_credentials",
]
