"""Faults of the FxA stand-in, on demand: ``svc.faults.fxa`` and ``/__admin__/fxa/faults/<name>``.

Every method names the account by email (case-insensitive) and works without HTTP:

``unverified_next_login(email)``
    The next login gets an unverified session (``email-otp``; the code from ``codes``).
``require_totp(email)``
    The account turns on two-step authentication: every login must verify with ``totp-2fa``.
``block_next_login(email)``
    The next login is refused with errno 125 until it carries an emailed unblock code.
``change_password(email, new_password)``
    The password changed elsewhere: kB kept, sessions destroyed, refresh and access tokens
    revoked, generation moved on.
``reset_account(email, new_password)``
    A password reset without a recovery key: a new kB, keys_changed_at moved on, every
    session and OAuth token revoked. Devices must sign in again and meet new keys.
``revoke_sessions(email)``
    Every session and key-fetch token of the account is destroyed (OAuth tokens survive).
``revoke_refresh_tokens(email)``
    Every refresh and access token of the account is revoked.
``expire_access_tokens(email)``
    Every access token issued so far counts as expired at the token server.
``throttle(count=1, *, retry_after=30, path_contains=None)``
    The next ``count`` FxA requests (those whose path contains ``path_contains``) are answered
    429 errno 114 with ``Retry-After``.
``clear_throttle()``
    Drop every pending 429 (a quiet period).
``email_case(email, stored, password)``
    The account's email becomes ``stored`` (another case, as after a primary-email change)
    and its v1 credentials are salted with it: a v1 login typed as ``email`` meets errno 120
    and must retry with the stored email. kB is kept.
``hawk_only(enabled=True)``
    The stand-in behaves as an FxA server older than the Bearer form: Bearer is refused with
    401 errno 110, Hawk accepted.
``codes(email) -> dict``
    What the user would read: ``email_code``, ``sign_in_code``, ``unblock_code``,
    ``totp_code`` (current).
``create_account(email, password, *, verified=True, v2=True, totp=False) -> dict``
    A new account (``uid``, ``email``); kB is chosen by the stand-in and returned as hex only
    through Python (``svc.fxa.create_account``), never over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from beacon._errors import UsageError
from beacon.server._core import Core
from beacon.server._fxa import FxA, FxAHTTPError

__all__ = ["FAULT_NAMES", "FxAFaults", "admin_fxa_fault"]


class FxAFaults:
    """See the module docstring."""

    def __init__(self, fxa: FxA) -> None:
        self._fxa = fxa

    def __repr__(self) -> str:
        return "FxAFaults(...)"

    def unverified_next_login(self, email: str) -> None:
        self._fxa.set_flag(email, "unverified_next_login")

    def require_totp(self, email: str) -> None:
        self._fxa.uid_of(email)
        self._fxa.enable_totp(email)

    def block_next_login(self, email: str) -> None:
        self._fxa.set_flag(email, "block_next_login")

    def change_password(self, email: str, new_password: str) -> None:
        self._fxa.change_password(email, new_password)

    def reset_account(self, email: str, new_password: str) -> None:
        self._fxa.reset_account(email, new_password)

    def revoke_sessions(self, email: str) -> None:
        self._fxa.revoke_sessions(self._fxa.uid_of(email))

    def revoke_refresh_tokens(self, email: str) -> None:
        self._fxa.revoke_oauth(self._fxa.uid_of(email))

    def expire_access_tokens(self, email: str) -> None:
        self._fxa.accounts.expire_access_tokens(self._fxa.uid_of(email))

    def throttle(
        self, count: int = 1, *, retry_after: int = 30, path_contains: str | None = None
    ) -> None:
        if count < 1 or retry_after < 0:
            raise UsageError("throttle needs count >= 1 and retry_after >= 0")
        self._fxa.throttle.add(count, retry_after=retry_after, path_contains=path_contains)

    def clear_throttle(self) -> None:
        self._fxa.throttle.clear()

    def email_case(self, email: str, stored: str, password: str) -> None:
        self._fxa.uid_of(email)
        self._fxa.set_email(email, stored, password)

    def hawk_only(self, enabled: bool = True) -> None:
        self._fxa.hawk_only = bool(enabled)

    def codes(self, email: str) -> dict[str, Any]:
        return self._fxa.codes(email)

    def create_account(
        self,
        email: str,
        password: str,
        *,
        verified: bool = True,
        v2: bool = True,
        totp: bool = False,
    ) -> dict[str, Any]:
        try:
            account = self._fxa.create_account(email, password, verified=verified, v2=v2, totp=totp)
        except FxAHTTPError as exc:
            raise UsageError(exc.message) from None
        return {"uid": account.uid, "email": account.email}


FAULT_NAMES = frozenset(
    name for name in vars(FxAFaults) if not name.startswith("_") and callable(vars(FxAFaults)[name])
)


async def admin_fxa_fault(request: Request) -> Response:
    from beacon.server._admin import _authorized

    core: Core = request.app.state.core
    if (refusal := _authorized(core, request)) is not None:
        return refusal
    name = request.path_params["name"]
    if name not in FAULT_NAMES:
        return JSONResponse({"error": "unknown fault"}, 404)
    raw = await request.body()
    try:
        kwargs = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return JSONResponse({"error": "the body must be a JSON object"}, 400)
    if not isinstance(kwargs, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, 400)
    try:
        result = getattr(FxAFaults(core.fxa), name)(**kwargs)
    except (TypeError, UsageError) as exc:
        return JSONResponse(
            {"error": str(exc) if isinstance(exc, UsageError) else "bad arguments"}, 400
        )
    return JSONResponse({"result": result})
