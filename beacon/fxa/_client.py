"""The FxA HTTP client: one method per auth-server request a sign-in makes.

Contract (``docs/accounts.md`` §3; fxa ``packages/fxa-auth-server/lib/routes``):

1. :class:`FxAClient` sends each request through beacon's client
   :class:`~beacon.client._transport.Transport` (so the httpx transport is injectable, the
   requests counted and no httpx exception escapes) to ``<auth server>/v1/<path>``.
2. Every 2xx answer is parsed into a model of :mod:`._models`; every other answer becomes the
   one exception :func:`._errors.error_for` chooses. It never retries, except once in the
   wire-form negotiation below, and holds no account state: the account chart decides.
3. Wire form of FxA's own tokens. ``scheme="bearer"`` or ``"hawk"`` fixes it;
   ``scheme="auto"`` (the default) sends the prefixed Bearer form and, when the server refuses
   it with 401 errno 110, sends the same request once more with Hawk (an FxA server older
   than the Bearer strategies answers a correct Bearer token exactly so). Whichever form
   succeeds becomes :attr:`FxAClient.scheme`, which the caller persists per server.
4. Tokens, passwords and keys never appear in a repr, a message or a URL; requests go only
   over https, or plain http to loopback (:func:`._auth.check_secure`): authPW, tokens and
   codes are replayable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel

from beacon._errors import ProtocolViolation, UsageError
from beacon._models import parse_model
from beacon._scoped_keys import SYNC_SCOPE
from beacon.client._transport import Response, Transport
from beacon.fxa._auth import FxATokenAuth, Scheme, check_secure
from beacon.fxa._errors import INVALID_TOKEN, error_for
from beacon.fxa._models import (
    CredentialsStatus,
    EmailStatus,
    KeysResponse,
    LoginResponse,
    OAuthTokenResponse,
    ScopedKeyData,
    SessionStatus,
    TotpVerifyResponse,
)

__all__ = [
    "DEFAULT_AUTH_SERVER",
    "DEFAULT_CLIENT_ID",
    "FxAClient",
    "normalize_auth_server_url",
]

#: Mozilla's production auth server.
DEFAULT_AUTH_SERVER = "https://api.accounts.firefox.com"
#: A public OAuth client allowed the fxa-credentials grant (Lockwise Android's id, which
#: firefox-sync-client uses in practice); configurable everywhere.
DEFAULT_CLIENT_ID = "e7ce535d93522896"

ModelT = TypeVar("ModelT", bound=BaseModel)
Wire = Literal["bearer", "hawk", "auto"]


def normalize_auth_server_url(url: str) -> str:
    """The auth server base without a trailing ``/`` or ``/v1``; ``UsageError`` if not http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise UsageError(f"the auth server URL must be http(s) without a query: {url!r}")
    base = url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class FxAClient:
    """Requests to one FxA auth server (see the module docstring).

    Args:
        transport: beacon's client transport (its clock stamps responses).
        auth_server_url: e.g. :data:`DEFAULT_AUTH_SERVER`; ``/v1`` is added.
        client_id: the OAuth client id for token grants and scoped-key data.
        scheme: ``"auto"``, ``"bearer"`` or ``"hawk"`` (module docstring, item 3).
    """

    def __init__(
        self,
        transport: Transport,
        auth_server_url: str = DEFAULT_AUTH_SERVER,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        scheme: Wire = "auto",
    ) -> None:
        if scheme not in ("bearer", "hawk", "auto"):
            raise UsageError(f"unknown FxA wire form {scheme!r}")
        self._transport = transport
        self.base_url = normalize_auth_server_url(auth_server_url)
        self.client_id = client_id
        self.scheme: Wire = scheme

    def __repr__(self) -> str:
        return f"FxAClient({self.base_url!r}, scheme={self.scheme})"

    @property
    def request_count(self) -> int:
        return self._transport.request_count

    # -- plumbing ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/v1/{path}"

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        auth: FxATokenAuth | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        url = self._url(path)
        # Every FxA request but one carries a secret (authPW, a token, a code): https only,
        # or plain http to loopback.
        check_secure(url)
        content = None if body is None else json.dumps(dict(body)).encode("utf-8")
        headers = {"Content-Type": "application/json"} if content is not None else None
        return self._transport.request(
            method, url, params=query, headers=headers, content=content, auth=auth
        )

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: tuple[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """One request; with ``token`` = (token hex, kind) it carries FxA token auth."""
        what = f"{method} /v1/{path}"
        if token is None:
            response = self._send(method, path, body, query=query)
        else:
            first: Scheme = "hawk" if self.scheme == "hawk" else "bearer"
            auth = FxATokenAuth(token[0], token[1], scheme=first, clock=self._transport.clock)
            response = self._send(method, path, body, auth=auth, query=query)
            if self.scheme == "auto" and _is_invalid_token(response):
                auth.scheme = "hawk"
                retried = self._send(method, path, body, auth=auth, query=query)
                if not _is_invalid_token(retried):
                    # The server knew the token in Hawk form: it is an older server.
                    self.scheme = "hawk"
                    response = retried
            elif self.scheme == "auto" and response.ok:
                self.scheme = "bearer"
        if not response.ok:
            raise error_for(response, what)
        return response

    @staticmethod
    def _parse(model: type[ModelT], response: Response) -> ModelT:
        return parse_model(model, response.content)

    # -- sign-in -------------------------------------------------------------------------------

    def credentials_status(self, email: str) -> CredentialsStatus:
        """``POST /account/credentials/status``: v1 or v2 stretching, and the v2 clientSalt."""
        return self._parse(
            CredentialsStatus, self._call("POST", "account/credentials/status", {"email": email})
        )

    def login(
        self,
        email: str,
        auth_pw: str,
        *,
        unblock_code: str | None = None,
        original_login_email: str | None = None,
        verification_method: str | None = None,
        service: str = "sync",
        reason: str = "login",
    ) -> LoginResponse:
        """``POST /account/login?keys=true`` with the stretched password's authPW (hex)."""
        body: dict[str, Any] = {
            "email": email,
            "authPW": auth_pw,
            "service": service,
            "reason": reason,
        }
        if unblock_code is not None:
            body["unblockCode"] = unblock_code
        if original_login_email is not None:
            body["originalLoginEmail"] = original_login_email
        if verification_method is not None:
            body["verificationMethod"] = verification_method
        response = self._call("POST", "account/login", body, query={"keys": "true"})
        return self._parse(LoginResponse, response)

    def send_unblock_code(self, email: str) -> None:
        """``POST /account/login/send_unblock_code``: FxA emails an unblock code."""
        self._call("POST", "account/login/send_unblock_code", {"email": email})

    # -- session -------------------------------------------------------------------------------

    def session_status(self, session_token: str) -> SessionStatus:
        response = self._call("GET", "session/status", token=(session_token, "sessionToken"))
        return self._parse(SessionStatus, response)

    def email_status(self, session_token: str) -> EmailStatus:
        """``GET /recovery_email/status``: whether the account and session are verified."""
        response = self._call("GET", "recovery_email/status", token=(session_token, "sessionToken"))
        return self._parse(EmailStatus, response)

    def verify_totp(self, session_token: str, code: str, *, service: str = "sync") -> bool:
        """``POST /session/verify/totp``; True when the code verified the session."""
        response = self._call(
            "POST",
            "session/verify/totp",
            {"code": code, "service": service},
            token=(session_token, "sessionToken"),
        )
        return self._parse(TotpVerifyResponse, response).success

    def verify_code(self, session_token: str, code: str, *, service: str = "sync") -> None:
        """``POST /session/verify_code``: an emailed sign-in code (email-otp / email-2fa)."""
        self._call(
            "POST",
            "session/verify_code",
            {"code": code, "service": service},
            token=(session_token, "sessionToken"),
        )

    def resend_code(self, session_token: str) -> None:
        self._call("POST", "session/resend_code", {}, token=(session_token, "sessionToken"))

    def destroy_session(self, session_token: str) -> None:
        """``POST /session/destroy``."""
        self._call("POST", "session/destroy", {}, token=(session_token, "sessionToken"))

    def account_keys(self, key_fetch_token: str) -> bytes:
        """``GET /account/keys``: the 96-byte bundle (verify and unwrap with ``_onepw``)."""
        response = self._call("GET", "account/keys", token=(key_fetch_token, "keyFetchToken"))
        return bytes.fromhex(self._parse(KeysResponse, response).bundle)

    def scoped_key_data(
        self, session_token: str, *, scope: str = SYNC_SCOPE
    ) -> dict[str, ScopedKeyData]:
        """``POST /account/scoped-key-data``: keyRotationTimestamp (ms) per key-bearing scope."""
        response = self._call(
            "POST",
            "account/scoped-key-data",
            {"client_id": self.client_id, "scope": scope},
            token=(session_token, "sessionToken"),
        )
        raw = response.json()
        if not isinstance(raw, dict):
            raise ProtocolViolation("POST /v1/account/scoped-key-data: not a JSON object")
        return {name: parse_model(ScopedKeyData, value) for name, value in raw.items()}

    # -- OAuth ---------------------------------------------------------------------------------

    def token_from_session(
        self,
        session_token: str,
        *,
        scope: str = SYNC_SCOPE,
        access_type: str = "offline",
        ttl: int | None = None,
    ) -> OAuthTokenResponse:
        """``POST /oauth/token`` grant ``fxa-credentials``: access (+ refresh) token."""
        body: dict[str, Any] = {
            "grant_type": "fxa-credentials",
            "client_id": self.client_id,
            "scope": scope,
            "access_type": access_type,
        }
        if ttl is not None:
            body["ttl"] = ttl
        response = self._call("POST", "oauth/token", body, token=(session_token, "sessionToken"))
        return self._parse(OAuthTokenResponse, response)

    def refresh(
        self, refresh_token: str, *, scope: str = SYNC_SCOPE, ttl: int | None = None
    ) -> OAuthTokenResponse:
        """``POST /oauth/token`` grant ``refresh_token``: a new access token."""
        body: dict[str, Any] = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": refresh_token,
            "scope": scope,
        }
        if ttl is not None:
            body["ttl"] = ttl
        return self._parse(OAuthTokenResponse, self._call("POST", "oauth/token", body))

    def exchange_code(
        self, code: str, code_verifier: str, *, redirect_uri: str | None = None
    ) -> OAuthTokenResponse:
        """``POST /oauth/token`` grant ``authorization_code`` with the PKCE verifier."""
        body: dict[str, Any] = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "code": code,
            "code_verifier": code_verifier,
        }
        if redirect_uri is not None:
            body["redirect_uri"] = redirect_uri
        return self._parse(OAuthTokenResponse, self._call("POST", "oauth/token", body))

    def destroy_token(self, token: str) -> None:
        """``POST /oauth/destroy``: revoke a refresh or access token (unknown ones succeed)."""
        self._call("POST", "oauth/destroy", {"client_id": self.client_id, "token": token})


def _is_invalid_token(response: Response) -> bool:
    if response.status != 401:
        return False
    body = response.json_or_none()
    return isinstance(body, dict) and body.get("errno") == INVALID_TOKEN
