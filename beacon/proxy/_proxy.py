"""``FaultProxy``: beacon's fault vocabulary in front of any Sync 1.5 deployment.

Contract:

* ``FaultProxy(token_server, *, second_node=None, admin_secret=None, public_url=None,
  clock=time.time, transport=None)`` relays to ``token_server`` (a token server's base URL, or
  its full ``.../1.0/sync/1.5`` endpoint) and to the storage nodes its token responses name;
  ``second_node`` is a storage node base URL (``<node>`` of ``<node>/1.5/<uid>``) that
  ``move_user`` can send users to: it must accept the same tokens (same master secret).
* ``proxy.app`` is the ASGI app (run it with its lifespan: it owns the upstream HTTP client);
  ``proxy.faults`` the :class:`~beacon.proxy.ProxyFaults`; ``proxy.serve(host, port)`` runs it
  with uvicorn in a thread (``TCP_NODELAY`` sockets) and yields its base URL, whose
  ``/1.0/sync/1.5`` is the token endpoint clients should use.
* The proxy never logs or shows a token, a Hawk key or a body; its repr shows none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from starlette.applications import Starlette

from beacon._errors import UsageError
from beacon._serving import serve_in_thread
from beacon.proxy._app import ProxyApp, build_app
from beacon.proxy._faults import ProxyFaults, ProxyState

__all__ = ["FaultProxy"]

TOKEN_PATH = "/1.0/sync/1.5"


def _base_of(url: str, what: str) -> str:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"{what} must be an http(s) URL")
    text = url.rstrip("/")
    return text[: -len(TOKEN_PATH)] if text.endswith(TOKEN_PATH) else text


class FaultProxy:
    """A reverse proxy injecting faults into real Sync 1.5 traffic; see the module docstring."""

    def __init__(
        self,
        token_server: str,
        *,
        second_node: str | None = None,
        admin_secret: str | None = None,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.token_server = _base_of(token_server, "the token server URL")
        second = None if second_node is None else _base_of(second_node, "the second node URL")
        public = None if public_url is None else _base_of(public_url, "the public URL")
        self._state = ProxyState(second_node=second, clock=clock)
        self.faults = ProxyFaults(self._state)
        self._relay = ProxyApp(
            self._state,
            self.faults,
            token_server=self.token_server,
            admin_secret=admin_secret,
            public_url=public,
            transport=transport,
        )
        self.app: Starlette = build_app(self._relay)

    def __repr__(self) -> str:
        return f"FaultProxy(token_server={self.token_server!r})"

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over HTTP in a background thread; yield ``http://host:port``."""
        with serve_in_thread(self.app, host, port, lifespan="on", name="beacon-proxy") as serving:
            yield serving.url
