"""The password route's steps: stretch and log in, verify, fetch and unwrap kB, get tokens.

Contract: see ``_service`` (failures are outcomes; each step saves what it reached). The
password is dropped once a login succeeds; unwrapBKey and the key-fetch token once kB is
derived. v2 stretching is used when ``credentials/status`` says the account has a clientSalt.
"""

from __future__ import annotations

from beacon._errors import BackoffError, BeaconError, ProtocolViolation, TrustError
from beacon._onepw import PasswordKeys, token_credentials, unbundle_keys, unwrap_kb
from beacon._scoped_keys import oldsync_key
from beacon.charts import action
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
from beacon.fxa._steps import Steps

__all__ = ["PasswordSteps"]


class PasswordSteps(Steps):
    """separated → engaged_before_verified → engaged_after_verified → cohabiting → minting."""

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
        # The bundle of the other version would unwrap to a wrong kB without any error.
        key_fetch = login.keyFetchTokenVersion2 if keys.version == 2 else login.keyFetchToken
        if key_fetch is None:
            self.error = ProtocolViolation(
                f"the login answer carried no key-fetch token for v{keys.version} stretching"
            )
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
        # Only now is the stored account replaced: a sign-in that stopped earlier (blocked,
        # a wrong password, a pause) leaves it as it was, married and usable.
        try:
            self._destroy_replaced()
        except BackoffError as exc:
            return self._failure(exc)  # the new session is saved; the pause is kept with it
        return "verified" if login.verified else "unverified"

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
