"""Fixtures for the embedded service tests (helpers live in ``server_fixtures``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from beacon.server import EmbeddedService
from tests.server.server_fixtures import ADMIN_SECRET, Clock, User, counter_rng, make_user


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(clock: Clock) -> Iterator[EmbeddedService]:
    service = EmbeddedService(clock=clock, admin_secret=ADMIN_SECRET, rng=counter_rng())
    yield service
    service.close()


@pytest.fixture
def user(svc: EmbeddedService, clock: Clock) -> Iterator[User]:
    u = make_user(svc, clock)
    yield u
    u.http.close()
