"""FxA's answers as beacon errors: every errno a sign-in meets, under the existing families.

Contract (fxa ``libs/accounts/errors``; ``docs/accounts.md`` §3.1-§3.2):

* :func:`error_for` maps one non-2xx response to exactly one exception. An FxA error body is
  JSON ``{code, errno, error, message, ...}``; the class is chosen by errno first, status
  second. A body that is not JSON is out of protocol, except a 429/503 (still a backoff) and
  Fastly's bodiless 406 (:class:`ChallengeRequired`).
* Every class carries ``errno`` (``None`` without a body); messages name the errno and the
  server's short ``error`` text, never a token, password, key or the body itself.
* The families: a refused password or token is an :class:`~beacon.AuthenticationError`;
  "wait" is a :class:`~beacon.BackoffError` (``until`` from Retry-After); a step the user must
  take (verify, unblock, correct the email case) is a :class:`~beacon.ServerError` subclass.
"""

from __future__ import annotations

import re
from typing import Any

from beacon._errors import (
    AuthenticationError,
    BackoffError,
    ProtocolViolation,
    ServerError,
)
from beacon.client._transport import DEFAULT_RETRY_AFTER, Response

__all__ = [
    "ChallengeRequired",
    "FxAAuthenticationError",
    "FxABackoffError",
    "FxAError",
    "IncorrectEmailCase",
    "IncorrectPassword",
    "InvalidCode",
    "InvalidFxAToken",
    "RequestBlocked",
    "SignInRequired",
    "UnknownAccount",
    "UnverifiedSession",
    "error_for",
]

# errno values (fxa constants.ts), named where the client acts on them.
UNKNOWN_ACCOUNT = 102
INCORRECT_PASSWORD = 103
UNVERIFIED_ACCOUNT = 104
INVALID_TOKEN = 110
THROTTLED = 114
INCORRECT_EMAIL_CASE = 120
REQUEST_BLOCKED = 125
INVALID_UNBLOCK_CODE = 127
UNVERIFIED_SESSION = 138
INVALID_OTP_CODE = 183
SERVICE_UNAVAILABLE = 201
CLIENT_DISABLED = 204
INSUFFICIENT_AAL = 222


class FxAError(ServerError):
    """FxA refused a request within its protocol; ``errno`` says why."""

    #: The CLI adds no generic hint: the errno message says what happened.
    hint: str | None = ""

    kind = "fxa"

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        # The body is not kept: FxA error bodies echo emails and may echo what we sent.
        super().__init__(message, status=status, url=url, retry_after=retry_after)
        self.errno = errno


class FxAAuthenticationError(AuthenticationError):
    """FxA refused a credential (password, session, key-fetch or refresh token)."""

    #: The CLI adds no generic hint: the errno message says what happened.
    hint: str | None = ""

    kind = "fxa_authentication"

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.errno = errno


class IncorrectPassword(FxAAuthenticationError):
    """errno 103: the password is wrong."""

    kind = "incorrect_password"


class InvalidFxAToken(FxAAuthenticationError):
    """errno 110: the token is unknown, expired, revoked or sent in a form the server refuses."""

    kind = "invalid_token"


class SignInRequired(FxAAuthenticationError):
    """The account is in the doghouse (password changed elsewhere, session gone, keys changed):
    only a new sign-in helps. ``reason`` is a short machine word."""

    kind = "sign_in_required"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class FxABackoffError(BackoffError):
    """429 / errno 114 (throttled) or 503 / errno 201: wait until ``until``."""

    kind = "fxa_backoff"

    def __init__(
        self,
        message: str,
        *,
        until: float,
        errno: int | None = None,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
        unblockable: bool = False,
    ) -> None:
        super().__init__(message, until=until, status=status, url=url, retry_after=retry_after)
        self.errno = errno
        self.unblockable = unblockable


class UnknownAccount(FxAError):
    """errno 102: no account has that email."""

    kind = "unknown_account"


