"""What every step of the account chart shares: the run's inputs, the state, failures.

Contract: :class:`Steps` holds one run's inputs (intent, email, password, code and redirect
sources, clock, randomness) and the :class:`~._state.AccountState` being advanced. Its
helpers save the state (with the wire form the client settled on), turn a failure into the
outcome ``backoff`` (deadline saved), ``network_error`` or ``failed`` (the error kept for the
caller), and accept a token grant. The steps themselves are in ``_password_steps``,
``_oauth_steps`` and ``_service``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Literal

from beacon._errors import BackoffError, BeaconError, ProtocolViolation, TransportError, UsageError
from beacon._scoped_keys import SYNC_SCOPE
from beacon.fxa._client import FxAClient
from beacon.fxa._models import OAuthTokenResponse
from beacon.fxa._state import AccountState
from beacon.fxa._store import CredentialStore

__all__ = ["Clock", "CodeSource", "Intent", "RedirectSource", "Steps"]

Intent = Literal["sign_in", "oauth", "credentials", "sign_out"]
CodeSource = Callable[[str], str | None]
RedirectSource = Callable[[str], str | None]
Clock = Callable[[], float]


class Steps:
    """One run's inputs and state, and the helpers every step uses."""

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
            raise UsageError("signing in with a password needs the email and the password")
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
        return f"{type(self).__name__}(intent={self.intent})"

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

    def _destroy_replaced(self) -> None:
        """Best effort: the account this sign-in replaces leaves no live tokens behind.

        Raises:
            BackoffError: the server asked for a pause (429/503 + Retry-After): no further
                request goes out, not even the other destroys (their tokens stay live).
        """
        old, self._replaced = self._replaced, None
        if old is None:
            return
        for token in (old.refresh_token, old.access_token):
            if token:
                self._best_effort(self._client.destroy_token, token)
        if old.session_token:
            self._best_effort(self._client.destroy_session, old.session_token)

    @staticmethod
    def _best_effort(call: Callable[[str], object], token: str) -> None:
        try:
            call(token)
        except BackoffError:
            raise
        except BeaconError:
            pass  # an expired or unknown token is already what was wanted
