"""Fixtures of the FxA tests: the embedded service with its FxA stand-in, on a fake clock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from beacon.fxa import FirefoxAccount, MemoryStore
from beacon.server import EmbeddedService

START = 1_800_000_000.0
EMAIL = "alice@example.com"
PASSWORD = "correct horse battery staple"


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Counting(httpx.BaseTransport):
    """Counts the requests that reach the service (the client's own count is per run)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self.inner.handle_request(request)


@dataclass
class FxAWorld:
    svc: EmbeddedService
    clock: Clock
    transport: Counting
    store: MemoryStore
    opened: list[FirefoxAccount] = field(default_factory=list)

    def account(self, **kwargs: object) -> FirefoxAccount:
        account = FirefoxAccount(
            self.store,
            auth_server_url=self.svc.auth_server_url,
            transport=self.transport,
            clock=self.clock,
            rng=random.Random(7).randbytes,
            **kwargs,  # type: ignore[arg-type]
        )
        self.opened.append(account)
        return account


@pytest.fixture
def fxa_world() -> Iterator[FxAWorld]:
    clock = Clock()
    svc = EmbeddedService(clock=clock, rng=random.Random(1).randbytes)
    world = FxAWorld(svc, clock, Counting(svc.transport()), MemoryStore())
    yield world
    for account in world.opened:
        account.close()
    svc.close()
