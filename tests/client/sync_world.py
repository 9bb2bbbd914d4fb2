"""A test world for the sync tests: one embedded service, one account, devices on a fake clock.

Everything runs in-process (no sockets) and deterministically: the clock is a number the test
moves, randomness is a seeded generator per device, and an :class:`Interceptor` between the
client and the service lets a test act at an exact request (another device writing in
between, a crash, an injected status).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from beacon import RecordEngine, SyncClient
from beacon.server import Account, EmbeddedService, LoggedRequest

START = 1_800_000_000.0

Hook = Callable[[httpx.Request], httpx.Response | None]


class Interceptor(httpx.BaseTransport):
    """Passes requests to the service; ``before`` hooks may answer or act first."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.before: list[Hook] = []
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        for hook in list(self.before):
            answer = hook(request)
            if answer is not None:
                return answer
        return self.inner.handle_request(request)


@dataclass
class Clock:
    """The fake clock every party reads."""

    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Device:
    """One client device: its engines, its state directory and its interceptor."""

    client: SyncClient
    notes: RecordEngine
    wire: Interceptor
    path: Path


@dataclass
class World:
    """An embedded service, one account, its kB, and devices created on demand."""

    tmp: Path
    clock: Clock = field(default_factory=Clock)
    kb: bytes = bytes(range(32))

    shared: EmbeddedService | None = None
    """A service to reuse (a new account on it) instead of a new one; the caller closes it."""

    def __post_init__(self) -> None:
        self.svc = self.shared or EmbeddedService(clock=self.clock, rng=random.Random(7).randbytes)
        self.account: Account = self.svc.create_account()
        self.devices: list[Device] = []

    def device(
        self,
        name: str = "a",
        *,
        engines: Sequence[str] = ("notes",),
        access_token: str | Callable[[], str] | None = None,
        kb: bytes | None = None,
        keys_changed_at: int | None = None,
        previous_kb: bytes | None = None,
    ) -> Device:
        """A device (state under ``tmp/name``); same name → same state directory."""
        wire = Interceptor(self.svc.transport())
        notes = RecordEngine("notes", clock=self.clock)
        extra = [RecordEngine(e, clock=self.clock) for e in engines if e != "notes"]
        chosen = ([notes] if "notes" in engines else []) + extra
        path = self.tmp / name
        client = SyncClient(
            self.svc.token_server_url,
            access_token if access_token is not None else self.account.access_token,
            kb if kb is not None else self.kb,
            keys_changed_at if keys_changed_at is not None else self.account.keys_changed_at,
            path,
            engines=chosen,
            transport=wire,
            clock=self.clock,
            rng=random.Random(f"{name}-{len(self.devices)}").randbytes,
            client_name=f"device {name}",
            previous_kb=previous_kb,
        )
        device = Device(client, notes, wire, path)
        self.devices.append(device)
        return device

    @property
    def fxa_uid(self) -> str:
        return self.account.fxa_uid

    def log(self) -> list[LoggedRequest]:
        return self.svc.faults.request_log()

    def writes(self) -> list[LoggedRequest]:
        """Storage requests that change data, from the server's request log."""
        return [r for r in self.log() if r.method in ("PUT", "POST", "DELETE")]

    def close(self) -> None:
        for device in self.devices:
            device.client.close()
        if self.shared is None:
            self.svc.close()


def requests_of(device: Device) -> list[tuple[str, str]]:
    """The (method, path) pairs the device sent since the last call; resets the list."""
    sent = list(device.wire.sent)
    device.wire.sent.clear()
    return sent


def tail(path: str) -> str:
    """A storage path after the uid: ``/node/1/1.5/42/info/collections`` → ``info/collections``.

    Other paths (the token server's) come back unchanged.
    """
    parts = path.split("/")
    if "1.5" in parts[:-1] and not path.startswith("/1.0/"):
        at = parts.index("1.5")
        return "/".join(parts[at + 2 :])
    return path
