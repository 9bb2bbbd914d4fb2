"""The client's one door to HTTP: an ``httpx.Client`` wrapped into beacon's terms.

Contract:

1. This is the **only** client module that imports httpx. Everything above it sees
   :class:`Response` (a small frozen value) and beacon errors; no httpx exception escapes:
   timeouts become :class:`~beacon.TransportTimeout`, every other failure to complete an
   exchange becomes :class:`~beacon.TransportError` (the error tree of beacon/_errors.py).
2. The transport is injectable (``httpx.BaseTransport``): tests and the embedded service run
   the whole client in-process (``EmbeddedService.transport()``, ``httpx.MockTransport``).
3. It counts every request it sends, successful or not (:attr:`Transport.request_count`), so
   ``beacon sync --json`` and the request-economy benchmarks report an exact number.
4. It reads no status code as an error: mapping statuses to errors is the token and storage
   clients' job. It does parse the backoff headers of every response, against the injected
   clock, into :attr:`Response.backoff_until` (see :func:`backoff_until`).
5. Response bodies are read fully, but never beyond ``max_response_bytes``: a larger body is a
   :class:`~beacon.ProtocolViolation`, not an unbounded allocation. Paged downloads keep each
   body to one page (docs/protocol.md §3.5).
6. Nothing secret is logged or put in a message: URLs carry no credentials in Sync 1.5 (Hawk
   and Bearer travel in headers) and header values are never echoed.

Usage::

    with Transport(transport=svc.transport(), clock=clock) as http:
        response = http.request("GET", url, headers={"X-KeyID": kid}, auth=hawk)
        response.status, response.header("X-Weave-Timestamp"), response.json()
        http.request_count
"""

from __future__ import annotations

import email.utils
import math
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

import httpx

from beacon._errors import ProtocolViolation, TransportError, TransportTimeout, UsageError
from beacon._parse import json_or_none, parse_json, parse_seconds
from beacon._protocol import BACKOFF_HEADERS

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_TIMEOUT",
    "MAX_BACKOFF",
    "MAX_RESPONSE_BYTES",
    "Response",
    "Transport",
    "backoff_until",
    "usable_url",
]

#: Seconds to wait for connect, read, write and pool, each.
DEFAULT_TIMEOUT = 30.0
#: Upper bound on any backoff a server can impose, in seconds: a bad far-future value must not
#: stop sync for good (docs/anchors.md §3.5, P12). Firefox desktop caps its own
#: backoff interval at 8 hours.
MAX_BACKOFF = 8 * 3600.0
#: Seconds assumed when a 503/429 carries no usable Retry-After (a-s default,
#: docs/protocol.md §1.6).
DEFAULT_RETRY_AFTER = 10.0
#: Largest response body read into memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

# Headers asking the client to slow down on any response (docs/protocol.md §3.9, §1.6).
_BACKOFF_HEADERS = tuple(h.lower() for h in BACKOFF_HEADERS)
# Statuses whose Retry-After is honoured (docs/protocol.md §3.9-§3.10: 503, 429, 409).
_RETRY_AFTER_STATUSES = frozenset({409, 429, 503})

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Response:
    """One complete HTTP exchange, as a value.

    Attributes:
        method: the request method.
        url: the request URL (with its query), for errors and traces; it holds no secrets.
        status: the HTTP status code.
        headers: response headers, names lower-cased, read-only.
        content: the body bytes.
        received_at: the injected clock's time when the response was read.
        backoff_until: epoch seconds before which the server asked for no more requests, from
            X-Weave-Backoff / X-Backoff / Backoff (any status) or Retry-After (409/429/503),
            capped at ``received_at + MAX_BACKOFF``; ``None`` when the server asked nothing.
    """

    method: str
    url: str
    status: int
    headers: Mapping[str, str] = field(repr=False)
    content: bytes = field(repr=False)
    received_at: float = 0.0
    backoff_until: float | None = None

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive name), or ``None``."""
        return self.headers.get(name.lower())

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ProtocolViolation: the body is not UTF-8 JSON within :mod:`beacon._parse`'s limits
                (depth, number range).
        """
        return parse_json(self.content, f"{self.method} {self.url}: the response body")

    def json_or_none(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON (for error bodies)."""
        return json_or_none(self.content)

    def text(self, limit: int = 200) -> str:
        """The start of the body as text, for error attributes (never holds our secrets)."""
        return self.content[:limit].decode("utf-8", errors="replace")

    @property
    def alert(self) -> dict[str, str] | None:
        """The X-Weave-Alert header (docs/protocol.md §3.9) as ``code``/``message``/``url``.

        None without the header.

        The header is JSON (``{"code": "soft-eol", "message": ..., "url": ...}``) or plain
        text; anything else is kept as its message, each value bounded.
        """
        raw = self.header("X-Weave-Alert")
        if raw is None:
            return None
        value = json_or_none(raw.encode("utf-8", errors="replace"))
        if not isinstance(value, dict):
            return {"code": "", "message": raw[:_ALERT_LIMIT], "url": ""}
        return {key: str(value.get(key, ""))[:_ALERT_LIMIT] for key in ("code", "message", "url")}


_ALERT_LIMIT = 500  # characters kept of each X-Weave-Alert field


def _seconds(value: str) -> float | None:
    """A non-negative, finite number of seconds from a header value, or None."""
    seconds = parse_seconds(value)
    if seconds is None:
        return None
    return float(math.ceil(seconds))  # fractions round up, as a-s does (docs/anchors.md §3.7)


def _retry_after(value: str, now: float) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def backoff_until(
    status: int,
    headers: Mapping[str, str],
    *,
    now: float,
    max_backoff: float = MAX_BACKOFF,
) -> float | None:
    """The epoch time until which a response asks the client to back off, or ``None``.

    X-Weave-Backoff, X-Backoff and Backoff count on any status; Retry-After counts with 409,
    429 and 503, and a 503 or 429 without a usable one means :data:`DEFAULT_RETRY_AFTER`. The
    longest wait wins (docs/protocol.md §3.9 [REC]); the result is capped at ``now + max_backoff``.
    Unparsable, negative or infinite values are ignored. ``headers`` keys are lower-case.
    """
    waits: list[float] = []
    for name in _BACKOFF_HEADERS:
        raw = headers.get(name)
        if raw is not None and (seconds := _seconds(raw)) is not None:
            waits.append(seconds)
    if status in _RETRY_AFTER_STATUSES:
        raw = headers.get("retry-after")
        seconds = _retry_after(raw, now) if raw is not None else None
        if seconds is not None:
            waits.append(seconds)
        elif status in (429, 503):
            waits.append(DEFAULT_RETRY_AFTER)
    if not waits:
        return None
    return now + min(max(waits), max_backoff)


def usable_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host that httpx can send to.

    For URLs a server hands out (``api_endpoint``): a bad one is the server's fault, so the
    caller checks it here first instead of meeting :class:`~beacon.UsageError` later.
    """
    if not isinstance(url, str) or not url.isascii() or not url.isprintable() or " " in url:
        return False
    try:
        parsed = httpx.URL(url)
        port = urllib.parse.urlsplit(url).port  # ValueError beyond 65535 (httpx allows it)
    except (httpx.InvalidURL, ValueError, TypeError):
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host) and port != 0


