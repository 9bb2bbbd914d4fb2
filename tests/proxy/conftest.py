"""Fixtures for the fault proxy: an embedded service on loopback and a proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from beacon.proxy import FaultProxy
from beacon.server import EmbeddedService
from tests.server.server_fixtures import Clock, counter_rng

ADMIN_SECRET = "proxy-admin-secret"


@dataclass
class Deployment:
    """A served embedded service (the 'real deployment') and the proxy in front of it."""

    svc: EmbeddedService
    upstream: str
    proxy: FaultProxy
    url: str
    clock: Clock

    @property
    def token_server_url(self) -> str:
        return self.url + "/1.0/sync/1.5"


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    clock = Clock()
    with EmbeddedService(clock=clock, rng=counter_rng()) as svc, svc.serve() as upstream:
        proxy = FaultProxy(
            upstream + "/1.0/sync/1.5",
            second_node=upstream + "/node/2",
            admin_secret=ADMIN_SECRET,
            clock=clock,
        )
        with proxy.serve() as url:
            yield Deployment(svc, upstream, proxy, url, clock)
