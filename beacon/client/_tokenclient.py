"""The token server client: an FxA OAuth access token in, a Sync storage token out.

Contract (docs/protocol.md §1):

1. :meth:`TokenClient.fetch` sends exactly one ``GET <token server>/1.0/sync/1.5`` with
   ``Authorization: Bearer <access token>`` and ``X-KeyID`` (plus ``X-Client-State`` when
   given) and returns a :class:`Token`, or raises:

   * 401 → :class:`TokenAuthenticationError` (an :class:`~beacon.AuthenticationError`)
     whose ``reason`` is the server's status string (``invalid-generation``,
     ``invalid-client-state``, ``invalid-keysChangedAt``, ``invalid-credentials``, ...);
   * 503 / 429 → :class:`~beacon.BackoffError` with ``until`` from Retry-After (10 s when
     absent or unparsable, capped by the transport's bound);
   * any other non-200 → :class:`~beacon.ServerError` with ``status``;
   * a 200 whose body is not a valid token response, or without ``X-Timestamp`` →
     :class:`~beacon.ProtocolViolation`;
   * transport failures → :class:`~beacon.TransportError` (from :mod:`._transport`).

2. It holds no state and never retries: the token chart decides what happens next.
3. The access token, the token ``id`` and ``key`` never appear in a repr, message or error.

Pure helpers: :meth:`Token.expires_at` / :meth:`Token.is_valid` apply a safety margin so a
token is renewed before the server starts refusing it; :func:`normalize_token_server_url`
accepts a bare base URL or one already ending in ``1.0/sync/1.5`` (a-s ``fixup_server_url``).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from beacon._errors import (
    AuthenticationError,
    BackoffError,
    ProtocolViolation,
    ServerError,
    UsageError,
)
from beacon._parse import parse_seconds
from beacon.client._transport import DEFAULT_RETRY_AFTER, Response, Transport, usable_url

if TYPE_CHECKING:  # the models load pydantic: on first parse, not at import
    pass

__all__ = [
    "MAX_CLOCK_SKEW",
    "TOKEN_PATH",
    "TOKEN_SAFETY_MARGIN",
    "Token",
    "TokenAuthenticationError",
    "TokenClient",
    "node_of",
    "normalize_token_server_url",
]

#: The token server route for Sync 1.5 (docs/protocol.md §1.1).
TOKEN_PATH = "1.0/sync/1.5"
#: Seconds before the server-side expiry at which a token counts as expired. The storage node
#: checks ``expires`` against its own clock, so renew early rather than hit a 401 mid-run.
TOKEN_SAFETY_MARGIN = 60.0
#: Largest difference between the token server's clock (X-Timestamp) and ours that is taken
#: for skew (Hawk is corrected by it) rather than for a broken answer: a year.
MAX_CLOCK_SKEW = 366 * 86_400.0


class TokenAuthenticationError(AuthenticationError):
    """The token server answered 401; ``reason`` is its status string (docs/protocol.md §1.6)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status: int | None = 401,
        url: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url, body=body)
        self.reason = reason


@dataclass(frozen=True)
class Token:
    """A Sync storage token (docs/protocol.md §1.5). ``repr`` hides ``id`` and ``key``.

    Attributes:
        id: the Hawk id (opaque, signed by the token server). Secret.
        key: the Hawk key. Secret.
        uid: the storage user id.
        api_endpoint: the storage root ``<node>/1.5/<uid>``, no trailing slash.
        duration: lifetime in seconds, counted from ``fetched_at``.
        hashed_fxa_uid: telemetry id (32 hex chars).
        fetched_at: the client clock when the token arrived (POSIX seconds).
        node_type: informational, may be ``None``.
        server_offset: the token server's clock (``X-Timestamp``) minus ours when the token
            arrived, in seconds; Hawk timestamps are shifted by it so a skewed local clock
            does not make every storage request a 401 (the node allows ±60 s, §2.4).
    """

    id: str = field(repr=False)
    key: str = field(repr=False)
    uid: int
    api_endpoint: str
    duration: int
    hashed_fxa_uid: str
    fetched_at: float
    node_type: str | None = None
    server_offset: float = 0.0

    def expires_at(self, *, margin: float = TOKEN_SAFETY_MARGIN) -> float:
        """The client-clock time after which the token should not be used.

        The margin never eats more than half the lifetime, so a short-lived token is still
        used at least once.
        """
        return self.fetched_at + self.duration - min(margin, self.duration / 2)

    def is_valid(self, now: float, *, margin: float = TOKEN_SAFETY_MARGIN) -> bool:
        """True while ``now`` is before :meth:`expires_at`."""
        return now < self.expires_at(margin=margin)

    @property
    def node(self) -> str:
        """The storage node this token points at (see :func:`node_of`)."""
        return node_of(self.api_endpoint)


