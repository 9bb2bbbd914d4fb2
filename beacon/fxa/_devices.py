"""Our Firefox Accounts device, the account's device list, and send tab.

Contract (fxa ``packages/fxa-auth-server/lib/routes/devices-and-sessions.js``;
application-services ``fxa-client/src/internal/{http_client,commands/*}.rs``; the key scheme
in :mod:`._send_tab_crypto`; ``docs/accounts.md`` §12):

* :class:`FxADevices` works on a married account in a :class:`~._store.CredentialStore`.
  Requests carry the OAuth refresh token as ``Authorization: Bearer <token>`` (what
  application-services sends; the server accepts refresh tokens with the oldsync scope), or
  the session token when there is no refresh token.
* Our device is registered on first use (``POST /v1/account/device`` with name, type and
  ``availableCommands`` holding our send-tab keys sealed under kSync), and again when the
  account keys changed or the server forgot it (errno 123). Its id, private keys, the
  command index and the last received tabs live in the account's state (``device``), so
  in the keyring or the encrypted file, never in plaintext.
* :meth:`FxADevices.send_tab` finds the target by id or name in ``GET /v1/account/devices``,
  opens its published keys with kSync, encrypts the tab (aes128gcm) and sends
  ``POST /v1/account/devices/invoke_command``.
* :meth:`FxADevices.poll_tabs` reads ``GET /v1/account/device/commands?index=N&limit=M`` from
  one past the last handled index, page by page, decrypts each open-uri command, and saves
  the new index after every page, so no command is handled twice. A command that cannot be
  read (tampered, sent to old keys, malformed) is skipped and reported in
  :attr:`TabPoll.failures`; the others are kept.
* Every server answer is validated: anything out of protocol is a
  :class:`~beacon.ProtocolViolation`, a refusal the error :func:`._errors.error_for` chooses
  (errno 123 :class:`UnknownDevice`, 157 :class:`DeviceCommandUnavailable`).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from beacon._errors import BeaconError, ProtocolViolation, UsageError
from beacon._scoped_keys import b64url
from beacon.client._transport import Response, Transport
from beacon.fxa._auth import FxATokenAuth, Scheme, check_secure
from beacon.fxa._client import normalize_auth_server_url
from beacon.fxa._device_state import KEEP_RECEIVED, DeviceState, ReceivedTab
from beacon.fxa._device_wire import Device, parse_device, parse_page, parse_tabs
from beacon.fxa._errors import FxAError, SignInRequired, error_for
from beacon.fxa._send_tab_crypto import (
    OPEN_URI,
    CommandKeys,
    decrypt_payload,
    encrypt_payload,
    open_published_keys,
    publish_keys,
)
from beacon.fxa._state import AccountState
from beacon.fxa._store import CredentialStore

__all__ = [
    "DEVICE_TYPES",
    "Device",
    "DeviceCommandUnavailable",
    "FxADevices",
    "TabPoll",
    "UnknownDevice",
]

#: Device types FxA knows (eco ``device-registration.md``).
DEVICE_TYPES = ("desktop", "mobile", "tablet", "vr", "tv")
UNKNOWN_DEVICE = 123
UNAVAILABLE_DEVICE_COMMAND = 157
_PAGE = 100  # the server's largest page
_MAX_PAGES = 1000  # a server that never says "last" cannot keep us polling


class UnknownDevice(FxAError):
    """errno 123: the server knows no device with that id on this account."""

    kind = "unknown_device"


class DeviceCommandUnavailable(FxAError):
    """errno 157: the target device does not offer that command."""

    kind = "device_command_unavailable"


@dataclass(frozen=True)
class TabPoll:
    """What one poll found: the new tabs, and the commands that could not be read."""

    tabs: tuple[ReceivedTab, ...] = ()
    failures: tuple[tuple[int, BeaconError], ...] = ()

    def check(self) -> None:
        """Raise the first failure (the tabs stay received and saved)."""
        if self.failures:
            index, error = self.failures[0]
            more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            raise type(error)(f"command {index}: {error}{more}") from error


def default_device_name() -> str:
    return f"beacon on {socket.gethostname() or 'this computer'}"


class FxADevices:
    """Our device and send tab for the married account in ``store`` (module docstring).

    Args:
        store: the account's credential store (``beacon login`` filled it).
        transport: an ``httpx.BaseTransport`` (tests, the embedded service); default network.
        name: our device's name (default ``beacon on <host name>``), type one of
            :data:`DEVICE_TYPES`.
        clock, rng: injected time and randomness.
    """

    def __init__(
        self,
        store: CredentialStore,
        *,
        transport: httpx.BaseTransport | None = None,
        name: str | None = None,
        device_type: str = "desktop",
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if device_type not in DEVICE_TYPES:
            raise UsageError(f"not a device type: {device_type!r} (one of {DEVICE_TYPES})")
        if name is not None and (not name.strip() or len(name) > 255):
            raise UsageError("a device name must be 1 to 255 characters")
        self._store = store
        self._http = Transport(transport=transport, clock=clock)
        self._name = name
        self._type = device_type
        self._clock = clock
        self._rng = rng

    def __repr__(self) -> str:
        return f"FxADevices(store={self._store!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FxADevices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _account(self) -> AccountState:
        state = self._store.load()
        if state is None or state.status != "married" or state.ksync is None or state.kid is None:
            raise SignInRequired(
                "devices need a signed-in account with Sync keys: run `beacon login`",
                reason="not_married",
            )
        if state.refresh_token is None and state.session_token is None:
            raise SignInRequired("the account holds no token: run `beacon login`", reason="tokens")
        return state

    def _request(
        self,
        state: AccountState,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        url = f"{normalize_auth_server_url(state.auth_server_url)}/v1/{path}"
        check_secure(url)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        auth: httpx.Auth | None = None
        if state.refresh_token is not None:
            headers["Authorization"] = f"Bearer {state.refresh_token}"
        elif state.session_token is not None:
            scheme: Scheme = "hawk" if state.scheme == "hawk" else "bearer"
            auth = FxATokenAuth(
                state.session_token, "sessionToken", scheme=scheme, clock=self._clock
            )
        content = None if body is None else json.dumps(dict(body)).encode("utf-8")
        response = self._http.request(
            method, url, params=query, headers=headers, content=content, auth=auth
        )
        if not response.ok:
            error = error_for(response, f"{method} /v1/{path}")
            if isinstance(error, FxAError) and error.errno == UNKNOWN_DEVICE:
                raise UnknownDevice(
                    str(error), errno=error.errno, status=error.status, url=error.url
                )
            if isinstance(error, FxAError) and error.errno == UNAVAILABLE_DEVICE_COMMAND:
                raise DeviceCommandUnavailable(
                    str(error), errno=error.errno, status=error.status, url=error.url
                )
            raise error
        return response

    # -- our device ----------------------------------------------------------------------------

    def register(self) -> DeviceState:
        """Register or update our device now (name, type, send-tab keys); return its state."""
        state = self._account()
        return self._register(state, force=True)

    def _ensured(self) -> tuple[AccountState, DeviceState]:
        state = self._account()
        device = self._register(state, force=False)
        return state, device

    def _register(self, state: AccountState, *, force: bool) -> DeviceState:
        device = state.device
        if device is None:
            keys = CommandKeys.generate(rng=self._rng)
            device = DeviceState(
                name=self._name or default_device_name(),
                type=self._type,
                private_key=b64url(keys.private_key),
                auth_secret=b64url(keys.auth_secret),
            )
        wanted_name = self._name or device.name
        current = (
            device.id is not None
            and device.published_kid == state.kid
            and device.name == wanted_name
            and device.type == self._type
        )
        if current and not force:
            return device
        ksync, kid = _sync_key(state)
        keys = CommandKeys.from_b64(device.private_key, device.auth_secret)
        published = publish_keys(keys.public(), ksync, kid, rng=self._rng)
        body: dict[str, Any] = {
            "name": wanted_name,
            "type": self._type,
            "availableCommands": {OPEN_URI: published},
        }
        if device.id is not None:
            body["id"] = device.id
        try:
            answer = self._request(state, "POST", "account/device", body).json()
        except UnknownDevice:
            body.pop("id")  # the server forgot us (session gone, device removed): a new record
            answer = self._request(state, "POST", "account/device", body).json()
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise ProtocolViolation("POST /v1/account/device: the answer has no device id")
        device = device.model_copy(
            update={
                "id": answer["id"],
                "name": wanted_name,
                "type": self._type,
                "published_kid": state.kid,
            }
        )
        state.device = device
        self._store.save(state)
        return device

    # -- the device list and send tab ----------------------------------------------------------

    def devices(self) -> list[Device]:
        """Every device of the account (ours first registered), current one marked."""
        state, _ = self._ensured()
        return self._list(state)

    def _list(self, state: AccountState) -> list[Device]:
        raw = self._request(state, "GET", "account/devices").json()
        if not isinstance(raw, list):
            raise ProtocolViolation("GET /v1/account/devices: not a JSON list")
        return [parse_device(item) for item in raw]

    def find(self, target: str, devices: list[Device] | None = None) -> Device:
        """The device whose id is ``target``, else the one named so (``UsageError`` if none
        or several)."""
        found = devices if devices is not None else self.devices()
        by_id = [d for d in found if d.id == target]
        if by_id:
            return by_id[0]
        named = [d for d in found if d.name == target] or [
            d for d in found if d.name.casefold() == target.casefold()
        ]
        if not named:
            raise UsageError(f"no device named {target!r}: `beacon devices` lists them")
        if len(named) > 1:
            ids = ", ".join(d.id for d in named)
            raise UsageError(f"several devices are named {target!r}; give an id ({ids})")
        return named[0]

    def send_tab(self, target: str, url: str, *, title: str = "") -> Device:
        """Send ``url`` (with ``title``) to the device ``target`` (id or name); return it.

        Raises:
            UsageError: no such device, or it cannot receive tabs.
            TrustError: its published keys do not verify under our account keys.
            UnknownDevice, DeviceCommandUnavailable: the server refused the target.
        """
        if not isinstance(url, str) or not url.strip():
            raise UsageError("a tab needs a URL")
        state, _ = self._ensured()
        device = self.find(target, self._list(state))
        if device.is_current:
            raise UsageError("that is this device: send the tab to another one")
        if not device.can_receive_tabs:
            raise UsageError(f"device {device.name!r} cannot receive tabs (no open-uri command)")
        keys = open_published_keys(device.available_commands[OPEN_URI], *_sync_key(state))
        payload = {
            "entries": [{"title": title, "url": url}],
            "flowID": secrets.token_hex(6),
            "streamID": secrets.token_hex(6),
        }
        encrypted = encrypt_payload(keys, payload, rng=self._rng)
        body = {"command": OPEN_URI, "target": device.id, "payload": {"encrypted": encrypted}}
        self._request(state, "POST", "account/devices/invoke_command", body)
        return device

    def poll_tabs(self) -> TabPoll:
        """Fetch and decrypt the tabs sent to us since the last poll (module docstring)."""
        state, device = self._ensured()
        keys = CommandKeys.from_b64(device.private_key, device.auth_secret)
        tabs: list[ReceivedTab] = []
        failures: list[tuple[int, BeaconError]] = []
        for _ in range(_MAX_PAGES):
            query = {"index": str(device.command_index + 1), "limit": str(_PAGE)}
            page = self._request(state, "GET", "account/device/commands", query=query).json()
            messages, last = parse_page(page)
            new = sorted((m for m in messages if m[0] > device.command_index), key=lambda m: m[0])
            for index, command, payload, sender in new:
                if command != OPEN_URI:
                    continue  # another command (close tabs...): not ours to run, skipped
                try:
                    tabs.extend(
                        parse_tabs(
                            index,
                            decrypt_payload(keys, payload.get("encrypted")),
                            sender,
                            self._clock(),
                        )
                    )
                except BeaconError as exc:
                    failures.append((index, exc))
            if new:
                device = device.model_copy(update={"command_index": new[-1][0]})
            if last or not new:
                break
        if tabs:
            tabs = self._name_senders(state, tabs)
        kept = [*device.received, *tabs][-KEEP_RECEIVED:]
        device = device.model_copy(update={"received": kept})
        if device != state.device:
            state.device = device
            self._store.save(state)
        return TabPoll(tuple(tabs), tuple(failures))

    def _name_senders(self, state: AccountState, tabs: list[ReceivedTab]) -> list[ReceivedTab]:
        try:
            names = {d.id: d.name for d in self._list(state)}
        except BeaconError:
            return tabs  # the tabs matter more than their senders' names
        return [t.model_copy(update={"sender_name": names.get(t.sender_id or "")}) for t in tabs]

    def received_tabs(self) -> list[ReceivedTab]:
        """The last received tabs kept in the account (oldest first), without a request."""
        state = self._store.load()
        return [] if state is None or state.device is None else list(state.device.received)


def _sync_key(state: AccountState) -> tuple[bytes, str]:
    if state.ksync is None or state.kid is None:  # pragma: no cover - _account checked
        raise SignInRequired("the account holds no Sync key: run `beacon login`", reason="keys")
    return bytes.fromhex(state.ksync), state.kid
