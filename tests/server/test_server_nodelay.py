"""Every socket the served service accepts has TCP_NODELAY (no ~45 ms delayed-ACK stalls).

The check reads the socket option itself, not a timing: ``make bench`` measures the speed.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from beacon._serving import listen, serve_in_thread
from beacon.cli import main
from beacon.server import EmbeddedService


def _nodelay(sock: Any) -> int:
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_the_listening_socket_is_tcp_with_nodelay() -> None:
    sock = listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets NODELAY on accepts only then
        assert _nodelay(sock)
    finally:
        sock.close()


def test_every_accepted_connection_has_nodelay() -> None:
    with EmbeddedService() as svc, serve_in_thread(svc.app) as serving:
        clients = [httpx.Client() for _ in range(3)]  # three keep-alive connections
        try:
            for http in clients:
                assert http.get(serving.url + "/__lbheartbeat__").status_code == 200
            connections = list(serving.server.server_state.connections)
            assert len(connections) == 3
            for protocol in connections:
                assert _nodelay(protocol.transport.get_extra_info("socket"))
        finally:
            for http in clients:
                http.close()


def test_beacon_serve_hands_uvicorn_a_nodelay_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: list[int] = []

    def run(self: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        assert sockets is not None
        seen.extend(_nodelay(s) for s in sockets)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    assert main(["serve", "--port", "0"]) == 0
    assert seen == [1]
