"""The account chart's service (statecharts/account.yaml): each action one step of a sign-in.

Contract:

* One :class:`AccountService` serves one run with one *intent*: ``sign_in`` (a password is
  given), ``oauth`` (the code route), ``credentials`` (use what is stored, refreshing the
  access token) or ``sign_out``. ``recall_account`` reads the stored
  :class:`~._state.AccountState` and answers with the status to resume from; every other
  action does at most a few requests, saves the state it reached before returning, and
  returns the outcome that is the chart's next event.
* Failures are outcomes, never exceptions: a 429/503 is ``backoff`` (its deadline saved and
  honoured by the next ``recall_account`` without a request), a transport failure
  ``network_error``, a refused session, key-fetch or refresh token the way to the
  doghouse, anything else ``failed``; :attr:`AccountService.error` keeps the exception for
  the caller. A trust failure (a bundle or JWE that does not verify) is ``failed``.
* Codes come from a ``codes(kind)`` callable (``"totp"``, ``"email"``, ``"unblock"``) that
  returns a code or ``None``; the OAuth redirect from ``redirect(url)``. ``None`` ends the run
  in ``verification_required`` / ``authorization_required`` with the state saved, so a later
  run carries on where this one stopped.
* The password is kept in memory only until a login succeeds; unwrapBKey and the key-fetch
  token only until kB is derived.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from beacon._errors import BackoffError, BeaconError, ProtocolViolation, TransportError, TrustError
from beacon._onepw import PasswordKeys, token_credentials, unbundle_keys, unwrap_kb
from beacon._scoped_keys import SYNC_SCOPE, KeysJwk, b64url, oldsync_key, pkce_pair
from beacon.charts import action
from beacon.fxa._client import FxAClient
from beacon.fxa._errors import (
    FxABackoffError,
    FxAError,
    IncorrectEmailCase,
    IncorrectPassword,
    InvalidCode,
    InvalidFxAToken,
    RequestBlocked,
    SignInRequired,
    UnverifiedSession,
)
from beacon.fxa._models import OAuthTokenResponse
from beacon.fxa._state import AccountState, PendingAuthorization
from beacon.fxa._store import CredentialStore

__all__ = ["AccountService", "CodeSource", "Intent", "RedirectSource", "authorization_endpoint"]

Intent = Literal["sign_in", "oauth", "credentials", "sign_out"]
CodeSource = Callable[[str], str | None]
RedirectSource = Callable[[str], str | None]
Clock = Callable[[], float]

_PRODUCTION_API = "https://api.accounts.firefox.com"


def authorization_endpoint(auth_server_url: str) -> str:
    """Where the user approves the code flow: accounts.firefox.com for Mozilla's servers, the
    auth server's own ``/authorization`` page otherwise (the embedded stand-in serves one)."""
    base = auth_server_url.rstrip("/")
    if base == _PRODUCTION_API:
        return "https://accounts.firefox.com/authorization"
    return base + "/authorization"


