"""The model campaign against a served embedded service, through beacon proxy, over loopback.

Every device request crosses two real sockets (device → proxy → service); the proxy rewrites
each token's ``api_endpoint`` and re-signs Hawk, and it, not the service, answers the
injected-answer and token faults (503 + Retry-After, 401, Backoff headers, token expiry and
revocation). Every invariant of the in-process campaign must hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import settings

from beacon.proxy import FaultProxy
from beacon.testing import CampaignConfig, run_campaign
from beacon.testing._world import Wire

#: The rules whose faults the proxy answers, and the device work around them.
RULES = (
    "edit",
    "delete",
    "sync",
    "advance_clock",
    "expire_token",
    "revoke_token",
    "unavailable",
    "unauthorized",
    "backoff_header",
    "remote_edit",
    "move_node",
)


def _campaign(examples: int, steps: int) -> None:
    proxies: list[FaultProxy] = []

    @contextmanager
    def through_proxy(svc: Any) -> Iterator[Wire]:
        transports: list[httpx.HTTPTransport] = []

        def transport() -> httpx.HTTPTransport:
            transports.append(httpx.HTTPTransport())
            return transports[-1]

        with svc.serve() as upstream:
            proxy = FaultProxy(upstream + "/1.0/sync/1.5", clock=svc._core.clock)
            proxies.append(proxy)
            with proxy.serve() as url:
                try:
                    yield Wire(url + "/1.0/sync/1.5", transport, proxy.faults)
                finally:
                    for each in transports:  # a client does not close the transport it is given
                        each.close()

    config = CampaignConfig(rules=RULES, wire=through_proxy)
    result = run_campaign(
        examples=examples, steps=steps, seed=3, config=config, parent=settings.default
    )
    assert result.passed, result.failure
    assert result.runs >= examples * 2
    # The traffic really crossed the proxies, and they answered faults themselves.
    logs = [entry for proxy in proxies for entry in proxy.faults.request_log()]
    assert any(e.path.startswith("/n/") and e.status == 200 for e in logs)
    assert any(e.path == "/1.0/sync/1.5" for e in logs)
    assert any(e.injected for e in logs)
    assert all(p.faults.users() for p in proxies)


def test_the_campaign_passes_through_the_proxy_over_loopback() -> None:
    _campaign(examples=5, steps=10)


@pytest.mark.slow
def test_a_larger_campaign_passes_through_the_proxy() -> None:
    _campaign(examples=60, steps=15)
