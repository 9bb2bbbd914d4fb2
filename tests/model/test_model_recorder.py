"""The device transport: records every exchange without secrets, fires armed faults once."""

from __future__ import annotations

import httpx
import pytest

from beacon.testing._recorder import DeviceTransport

BASE = "http://beacon.invalid/node1/1.5/42"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _server(seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/info/collections"):
            return httpx.Response(200, json={}, headers={"X-Weave-Backoff": "30"})
        if request.url.path.endswith("/storage/meta/global"):
            return httpx.Response(503, text="0", headers={"Retry-After": "10"})
        return httpx.Response(200, json={"success": ["r0"], "failed": {}})

    return httpx.MockTransport(handle)


def _client(transport: DeviceTransport) -> httpx.Client:
    return httpx.Client(transport=transport)


def test_records_status_backoff_and_a_digest_of_the_token() -> None:
    seen: list[str] = []
    clock = Clock()
    transport = DeviceTransport(
        _server(seen), device=1, clock=clock, advance=clock.advance, tick=0.5
    )
    transport.run = 3
    with _client(transport) as client:
        client.get(
            BASE + "/info/collections", headers={"Authorization": 'Hawk id="secret-id", mac="x"'}
        )
        client.get(BASE + "/storage/meta/global?full=1")
    first, second = transport.log
    assert (first.device, first.run, first.status, first.backoff) == (1, 3, 200, 30.0)
    assert first.time == 100.5
    assert first.token is not None
    assert "secret" not in first.token
    assert len(first.token) == 12
    assert (second.status, second.retry_after) == (503, 10.0)
    assert second.url == BASE + "/storage/meta/global"  # no query kept
    assert second.response_body is not None
    assert clock.now == 101.0


@pytest.mark.parametrize(
    ("kind", "error", "reached"),
    [
        ("connect", httpx.ConnectError, False),
        ("read", httpx.ReadError, False),
        ("timeout", httpx.ReadTimeout, False),
        ("lost_response", httpx.ReadError, True),
    ],
)
def test_network_faults_fire_on_the_nth_request_once(
    kind: str, error: type[Exception], reached: bool
) -> None:
    seen: list[str] = []
    clock = Clock()
    transport = DeviceTransport(_server(seen), device=0, clock=clock)
    transport.arm_network_error(2, kind)
    assert transport.armed
    with _client(transport) as client:
        client.post(BASE + "/storage/bookmarks", json=[])
        with pytest.raises(error):
            client.post(BASE + "/storage/bookmarks", json=[])
        client.post(BASE + "/storage/bookmarks", json=[])
    assert len(seen) == (3 if reached else 2)
    assert transport.log[1].fault == kind
    assert not transport.armed


def test_a_race_writes_just_before_the_next_upload_to_that_collection() -> None:
    seen: list[str] = []
    clock = Clock()
    transport = DeviceTransport(_server(seen), device=0, clock=clock)
    transport.keys_probe = lambda: "the keys"
    transport.arm_race("bookmarks", lambda: seen.append("other device writes"))
    with _client(transport) as client:
        client.post(BASE + "/storage/passwords", json=[{"id": "a", "payload": "{}"}])
        client.post(BASE + "/storage/bookmarks", json=[{"id": "b", "payload": "{}"}])
        client.post(BASE + "/storage/bookmarks", json=[])
    assert seen == [
        "POST /node1/1.5/42/storage/passwords",
        "other device writes",
        "POST /node1/1.5/42/storage/bookmarks",
        "POST /node1/1.5/42/storage/bookmarks",
    ]
    assert transport.log[1].body is not None
    assert transport.log[1].keys == "the keys"
    transport.arm_race("bookmarks", lambda: None)
    transport.disarm()
    assert not transport.armed
