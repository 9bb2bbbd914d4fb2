"""Every socket the served service accepts has TCP_NODELAY (no ~45 ms delayed-ACK stalls).

The check reads the socket option itself, not a timing: ``make bench`` measures the speed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from beacon._serving import Serving, listen, serve_in_thread
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


# -- the accepted side, for each way beacon serves ----------------------------------------------


def _accepted_nodelay(server: Any, port: int, connections: int = 2) -> list[int]:
    """Open ``connections`` TCP connections to ``port`` and read TCP_NODELAY on the sockets
    the server accepted for them (server side: what decides whether answers wait)."""
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    try:
        deadline = time.monotonic() + 10
        while len(server.server_state.connections) < connections:
            assert time.monotonic() < deadline, "the server did not accept the connections"
            time.sleep(0.01)
        return [
            _nodelay(protocol.transport.get_extra_info("socket"))
            for protocol in list(server.server_state.connections)
        ]
    finally:
        for client in clients:
            client.close()


def _recording(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[Serving]:
    """Record the ``Serving`` of every ``serve_in_thread`` the module runs."""
    seen: list[Serving] = []
    original = serve_in_thread

    @contextmanager
    def recorded(*args: Any, **kwargs: Any) -> Iterator[Serving]:
        with original(*args, **kwargs) as serving:
            seen.append(serving)
            yield serving

    monkeypatch.setattr(module, "serve_in_thread", recorded)
    return seen


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_embedded_service_serve_accepts_with_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    from beacon.server import _service

    seen = _recording(monkeypatch, _service)
    with EmbeddedService() as svc, svc.serve() as base:
        assert _accepted_nodelay(seen[0].server, _port(base)) == [1, 1]


def test_fault_proxy_serve_accepts_with_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    from beacon.proxy import FaultProxy, _proxy

    seen = _recording(monkeypatch, _proxy)
    with FaultProxy("http://127.0.0.1:9/1.0/sync/1.5").serve() as base:
        assert _accepted_nodelay(seen[0].server, _port(base)) == [1, 1]


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--port", "0", "--quiet"],
        ["proxy", "--token-server", "http://127.0.0.1:9/1.0/sync/1.5", "--port", "0"],
    ],
    ids=["beacon serve", "beacon proxy"],
)
def test_the_cli_servers_accept_with_nodelay(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    import uvicorn

    servers: list[uvicorn.Server] = []
    run = uvicorn.Server.run

    def recorded(self: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        servers.append(self)
        run(self, sockets=sockets)

    monkeypatch.setattr(uvicorn.Server, "run", recorded)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(main(argv)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not (servers and servers[0].started):
        assert thread.is_alive(), "the server stopped before it started"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    server = servers[0]
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        assert _accepted_nodelay(server, port) == [1, 1]
    finally:
        server.should_exit = True
        thread.join(15)
    assert outcome == [0]
