"""Storage responses → beacon errors and timestamps (docs/protocol.md §3.9, §3.10).

One mapping for every storage endpoint: 401 → AuthenticationError (never "missing"), 503/429
→ BackoffError, 409/412 → ConflictError, a status the caller did not expect → ServerError, and
a response without ``X-Weave-Timestamp`` → ProtocolViolation.

Server timestamps are bounded before anyone can keep them: ``X-Weave-Timestamp`` is the
server's clock and, by the protocol, at least every last-modified time of the response
(§3.3, §3.9: rs sends max(now, XLM)). So a last-modified time later than the response's own
X-Weave-Timestamp, or an X-Weave-Timestamp more than :data:`MAX_CLOCK_AHEAD` ahead of our
clock (corrected by the token server's offset), is a ProtocolViolation. One bad value would
otherwise be persisted and sent back: X-If-Modified-Since answered 304 for ever, a last-fetch
mark ahead of every other device's writes (their records never downloaded), or every
X-If-Unmodified-Since refused with a 400.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from beacon._errors import (
    AuthenticationError,
    BackoffError,
    ConflictError,
    ProtocolViolation,
    ServerError,
    ServiceEndOfLife,
)
from beacon._parse import parse_seconds
from beacon.client._transport import DEFAULT_RETRY_AFTER, Response

__all__ = [
    "MAX_CLOCK_AHEAD",
    "check_response",
    "is_number",
    "last_modified",
    "none_after_response",
    "not_after_response",
    "timestamp",
    "weave_timestamp",
]

#: Seconds a storage node's X-Weave-Timestamp may run ahead of our clock plus the token
#: server's offset (``Token.server_offset``): room for clock drift between the token server
#: and the node and since the token arrived, far below any value that could hide a day of
#: other devices' writes behind a last-fetch mark.
MAX_CLOCK_AHEAD = 86_400.0


def check_response(
    response: Response, ok: Sequence[int], *, clock_offset: float | None = None
) -> Response:
    """``response`` when its status is in ``ok``; otherwise the matching beacon error.

    With ``clock_offset`` (the server's clock minus ours), an X-Weave-Timestamp more than
    :data:`MAX_CLOCK_AHEAD` ahead of ``received_at + clock_offset`` is a ProtocolViolation.
    """
    method = response.method
    status, shown = response.status, response.url
    if status == 401:
        raise AuthenticationError(
            f"{method} {shown}: the storage node refused the token (401)",
            status=status,
            url=shown,
            body=response.text(),
        )
    if status in (429, 503):
        until = response.backoff_until or response.received_at + DEFAULT_RETRY_AFTER
        raise BackoffError(
            f"{method} {shown}: the storage node asked to back off ({status})",
            until=until,
            status=status,
            url=shown,
            retry_after=until - response.received_at,
            body=response.text(),
        )
    # Every storage response carries X-Weave-Timestamp, errors too (§3.9).
    server_time = weave_timestamp(response)
    if clock_offset is not None and server_time > (
        response.received_at + clock_offset + MAX_CLOCK_AHEAD
    ):
        raise ProtocolViolation(
            f"{method} {shown}: X-Weave-Timestamp is implausibly far ahead of our clock"
        )
    if status in ok:
        return response
    if status == 513:
        raise ServiceEndOfLife(
            f"{method} {shown}: the service has retired this client (513); upgrade beacon",
            url=shown,
            alert=response.alert,
        )
    if status in (409, 412):
        raise ConflictError(
            f"{method} {shown}: another client changed the target ({status})",
            status=status,
            url=shown,
            retry_after=(
                response.backoff_until - response.received_at
                if response.backoff_until is not None
                else None
            ),
            body=response.text(),
        )
    raise ServerError(
        f"{method} {shown}: the storage node answered {status}",
        status=status,
        url=shown,
        body=response.text(),
    )


def timestamp(value: str | None, what: str, url: str) -> float:
    """A header's seconds value; a missing, negative or unparsable one is a violation."""
    if value is None:
        raise ProtocolViolation(f"{url}: response without {what}")
    seconds = parse_seconds(value)
    if seconds is None:
        raise ProtocolViolation(f"{url}: {what} is not a timestamp")
    return seconds


def not_after_response(value: float, response: Response, what: str) -> float:
    """``value`` (a last-modified time this response carries) when it is not later than the
    response's X-Weave-Timestamp (§3.9); otherwise a ProtocolViolation."""
    return _not_after(value, weave_timestamp(response), response, what)


def none_after_response(values: Iterable[float], response: Response, what: str) -> None:
    """:func:`not_after_response` for each of ``values``, X-Weave-Timestamp read once (a
    listing carries up to a page of them)."""
    stamp = weave_timestamp(response)
    for value in values:
        _not_after(value, stamp, response, what)


def _not_after(value: float, stamp: float, response: Response, what: str) -> float:
    if not is_number(value) or value < 0:
        raise ProtocolViolation(f"{response.url}: {what} is not a timestamp")
    if value > stamp:
        raise ProtocolViolation(
            f"{response.url}: {what} is later than the response's X-Weave-Timestamp"
        )
    return float(value)


def last_modified(response: Response) -> float:
    """X-Last-Modified (required on the 2xx answers that use it, §3.9), not later than the
    response's X-Weave-Timestamp."""
    value = timestamp(response.header("X-Last-Modified"), "X-Last-Modified", response.url)
    return not_after_response(value, response, "X-Last-Modified")


def weave_timestamp(response: Response) -> float:
    """X-Weave-Timestamp (on every storage response, §3.9)."""
    return timestamp(response.header("X-Weave-Timestamp"), "X-Weave-Timestamp", response.url)


def is_number(value: object) -> bool:
    """A finite JSON number (not a bool) that fits a float."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False
