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

from datetime import UTC, datetime

from beacon._errors import BeaconError, TransportError
from beacon.charts import action
from beacon.fxa._errors import FxABackoffError, InvalidFxAToken, SignInRequired
from beacon.fxa._oauth_steps import FLOW_LIFETIME, OAuthSteps, authorization_endpoint
from beacon.fxa._password_steps import PasswordSteps
from beacon.fxa._steps import CodeSource, Intent, RedirectSource

__all__ = ["AccountService", "CodeSource", "Intent", "RedirectSource", "authorization_endpoint"]


def _utc(when: float) -> str:
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class AccountService(PasswordSteps, OAuthSteps):
    """Actions of the account chart for one run (see the module docstring); the password and
    OAuth routes' steps are inherited from ``_password_steps`` and ``_oauth_steps``."""

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
            pending = stored.pending if stored is not None else None
            if stored is not None and pending and now - pending.started_at < FLOW_LIFETIME:
                self.state = stored
            else:
                self._replaced = stored  # its tokens are destroyed as the new flow starts
                self.state = self._fresh(stored)
        else:
            if stored is None:
                return "signed_out"
            self.state = stored
        state = self.state
        if state.backoff_until is not None and state.backoff_until > now:
            self.error = FxABackoffError(
                "the accounts server asked to back off: no request before"
                f" {_utc(state.backoff_until)}",
                until=state.backoff_until,
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