def node_of(api_endpoint: str) -> str:
    """The node part of an ``api_endpoint``: scheme, host and port, e.g. ``https://db42:443``.

    Backoff is kept per node (docs/anchors.md P12); node reassignment compares ``api_endpoint`` and
    ``uid`` instead.
    """
    parts = urlsplit(api_endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def normalize_token_server_url(url: str) -> str:
    """``url`` ending in ``/1.0/sync/1.5`` without a trailing slash (a-s fixup_server_url).

    Raises:
        UsageError: not an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"the token server URL must be http(s): {url!r}")
    base = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if base.endswith("/" + TOKEN_PATH):
        return base
    return f"{base}/{TOKEN_PATH}"


class TokenClient:
    """Fetches storage tokens from one token server.

    Args:
        transport: the shared :class:`~beacon.client._transport.Transport` (its clock stamps
            ``Token.fetched_at``).
        token_server_url: the token server, normalised with :func:`normalize_token_server_url`.
    """

    def __init__(
        self,
        transport: Transport,
        token_server_url: str,
        *,
        on_backoff: Callable[[float], object] | None = None,
    ) -> None:
        self._transport = transport
        self._url = normalize_token_server_url(token_server_url)
        # Called with ``until`` when a response asks for backoff, a success too (X-Backoff).
        self._on_backoff = on_backoff

    def __repr__(self) -> str:
        return f"TokenClient({self._url!r})"

    @property
    def url(self) -> str:
        """The full token URL, ending in ``/1.0/sync/1.5``."""
        return self._url

    def fetch(
        self,
        access_token: str,
        *,
        key_id: str,
        client_state: str | None = None,
        duration: int | None = None,
    ) -> Token:
        """Exchange an OAuth access token for a storage token (one request).

        Args:
            access_token: the FxA OAuth token with the oldsync scope. Secret.
            key_id: ``X-KeyID`` (``beacon._crypto.key_id(kb, keys_changed_at)``).
            client_state: ``X-Client-State``; optional with OAuth, must match ``key_id``.
            duration: ask for a shorter lifetime, in seconds (servers may ignore it).

        Raises:
            TokenAuthenticationError, BackoffError, ServerError, ProtocolViolation,
            TransportError: see the module docstring.
        """
        if not access_token or not isinstance(access_token, str):
            raise UsageError("an access token is required")
        headers = {"Authorization": f"Bearer {access_token}", "X-KeyID": key_id}
        if client_state is not None:
            headers["X-Client-State"] = client_state
        params = {"duration": str(int(duration))} if duration is not None else None
        response = self._transport.request("GET", self._url, params=params, headers=headers)
        url = response.url
        if response.backoff_until is not None and self._on_backoff is not None:
            self._on_backoff(response.backoff_until)
        if response.status == 200:
            return _token_from(response)
        if response.status == 401:
            reason = _status_string(response.json_or_none())
            raise TokenAuthenticationError(
                f"the token server refused the credentials ({reason})",
                reason=reason,
                url=url,
                body=response.text(),
            )
        if response.status in (429, 503):
            now = response.received_at
            until = response.backoff_until or now + DEFAULT_RETRY_AFTER
            raise BackoffError(
                f"the token server asked to back off ({response.status})",
                until=until,
                status=response.status,
                url=url,
                retry_after=until - now,
                body=response.text(),
            )
        raise ServerError(
            f"the token server answered {response.status}"
            f" ({_status_string(response.json_or_none())})",
            status=response.status,
            url=url,
            body=response.text(),
        )


def _token_from(response: Response) -> Token:
    url = response.url
    # a-s requires X-Timestamp on a success (docs/protocol.md §1.5).
    server_time = parse_seconds(response.header("X-Timestamp"))
    if server_time is None:
        raise ProtocolViolation(f"token server response without a valid X-Timestamp: {url}")
    if abs(server_time - response.received_at) > MAX_CLOCK_SKEW:
        raise ProtocolViolation(f"token server X-Timestamp is absurd against our clock: {url}")
    from beacon._models import TokenResponse, parse_model  # pydantic, on first use

    body = parse_model(TokenResponse, response.content)
    endpoint = body.api_endpoint.rstrip("/")
    if not usable_url(endpoint):
        raise ProtocolViolation(f"token server sent an unusable api_endpoint: {url}")
    if body.duration <= 0 or body.uid < 0:
        raise ProtocolViolation(f"token server sent a bad duration or uid: {url}")
    return Token(
        id=body.id,
        key=body.key,
        uid=body.uid,
        api_endpoint=endpoint,
        duration=body.duration,
        hashed_fxa_uid=body.hashed_fxa_uid,
        fetched_at=response.received_at,
        node_type=body.node_type,
        # X-Timestamp has one-second resolution: offsets under 2 s are noise.
        server_offset=_offset(server_time - response.received_at),
    )


def _offset(seconds: float) -> float:
    return 0.0 if abs(seconds) < 2 else float(round(seconds))


def _status_string(body: object) -> str:
    """The Cornice ``status`` field of an error body, or ``"error"`` (docs/protocol.md §1.6)."""
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, str) and status.isprintable() and len(status) <= 64:
            return status
    return "error"
