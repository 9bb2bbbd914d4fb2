"""The default transport builds one httpx pool per scheme, on first use, with the right TLS."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from collections.abc import Iterator

import httpx
import pytest

from beacon._errors import TransportError
from beacon.client._transport import Transport, _PerScheme


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"hello": 1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _context(pool: httpx.HTTPTransport) -> ssl.SSLContext:
    context = pool._pool._ssl_context  # httpcore keeps the context it was given
    assert isinstance(context, ssl.SSLContext)
    return context


def test_no_pool_and_no_tls_context_exists_before_the_first_request() -> None:
    with Transport() as http_client:
        per_scheme = http_client._client._transport
        assert isinstance(per_scheme, _PerScheme)
        assert per_scheme._pools == {}


def test_plain_http_gets_a_pool_whose_tls_trusts_nothing(plain_server: str) -> None:
    per_scheme = _PerScheme()
    response = per_scheme.handle_request(httpx.Request("GET", plain_server))
    assert response.read() == b'{"hello": 1}'
    assert set(per_scheme._pools) == {"http"}
    context = _context(per_scheme._pools["http"])
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # could never verify a handshake
    per_scheme.close()
    assert per_scheme._pools == {}


def test_https_gets_httpx_default_verifying_pool() -> None:
    per_scheme = _PerScheme()
    with pytest.raises(httpx.ConnectError):
        per_scheme.handle_request(httpx.Request("GET", f"https://127.0.0.1:{_closed_port()}/"))
    assert set(per_scheme._pools) == {"https"}
    context = _context(per_scheme._pools["https"])
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # httpx's CA bundle
    per_scheme.close()


def test_each_scheme_reuses_its_pool(plain_server: str) -> None:
    per_scheme = _PerScheme()
    per_scheme.handle_request(httpx.Request("GET", plain_server)).close()
    first = per_scheme._pools["http"]
    per_scheme.handle_request(httpx.Request("GET", plain_server + "/again")).close()
    assert per_scheme._pools["http"] is first
    per_scheme.close()


def test_the_default_transport_sends_and_maps_failures(plain_server: str) -> None:
    with Transport() as http_client:
        assert http_client.request("GET", plain_server).json() == {"hello": 1}
        with pytest.raises(TransportError):
            http_client.request("GET", f"http://127.0.0.1:{_closed_port()}/")
        assert http_client.request_count == 2
