"""A device's view of the wire: a wrapping transport that records and injects faults.

Contract:

* :class:`DeviceTransport` wraps the service's in-process transport for one device. Every
  request is recorded as an :class:`Exchange` (method, path, status, the backoff headers,
  the time on the shared clock, the sync run it belongs to) *before* the campaign looks at
  it; nothing secret is kept: the Hawk id of a request is reduced to a short SHA-256 digest,
  and request bodies are kept only for record uploads (ciphertext, checked by the keys
  invariant and then dropped with the run).
* Faults are armed from outside and fire once: :meth:`DeviceTransport.arm_network_error`
  makes the n-th next request raise an ``httpx`` transport error (``connect``, ``read``,
  ``timeout``) or reach the service and lose its answer (``lost_response``);
  :meth:`DeviceTransport.arm_race` runs a callback (another device writing) just before the
  next record upload to a collection, so that upload meets a 412.
* Before each record upload, ``keys_probe`` (when set) is called and its result is stored on
  the exchange: the server's crypto/keys at that instant, for the keys invariant.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["DeviceTransport", "Exchange"]

_HAWK_ID = re.compile(r'\bid="([^"]*)"')
_STORAGE = re.compile(r"^(?P<base>.*?/1\.5/[^/]+)(?:/(?P<rest>.*))?$")
_TOKEN_PATH = "/1.0/sync/1.5"
#: Collections whose writes are not records under crypto/keys.
_META = frozenset({"meta", "crypto"})


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass
class Exchange:
    """One request as the device sent it, and what came back (or which fault hit it)."""

    device: int
    run: int
    time: float
    method: str
    url: str
    status: int | None = None
    fault: str | None = None
    token: str | None = None
    retry_after: float | None = None
    backoff: float | None = None
    body: bytes | None = field(default=None, repr=False)
    response_body: bytes | None = field(default=None, repr=False)
    keys: Any = field(default=None, repr=False)

    @functools.cached_property
    def _parts(self) -> tuple[bool, str, str]:
        """(token fetch?, server, resource): the URL parsed once."""
        url = httpx.URL(self.url)
        origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        if url.path.rstrip("/").endswith(_TOKEN_PATH):
            return True, origin + "/token", ""
        match = _STORAGE.match(url.path)
        if match is None:
            return False, origin + url.path, ""
        return False, origin + match.group("base").rsplit("/", 1)[0], match.group("rest") or ""

    @property
    def is_token_fetch(self) -> bool:
        """A request to the token server."""
        return self._parts[0]

    @property
    def node(self) -> str:
        """The server this request went to: the token server, or the storage node's base."""
        return self._parts[1]

    @property
    def resource(self) -> str:
        """The path below the user's root (``info/collections``, ``storage/bookmarks``...)."""
        return self._parts[2]

    @property
    def collection(self) -> str | None:
        """The collection of a ``storage/<collection>[/<id>]`` request, else ``None``."""
        parts = self.resource.split("/")
        if len(parts) >= 2 and parts[0] == "storage" and parts[1]:
            return parts[1]
        return None

    @property
    def is_wipe(self) -> bool:
        """A DELETE of all of the user's storage (the first step of a fresh start)."""
        return self.method == "DELETE" and self.resource in ("", "storage")

    @property
    def is_record_upload(self) -> bool:
        """A POST or PUT of records into an engine's collection."""
        coll = self.collection
        return self.method in ("POST", "PUT") and coll is not None and coll not in _META


class DeviceTransport(httpx.BaseTransport):
    """Wraps ``inner`` for device ``device``; see the module docstring."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        device: int,
        clock: Callable[[], float],
        advance: Callable[[float], None] | None = None,
        tick: float = 0.0,
    ) -> None:
        self._inner = inner
        self.device = device
        self._clock = clock
        self._advance = advance
        self._tick = tick
        self.run = 0
        self.log: list[Exchange] = []
        self.keys_probe: Callable[[], Any] | None = None
        self._network: tuple[int, str] | None = None
        self._race: tuple[str, Callable[[], None]] | None = None

    # -- arming faults ---------------------------------------------------------------------
    def arm_network_error(self, after: int, kind: str) -> None:
        """Fail the ``after``-th next request (1 = the very next one) with ``kind``."""
        self._network = (max(1, after), kind)

    def arm_race(self, collection: str, write: Callable[[], None]) -> None:
        """Call ``write`` just before this device's next record upload to ``collection``."""
        self._race = (collection, write)

    def disarm(self) -> None:
        """Drop every armed fault (the quiet period)."""
        self._network = None
        self._race = None

    @property
    def armed(self) -> bool:
        """Whether a fault is still waiting to fire."""
        return self._network is not None or self._race is not None

    # -- the transport ---------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Record, maybe fault, and forward ``request`` to the service."""
        if self._advance is not None and self._tick:
            self._advance(self._tick)
        auth = request.headers.get("authorization", "")
        hawk = _HAWK_ID.search(auth)
        token = hashlib.sha256(hawk.group(1).encode()).hexdigest()[:12] if hawk else None
        exchange = Exchange(
            device=self.device,
            run=self.run,
            time=self._clock(),
            method=request.method,
            url=str(request.url.copy_with(query=None)),
            token=token,
        )
        self.log.append(exchange)
        if exchange.is_record_upload:
            request.read()
            exchange.body = request.content
            if self._race is not None and self._race[0] == exchange.collection:
                write = self._race[1]
                self._race = None
                write()
            if self.keys_probe is not None:
                exchange.keys = self.keys_probe()
        fault = self._take_network_fault()
        if fault in ("connect", "read", "timeout"):
            exchange.fault = fault
            raise _error(fault, request)
        response = self._inner.handle_request(request)
        exchange.status = response.status_code
        exchange.retry_after = _seconds(response.headers.get("retry-after"))
        backoffs = [
            _seconds(response.headers.get(h)) for h in ("x-weave-backoff", "backoff", "x-backoff")
        ]
        present = [b for b in backoffs if b is not None]
        exchange.backoff = max(present) if present else None
        if exchange.resource.startswith("storage/meta") and request.method == "GET":
            response.read()
            exchange.response_body = response.content
        if fault == "lost_response":
            exchange.fault = fault
            response.close()
            raise httpx.ReadError("the answer was lost on the way back", request=request)
        return response

    def _take_network_fault(self) -> str | None:
        if self._network is None:
            return None
        left, kind = self._network
        if left > 1:
            self._network = (left - 1, kind)
            return None
        self._network = None
        return kind

    def close(self) -> None:
        """Nothing to close: the inner transport belongs to the service."""


def _error(kind: str, request: httpx.Request) -> httpx.TransportError:
    if kind == "connect":
        return httpx.ConnectError("connection refused (injected)", request=request)
    if kind == "timeout":
        return httpx.ReadTimeout("timed out (injected)", request=request)
    return httpx.ReadError("connection reset (injected)", request=request)
