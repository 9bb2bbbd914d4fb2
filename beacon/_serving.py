"""Serving an ASGI app over TCP with uvicorn: the listening socket and a background thread.

Shared by the embedded service (``EmbeddedService.serve``, ``beacon serve``) and the fault proxy
(``FaultProxy.serve``, ``beacon proxy``).

Contract:

* :func:`listen` binds a TCP listening socket with ``SO_REUSEADDR`` and ``TCP_NODELAY``, created
  with protocol ``IPPROTO_TCP``. Both matter: asyncio sets ``TCP_NODELAY`` on an accepted
  socket only when its protocol number says TCP (a ``socket(AF_INET, SOCK_STREAM)`` says 0),
  and Linux copies the listener's ``TCP_NODELAY`` to what it accepts. Without it a response
  written in two parts (head, then body) waits for the client's delayed ACK: ~45 ms per small
  request instead of ~1 ms. :class:`~beacon.UsageError` when the address cannot be bound.
* :func:`serve_in_thread` runs the app on such a socket in a daemon thread and yields a
  :class:`Serving` (base URL, the uvicorn server) until the ``with`` block ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from beacon._errors import UsageError

if TYPE_CHECKING:
    import uvicorn

__all__ = ["Serving", "base_url", "listen", "serve_in_thread"]


def listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for ``host:port`` (``port=0``: any free port); see the docstring."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    return sock


def base_url(host: str, sock: socket.socket) -> str:
    """``http://host:port`` for a bound socket (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}"


@dataclass(frozen=True)
class Serving:
    """An app being served: its base URL and the uvicorn server (for inspection)."""

    url: str
    server: uvicorn.Server


@contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    lifespan: Literal["on", "off"] = "off",
    name: str = "beacon",
) -> Iterator[Serving]:
    """Serve ``app`` with uvicorn in a background thread until the block ends."""
    import uvicorn  # only needed here; keeps ``import beacon`` light

    sock = listen(host, port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        ws="none",
        http="h11",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise UsageError(f"the server could not start on {host}:{port}")
            time.sleep(0.01)
        yield Serving(base_url(host, sock), server)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