class _PerScheme(httpx.BaseTransport):
    """httpx's own transport, one per URL scheme, each built on its first request.

    httpx builds the default transport's TLS context (the whole CA bundle) when the client is
    made, even when every URL is ``http://`` as with a local service: about 20 ms of a 300 ms
    no-change ``beacon sync``. The https pool is exactly httpx's default. The plain-http pool
    gets a TLS context that loads no CA at all, so it could never complete an unverified
    handshake: it sees only ``http://`` requests, and would fail closed on anything else.
    """

    def __init__(self) -> None:
        self._pools: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        pool = self._pools.get(scheme)
        if pool is None:
            if scheme == "https":
                pool = httpx.HTTPTransport()
            else:
                pool = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            self._pools[scheme] = pool
        return pool.handle_request(request)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


class Transport:
    """An HTTP client for the Sync client: counted, bounded, mapped to beacon errors.

    Args:
        transport: the httpx transport to send through (default: real network).
        timeout: seconds for each of connect, read, write and pool.
        clock: POSIX seconds; used for :attr:`Response.received_at` and backoff times.
        max_backoff: cap on any server-imposed backoff, in seconds.
        max_response_bytes: a longer body raises :class:`~beacon.ProtocolViolation`.
        user_agent: the User-Agent header.
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = time.time,
        max_backoff: float = MAX_BACKOFF,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        user_agent: str = "beacon/0.1 (Sync 1.5)",
    ) -> None:
        if timeout <= 0 or max_backoff < 0 or max_response_bytes <= 0:
            raise UsageError("timeout and max_response_bytes must be positive")
        self._client = httpx.Client(
            transport=transport if transport is not None else _PerScheme(),
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
            trust_env=False,
        )
        self._clock = clock
        self._max_backoff = max_backoff
        self._max_response_bytes = max_response_bytes
        self._count = 0
        #: Every X-Weave-Alert seen (code, message, url), oldest first, at most 20 kept.
        self.alerts: list[dict[str, str]] = []

    def __repr__(self) -> str:
        return f"Transport(requests={self._count})"

    @property
    def request_count(self) -> int:
        """Requests sent so far, including those that failed in transport."""
        return self._count

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        return self._clock

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        auth: httpx.Auth | None = None,
    ) -> Response:
        """Send one request and read the whole response.

        ``auth`` is an ``httpx.Auth`` such as :class:`beacon._hawk.HawkAuth`; the callers pass
        the object through without touching httpx themselves.

        Raises:
            TransportTimeout: connect, read, write or pool timeout.
            TransportError: any other failure to complete the exchange.
            UsageError: the URL is not a valid http(s) URL.
            ProtocolViolation: the body is larger than ``max_response_bytes``.
        """
        try:
            request = self._client.build_request(
                method, url, params=params, headers=headers, content=content
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise UsageError(f"not a usable URL: {url!r}") from exc
        shown = str(request.url)
        if request.url.scheme not in ("http", "https") or not request.url.host:
            raise UsageError(f"not an http(s) URL: {shown}")
        self._count += 1
        try:
            response = self._client.send(request, auth=auth, stream=True)
            try:
                body = self._read(response, method, shown)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TransportTimeout(f"{method} {shown}: timed out", url=shown) from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise TransportError(f"{method} {shown}: {type(exc).__name__}", url=shown) from exc
        now = self._clock()
        lowered = MappingProxyType({k.lower(): v for k, v in response.headers.items()})
        answer = Response(
            method=method,
            url=shown,
            status=response.status_code,
            headers=lowered,
            content=body,
            received_at=now,
            backoff_until=backoff_until(
                response.status_code, lowered, now=now, max_backoff=self._max_backoff
            ),
        )
        alert = answer.alert
        if alert is not None and alert not in self.alerts:
            self.alerts = [*self.alerts, alert][-20:]
        return answer

    def _read(self, response: httpx.Response, method: str, shown: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_response_bytes:
                raise ProtocolViolation(
                    f"{method} {shown}: response body exceeds {self._max_response_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close the connection pool; the transport is unusable afterwards."""
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
