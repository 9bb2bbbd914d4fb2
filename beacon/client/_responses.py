"""Storage responses → beacon errors and timestamps (docs/protocol.md §3.9, §3.10).

One mapping for every storage endpoint: 401 → AuthenticationError (never "missing"), 503/429
→ BackoffError, 409/412 → ConflictError, a status the caller did not expect → ServerError, and
a response without ``X-Weave-Timestamp`` → ProtocolViolation.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from beacon._errors import (
    AuthenticationError,
    BackoffError,
    ConflictError,
    ProtocolViolation,
    ServerError,
)
from beacon.client._transport import DEFAULT_RETRY_AFTER, Response

__all__ = ["check_response", "is_number", "last_modified", "timestamp", "weave_timestamp"]


def check_response(response: Response, ok: Sequence[int]) -> Response:
    """``response`` when its status is in ``ok``; otherwise the matching beacon error."""
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
    timestamp(response.header("X-Weave-Timestamp"), "X-Weave-Timestamp", shown)
    if status in ok:
        return response
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
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ProtocolViolation(f"{url}: {what} is not a timestamp")
    return seconds


def last_modified(response: Response) -> float:
    """X-Last-Modified (required on the 2xx answers that use it, §3.9)."""
    return timestamp(response.header("X-Last-Modified"), "X-Last-Modified", response.url)


def weave_timestamp(response: Response) -> float:
    """X-Weave-Timestamp (on every storage response, §3.9)."""
    return timestamp(response.header("X-Weave-Timestamp"), "X-Weave-Timestamp", response.url)


def is_number(value: object) -> bool:
    """A finite JSON number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