class AccountService:
    """Actions of the account chart for one run (see the module docstring)."""

    def __init__(
        self,
        store: CredentialStore,
        client: FxAClient,
        *,
        intent: Intent,
        email: str | None = None,
        password: str | None = None,
        codes: CodeSource | None = None,
        unblock_code: str | None = None,
        redirect: RedirectSource | None = None,
        redirect_uri: str | None = None,
        clock: Clock = time.time,
        rng: Callable[[int], bytes] = os.urandom,
        min_validity: float = 300.0,
        scope: str = SYNC_SCOPE,
        force_refresh: bool = False,
    ) -> None:
        if intent == "sign_in" and (not email or not password):
            raise ValueError("signing in with a password needs the email and the password")
        self._store = store
        self._client = client
        self.intent: Intent = intent
        self._email = email
        self._password = password
        self._codes = codes
        self._unblock_code = unblock_code
        self._redirect = redirect
        self._redirect_uri = redirect_uri
        self._clock = clock
        self._rng = rng
        self._min_validity = min_validity
        self._scope = scope
        self._force_refresh = force_refresh
        self._login_email = email
        self._original_email: str | None = None
        self._oauth_code: str | None = None
        self._server_email: str | None = None
        self._replaced: AccountState | None = None
        self._reason = "signed_out"
        self.state: AccountState | None = None
        self.error: BeaconError | None = None

    def __repr__(self) -> str:
        return f"AccountService(intent={self.intent})"

    # -- helpers -----------------------------------------------------------------------------

    def _state(self) -> AccountState:
        if self.state is None:  # pragma: no cover - recall_account always runs first
            raise RuntimeError("the account chart runs recall_account first")
        return self.state

    def _save(self) -> None:
        state = self._state()
        state.scheme = self._client.scheme
        self._store.save(state)

    def _fresh(self, previous: AccountState | None) -> AccountState:
        state = AccountState(
            auth_server_url=self._client.base_url,
            client_id=self._client.client_id,
            email=self._email,
        )
        if previous is not None and previous.auth_server_url == state.auth_server_url:
            state.backoff_until = previous.backoff_until
            state.scheme = previous.scheme
        return state

    def _failure(self, exc: BeaconError) -> str:
        """``backoff`` (deadline saved), ``network_error`` or ``failed``; keeps the error."""
        self.error = exc
        if isinstance(exc, BackoffError):
            state = self._state()
            state.backoff_until = max(exc.until, state.backoff_until or 0.0)
            self._save()
            return "backoff"
        if isinstance(exc, TransportError):
            return "network_error"
        return "failed"

    def _to_doghouse(self, reason: str, exc: BeaconError) -> None:
        self._reason = reason
        self.error = exc

    def _take_code(self, kind: str) -> str | None:
        code = self._codes(kind) if self._codes is not None else None
        return code.strip() if isinstance(code, str) and code.strip() else None

    def _accept_tokens(self, tokens: OAuthTokenResponse, *, need_refresh: bool) -> None:
        if self._scope not in tokens.scope.split():
            raise ProtocolViolation("the token grant did not include the Sync scope")
        if need_refresh and not tokens.refresh_token:
            raise ProtocolViolation("the token grant did not include a refresh token")
        state = self._state()
        state.access_token = tokens.access_token
        state.access_token_expires_at = self._clock() + tokens.expires_in
        if tokens.refresh_token:
            state.refresh_token = tokens.refresh_token

    # -- recalling ---------------------------------------------------------------------------

    @action(
        "separated",
        "engaged_before_verified",
        "engaged_after_verified",
        "cohabiting",
        "token_fresh",
        "token_expired",
        "oauth",
        "sign_out",
        "doghouse",
        "signed_out",
        "backoff",
    )
    def recall_account(self) -> str:
        """Where this run starts, from the stored state and the intent; no request."""
        stored = self._store.load()
        server = self._client.base_url
        if stored is not None and stored.auth_server_url != server:
            # A new sign-in elsewhere replaces the account; the other intents are run against
            # the stored account's own server (FirefoxAccount picks it).
            stored = None if self.intent in ("sign_in", "oauth") else stored
        if self.intent == "sign_out":
            if stored is None:
                return "signed_out"
            self.state = stored
            return "sign_out"
        if stored is not None and stored.scheme != "auto" and self._client.scheme == "auto":
            self._client.scheme = stored.scheme
        now = self._clock()
        if self.intent == "sign_in":
            # A password given means a new login: the stored account is replaced (its
            # session and refresh token are destroyed by sign_in, best effort).
            self._replaced = stored
            self.state = self._fresh(stored)
        elif self.intent == "oauth":
            keep = stored is not None and stored.pending is not None
            self.state = stored if keep and stored is not None else self._fresh(stored)
        else:
            if stored is None:
                return "signed_out"
            self.state = stored
        state = self.state
        if state.backoff_until is not None and state.backoff_until > now:
            self.error = FxABackoffError(
                "the accounts server asked to back off", until=state.backoff_until
            )
            return "backoff"
        if self.intent == "oauth":
            return "oauth"
        if state.status == "married":
            expires = state.access_token_expires_at or 0.0
            fresh = state.access_token and expires - self._min_validity > now
            if fresh and not self._force_refresh:
                return "token_fresh"
            return "token_expired"
        if state.status == "doghouse":
            self.error = SignInRequired(
                "the account must sign in again"
                f" ({state.doghouse_reason or 'credentials refused'})",
                reason=state.doghouse_reason or "credentials_refused",
            )
            return "doghouse"
        if state.status == "separated":
            if self.intent == "credentials":
                return "signed_out"
            return "separated"
        return state.status

    # -- the password route ------------------------------------------------------------------

    def _password_keys(self, email: str, password: str) -> PasswordKeys:
        """v2 when the account has a clientSalt, v1 (salted with ``email``) otherwise."""
        try:
            status = self._client.credentials_status(email)
        except FxABackoffError:
            raise
        except (FxAError, ProtocolViolation):
            # Unknown accounts and accounts without a password answer errors here; the login
            # itself then says what is wrong (PyFxA falls back to v1 the same way).
            return PasswordKeys.v1(password, email)
        if status.currentVersion == "v2" and status.clientSalt:
            return PasswordKeys.v2(password, status.clientSalt)
        return PasswordKeys.v1(password, email)

    @action(
        "verified",
        "unverified",
        "wrong_email_case",
        "blocked",
        "bad_code",
        "incorrect_password",
        "backoff",
        "network_error",
        "failed",
    )
    def sign_in(self) -> str:
        """Stretch, then ``POST /account/login?keys=true``."""
        state = self._state()
        self._destroy_replaced()
        email, password = self._login_email, self._password
        if not email or not password:
            self.error = SignInRequired("signing in needs the password", reason="no_password")
            return "failed"
        try:
            keys = self._password_keys(email, password)
            login = self._client.login(
                email,
                keys.auth_pw_hex,
                unblock_code=self._unblock_code,
                original_login_email=self._original_email,
            )
        except IncorrectEmailCase as exc:
            self._server_email = exc.email
            self.error = exc
            return "wrong_email_case"
        except IncorrectPassword as exc:
            self.error = exc
            return "incorrect_password"
        except RequestBlocked as exc:
            self.error = exc
            return "blocked" if exc.unblockable else "failed"
        except FxABackoffError as exc:
            if exc.unblockable and self._unblock_code is None:
                self.error = exc
                return "blocked"
            return self._failure(exc)
        except InvalidCode as exc:
            self.error = exc
            return "bad_code"
        except BeaconError as exc:
            return self._failure(exc)
        key_fetch = login.keyFetchTokenVersion2 if keys.version == 2 else login.keyFetchToken
        if key_fetch is None:
            key_fetch = login.keyFetchToken or login.keyFetchTokenVersion2
            if key_fetch is None:
                self.error = ProtocolViolation("the login answer carried no key-fetch token")
                return "failed"
        self._password = None
        self._unblock_code = None
        state.email = email
        state.uid = login.uid
        state.session_token = login.sessionToken
        state.key_fetch_token = key_fetch
        state.key_fetch_version = keys.version
        state.unwrap_b_key = keys.unwrap_b_key.hex()
        state.verified = login.verified
        state.verification_method = login.verificationMethod
        state.auth_at = login.authAt
        state.backoff_until = None
        state.status = "engaged_after_verified" if login.verified else "engaged_before_verified"
        self._save()
        return "verified" if login.verified else "unverified"

    def _destroy_replaced(self) -> None:
        """Best effort: the account this sign-in replaces leaves no live tokens behind."""
        old, self._replaced = self._replaced, None
        if old is None:
            return
        for token in (old.refresh_token, old.access_token):
            if token:
                with contextlib.suppress(BeaconError):
                    self._client.destroy_token(token)
        if old.session_token:
            with contextlib.suppress(BeaconError):
                self._client.destroy_session(old.session_token)

    @action("ok")
    def adopt_server_email(self) -> str:
        """errno 120: stretch again with the email the account has on record."""
        self._original_email = self._email
        self._login_email = self._server_email
        self.error = None
        return "ok"

    @action("code", "no_code", "backoff", "network_error", "failed")
    def request_unblock(self) -> str:
        """Ask FxA to email an unblock code, then ask the user for it."""
        email = self._login_email
        if email is None:  # pragma: no cover - sign_in ran with an email
            return "failed"
        try:
            self._client.send_unblock_code(email)
        except BeaconError as exc:
            return self._failure(exc)
        code = self._take_code("unblock")
        if code is None:
            return "no_code"
        self._unblock_code = code
        self.error = None
        return "code"

    @action(
        "verified",
        "bad_code",
        "code_required",
        "session_invalid",
        "backoff",
        "network_error",
        "failed",
    )
    def verify_session(self) -> str:
        """Finish the verification the server asked for (TOTP, emailed code, or a link)."""
        state = self._state()
        session = state.session_token
        if session is None:
            self._to_doghouse("session_missing", SignInRequired("no session", reason="session"))
            return "session_invalid"
        method = state.verification_method
        kind = "totp" if method == "totp-2fa" else "email"
        try:
            code = self._take_code(kind) if method not in (None, "email") else None
            if code is None:
                # Perhaps verified meanwhile (a link clicked, another device).
                if not self._client.email_status(session).verified:
                    self.error = UnverifiedSession(
                        "the sign-in must be verified"
                        f" ({method or 'email link'}): give the code with --code"
                    )
                    return "code_required"
            elif method == "totp-2fa":
                if not self._client.verify_totp(session, code):
                    self.error = InvalidCode("the authenticator code was not accepted")
                    return "bad_code"
            else:
                self._client.verify_code(session, code)
        except InvalidCode as exc:
            self.error = exc
            return "bad_code"
        except InvalidFxAToken as exc:
            self._to_doghouse("session_revoked", exc)
            return "session_invalid"
        except BeaconError as exc:
            return self._failure(exc)
        state.verified = True
        state.status = "engaged_after_verified"
        self.error = None
        self._save()
        return "verified"

    @action("ok")
    def report_bad_code(self) -> str:
        """A wrong code: the next ``verify_session`` asks the code source again."""
        return "ok"

    @action("ok", "unverified", "token_invalid", "backoff", "network_error", "failed")
    def fetch_keys(self) -> str:
        """``GET /account/keys``: verify and unwrap the bundle; kB = wrapKB ⊕ unwrapBKey."""
        state = self._state()
        token, unwrap = state.key_fetch_token, state.unwrap_b_key
        if token is None or unwrap is None:
            self._to_doghouse(
                "keys_unavailable", SignInRequired("no key-fetch token", reason="keys")
            )
            return "token_invalid"
        try:
            bundle = self._client.account_keys(token)
            _ka, wrapped = unbundle_keys(
                token_credentials(token, "keyFetchToken").bundle_key, bundle
            )
        except UnverifiedSession as exc:
            self.error = exc
            state.verified = False
            state.status = "engaged_before_verified"
            self._save()
            return "unverified"
        except InvalidFxAToken as exc:
            self._to_doghouse("key_fetch_token_refused", exc)
            return "token_invalid"
        except TrustError as exc:
            return self._failure(exc)
        except BeaconError as exc:
            return self._failure(exc)
        state.kb = unwrap_kb(wrapped, bytes.fromhex(unwrap)).hex()
        state.key_fetch_token = None
        state.unwrap_b_key = None
        state.status = "cohabiting"
        self._save()
        return "ok"

    @action("ok", "unverified", "session_invalid", "backoff", "network_error", "failed")
    def fetch_key_data(self) -> str:
        """``POST /account/scoped-key-data``: keyRotationTimestamp → kid and keys_changed_at."""
        state = self._state()
        if state.session_token is None or state.kb is None:
            self._to_doghouse("keys_unavailable", SignInRequired("no session", reason="keys"))
            return "session_invalid"
        try:
            data = self._client.scoped_key_data(state.session_token, scope=self._scope)
            entry = data.get(self._scope)
            if entry is None:
                raise ProtocolViolation("scoped-key data did not include the Sync scope")
        except UnverifiedSession as exc:
            self.error = exc
            return "unverified"
        except InvalidFxAToken as exc:
            self._to_doghouse("session_revoked", exc)
            return "session_invalid"
        except BeaconError as exc:
            return self._failure(exc)
        key = oldsync_key(bytes.fromhex(state.kb), entry.keyRotationTimestamp)
        state.ksync = key.k.hex()
        state.kid = key.kid
        state.keys_changed_at = entry.keyRotationTimestamp
        self._save()
        return "ok"

    @action("ok", "unverified", "session_invalid", "backoff", "network_error", "failed")
    def grant_tokens(self) -> str:
        """``POST /oauth/token`` grant fxa-credentials, offline: access + refresh token."""
        state = self._state()
        if state.session_token is None:  # pragma: no cover - cohabiting holds a session
            return "session_invalid"
        try:
            tokens = self._client.token_from_session(state.session_token, scope=self._scope)
            self._accept_tokens(tokens, need_refresh=True)
        except UnverifiedSession as exc:
            self.error = exc
            return "unverified"
        except InvalidFxAToken as exc:
            self._to_doghouse("session_revoked", exc)
            return "session_invalid"
        except BeaconError as exc:
            return self._failure(exc)
        state.status = "married"
        self._save()
        return "ok"

    @action("ok", "refresh_invalid", "backoff", "network_error", "failed")
    def refresh_access_token(self) -> str:
        """The refresh grant; a refused refresh token (password changed elsewhere, revoked)
        sends the account to the doghouse."""
        state = self._state()
        if state.refresh_token is None:
            self._to_doghouse(
                "no_refresh_token", SignInRequired("no refresh token", reason="refresh")
            )
            return "refresh_invalid"
        try:
            self._accept_tokens(
                self._client.refresh(state.refresh_token, scope=self._scope), need_refresh=False
            )
        except InvalidFxAToken as exc:
            self._to_doghouse("refresh_token_revoked", exc)
            return "refresh_invalid"
        except BeaconError as exc:
            return self._failure(exc)
        self._save()
        return "ok"

    # -- the OAuth code route ------------------------------------------------------------------

    def _begin_flow(self) -> PendingAuthorization:
        verifier, challenge = pkce_pair(self._rng)
        flow = KeysJwk.generate()
        state_param = b64url(self._rng(16))
        query = {
            "client_id": self._client.client_id,
            "scope": f"profile {self._scope}",
            "state": state_param,
            "response_type": "code",
            "access_type": "offline",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "keys_jwk": flow.public,
            "action": "email",
        }
        if self._redirect_uri is not None:
            query["redirect_uri"] = self._redirect_uri
        if self._email:
            query["email"] = self._email
        url = authorization_endpoint(self._client.base_url) + "?" + urlencode(query)
        return PendingAuthorization(
            state=state_param,
            code_verifier=verifier,
            private_jwk=flow.private_jwk(),
            url=url,
            started_at=self._clock(),
        )

    @property
    def authorization_url(self) -> str | None:
        """The URL the user must open, once ``await_authorization`` made it."""
        state = self.state
        return None if state is None or state.pending is None else state.pending.url

    @action("redirected", "no_redirect", "failed")
    def await_authorization(self) -> str:
        """Make (or resume) the code flow, then read the redirect the browser came back with."""
        state = self._state()
        if state.pending is None:
            state.pending = self._begin_flow()
            self._save()
        pending = state.pending
        answer = self._redirect(pending.url) if self._redirect is not None else None
        if not answer:
            self.error = None
            return "no_redirect"
        params = parse_qs(urlsplit(answer.strip()).query)
        if "error" in params:
            self.error = FxAError(f"the authorization was refused ({params['error'][0][:40]})")
            return "failed"
        got_state = params.get("state", [""])[0]
        code = params.get("code", [""])[0]
        if got_state != pending.state:
            self.error = TrustError("the redirect's state does not match this sign-in")
            return "failed"
        if not code:
            self.error = ProtocolViolation("the redirect carries no code")
            return "failed"
        self._oauth_code = code
        return "redirected"

    @action("ok", "backoff", "network_error", "failed")
    def exchange_code(self) -> str:
        """Code + PKCE verifier → tokens and ``keys_jwe`` → kSync and kid (decrypted here)."""
        state = self._state()
        pending = state.pending
        if pending is None or self._oauth_code is None:  # pragma: no cover - chart order
            return "failed"
        try:
            tokens = self._client.exchange_code(
                self._oauth_code, pending.code_verifier, redirect_uri=self._redirect_uri
            )
            if not tokens.keys_jwe:
                raise ProtocolViolation("the code exchange returned no keys_jwe")
            keys = KeysJwk.from_private(pending.private_jwk).decrypt(tokens.keys_jwe)
            key = keys.get(self._scope)
            if key is None or len(key.k) != 64:
                raise ProtocolViolation("keys_jwe holds no 64-byte Sync key")
            self._accept_tokens(tokens, need_refresh=True)
        except BeaconError as exc:
            return self._failure(exc)
        state.ksync = key.k.hex()
        state.kid = key.kid
        state.keys_changed_at = key.keys_changed_at
        state.pending = None
        state.status = "married"
        state.backoff_until = None
        self._save()
        return "ok"

    # -- leaving ---------------------------------------------------------------------------------

    @action("ok", "network_error")
    def destroy_credentials(self) -> str:
        """Destroy the refresh token, the access token and the session; forget locally."""
        state = self._state()
        unreachable = False
        for token in (state.refresh_token, state.access_token):
            if token:
                try:
                    self._client.destroy_token(token)
                except TransportError as exc:
                    unreachable, self.error = True, exc
                except BeaconError:
                    pass  # already invalid: nothing to destroy
        if state.session_token:
            try:
                self._client.destroy_session(state.session_token)
            except TransportError as exc:
                unreachable, self.error = True, exc
            except BeaconError:
                pass
        self._store.clear()
        return "network_error" if unreachable else "ok"

    @action("ok")
    def drop_credentials(self) -> str:
        """The doghouse: drop every token and key, keep who and why; the run ends."""
        state = self._state()
        state.drop_secrets()
        state.status = "doghouse"
        state.verified = False
        state.doghouse_reason = self._reason
        self._save()
        self.error = SignInRequired(
            f"sign in again: the accounts server refused the credentials ({self._reason})",
            reason=self._reason,
        )
        return "ok"