class IncorrectEmailCase(FxAError):
    """errno 120: the account's email differs from the typed one; ``email`` is the stored one,
    which salts the v1 stretch."""

    kind = "incorrect_email_case"

    def __init__(self, message: str, *, email: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.email = email


class UnverifiedSession(FxAError):
    """errno 104 / 138 / 222: the account or session must be verified first."""

    kind = "unverified"


class RequestBlocked(FxAError):
    """errno 125: the sign-in is blocked; ``unblockable`` when an emailed unblock code helps."""

    kind = "request_blocked"

    def __init__(self, message: str, *, unblockable: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.unblockable = unblockable


class InvalidCode(FxAError):
    """errno 127 / 183: the unblock or verification code is wrong or expired."""

    kind = "invalid_code"


class ChallengeRequired(ProtocolViolation):
    """A bodiless 406: an intermediary (Fastly) wants a browser challenge solved first."""

    kind = "challenge_required"


def _short(text: object) -> str:
    # The server's words, unless they could be an echo of something we sent (a long hex run).
    if (
        isinstance(text, str)
        and text.isprintable()
        and len(text) <= 80
        and not re.search(r"[0-9A-Fa-f]{16,}", text)
    ):
        return text
    return "error"


def error_for(response: Response, what: str) -> Exception:
    """The exception for a non-2xx FxA response to the request described by ``what``."""
    status, url = response.status, response.url
    body = response.json_or_none()
    errno = body.get("errno") if isinstance(body, dict) else None
    errno = errno if isinstance(errno, int) and not isinstance(errno, bool) else None
    if status in (429, 503) or errno in (THROTTLED, SERVICE_UNAVAILABLE, CLIENT_DISABLED):
        now = response.received_at
        until = response.backoff_until or now + DEFAULT_RETRY_AFTER
        unblockable = isinstance(body, dict) and body.get("verificationMethod") == "email-captcha"
        return FxABackoffError(
            f"{what}: the accounts server asked to back off for {until - now:.0f} s"
            f" ({status}, errno {errno})",
            until=until,
            errno=errno,
            status=status,
            url=url,
            retry_after=until - now,
            unblockable=unblockable,
        )
    if not isinstance(body, dict):
        if status == 406 and not response.content.strip():
            return ChallengeRequired(
                f"{what}: the accounts server's front end asks for a browser challenge (406);"
                " sign in with --oauth instead"
            )
        return ProtocolViolation(f"{what}: the accounts server answered {status} without JSON")
    message = f"{what}: {_short(body.get('message') or body.get('error'))} (errno {errno})"
    common: dict[str, Any] = {"errno": errno, "status": status, "url": url}
    if errno == INCORRECT_PASSWORD:
        return IncorrectPassword(f"{what}: incorrect password", **common)
    if errno == INVALID_TOKEN or (errno is None and status == 401):
        return InvalidFxAToken(f"{what}: the accounts server refused the token", **common)
    if errno == UNKNOWN_ACCOUNT:
        return UnknownAccount(f"{what}: no account with that email", **common)
    if errno == INCORRECT_EMAIL_CASE:
        email = body.get("email")
        if not isinstance(email, str) or not email:
            return ProtocolViolation(f"{what}: errno 120 without the account's email")
        return IncorrectEmailCase(message, email=email, **common)
    if errno in (UNVERIFIED_ACCOUNT, UNVERIFIED_SESSION, INSUFFICIENT_AAL):
        return UnverifiedSession(message, **common)
    if errno == REQUEST_BLOCKED:
        return RequestBlocked(
            message, unblockable=body.get("verificationMethod") == "email-captcha", **common
        )
    if errno in (INVALID_UNBLOCK_CODE, INVALID_OTP_CODE):
        return InvalidCode(f"{what}: the code is wrong or expired", **common)
    return FxAError(message, **common)
