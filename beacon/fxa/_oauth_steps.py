"""The OAuth code route's steps: PKCE + keys_jwk out, the redirect back, kSync + kid in.

Contract: see ``_service``. ``await_authorization`` makes the flow (state, PKCE verifier, an
ephemeral P-256 key) once and saves it, so the URL can be shown in one run and the redirect
pasted in another (for up to :data:`FLOW_LIFETIME`); the redirect's ``state`` must match (a
:class:`~beacon.TrustError` otherwise). ``exchange_code`` decrypts ``keys_jwe`` with the
flow's key. A flow that fails (refused, forged, a bad code or JWE) is dropped: the next run
starts afresh rather than replaying it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from beacon._errors import BackoffError, BeaconError, ProtocolViolation, TrustError
from beacon._scoped_keys import KeysJwk, b64url, pkce_pair
from beacon.charts import action
from beacon.fxa._errors import FxAError
from beacon.fxa._state import PendingAuthorization
from beacon.fxa._steps import Steps

__all__ = ["FLOW_LIFETIME", "OAuthSteps", "authorization_endpoint"]

#: Seconds a started code flow waits for its redirect across runs (FxA's codes live minutes;
#: the flow itself is only beacon's secret state).
FLOW_LIFETIME = 3600.0

_PRODUCTION_API = "https://api.accounts.firefox.com"


def authorization_endpoint(auth_server_url: str) -> str:
    """Where the user approves the code flow: accounts.firefox.com for Mozilla's servers, the
    auth server's own ``/authorization`` page otherwise (the embedded stand-in serves one)."""
    base = auth_server_url.rstrip("/")
    if base == _PRODUCTION_API:
        return "https://accounts.firefox.com/authorization"
    return base + "/authorization"


class OAuthSteps(Steps):
    """authorizing → exchanging."""

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

    def _abandon(self, exc: BeaconError) -> str:
        """A flow that cannot finish is dropped, so the next run starts a fresh one."""
        state = self._state()
        state.pending = None
        self._save()
        self.error = exc
        return "failed"

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
            # Saving the new flow overwrites the stored account: its tokens go first.
            try:
                self._destroy_replaced()
            except BackoffError as exc:
                self._failure(exc)  # the pause is saved; this flow starts after it
                return "failed"
            state.pending = self._begin_flow()
            self._save()
        pending = state.pending
        answer = self._redirect(pending.url) if self._redirect is not None else None
        if not answer:
            self.error = None
            return "no_redirect"
        params = parse_qs(urlsplit(answer.strip()).query)
        if "error" in params:
            refused = params["error"][0][:40]
            return self._abandon(FxAError(f"the authorization was refused ({refused})"))
        got_state = params.get("state", [""])[0]
        code = params.get("code", [""])[0]
        if got_state != pending.state:
            return self._abandon(TrustError("the redirect's state does not match this sign-in"))
        if not code:
            return self._abandon(ProtocolViolation("the redirect carries no code"))
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
            outcome = self._failure(exc)
            return self._abandon(exc) if outcome == "failed" else outcome
        state.ksync = key.k.hex()
        state.kid = key.kid
        state.keys_changed_at = key.keys_changed_at
        state.pending = None
        state.status = "married"
        state.backoff_until = None
        self._save()
        return "ok"
