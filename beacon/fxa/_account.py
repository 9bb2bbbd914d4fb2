"""``FirefoxAccount``: the library's front door to one Firefox account.

Contract:

* Each method runs ``statecharts/account.yaml`` once, bound to one
  :class:`~._service.AccountService` with the method's intent, over the object's one
  :class:`~beacon.client._transport.Transport` (real HTTP, or the injected httpx transport;
  ``close()`` or the context manager closes it),
  and returns an :class:`AccountResult`: the final state (``married``, ``doghouse``,
  ``verification_required``, ...), the states entered, the JSON trace (names only) and the
  error that explains a final other than ``married``/``signed_out``.
* :meth:`FirefoxAccount.credentials` (and :func:`sync_credentials`) is what ``beacon sync``
  needs: from a married account, the access token (refreshed with the refresh token when it
  expires within ``min_validity`` seconds), kB when the password route gave it, kSync and
  kid (X-KeyID) and keys_changed_at; it raises the run's error otherwise
  (:class:`~._errors.SignInRequired` from the doghouse).
* Refreshes, continued sign-ins and sign-outs go to the server and client id the account
  signed in with, whatever ``auth_server_url`` says; a new sign-in replaces the stored
  account (one account per store).
* ``credentials(refresh=True)`` forces the refresh grant: for a Sync run whose token the token
  server refused (the token chart's one credentials refresh).
* :meth:`FirefoxAccount.report_keys_changed` sends a married account to the doghouse when Sync
  finds the keys no longer match (the token server refuses the key id, crypto/keys do not
  verify): the user must sign in again, and no run loops on the stale keys.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from beacon._errors import BeaconError, UsageError
from beacon.charts import Chart, Trace, bind, chart_path, load_chart
from beacon.client import Engine, SyncClient
from beacon.client._transport import Transport
from beacon.fxa._client import DEFAULT_AUTH_SERVER, DEFAULT_CLIENT_ID, FxAClient, Wire
from beacon.fxa._errors import SignInRequired
from beacon.fxa._service import AccountService, CodeSource, Intent, RedirectSource
from beacon.fxa._store import CredentialStore

__all__ = [
    "AccountResult",
    "AccountTokenSource",
    "FirefoxAccount",
    "SyncCredentials",
    "sync_client",
    "sync_credentials",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class SyncCredentials:
    """What Sync needs from a married account. The repr hides the token and the keys.

    ``kb`` is ``None`` on the OAuth code route, which hands out kSync only; ``kid`` is the
    ``X-KeyID`` either way.
    """

    access_token: str = field(repr=False)
    ksync: bytes = field(repr=False)
    kid: str
    keys_changed_at: int
    expires_at: float
    kb: bytes | None = field(default=None, repr=False)
    uid: str | None = None


@dataclass(frozen=True)
class AccountResult:
    """How one run of the account chart ended."""

    outcome: str
    states: tuple[str, ...]
    trace: Trace = field(repr=False)
    role: str = "failure"  # the account chart's declared role of ``outcome``
    error: BeaconError | None = None
    verification_method: str | None = None
    authorization_url: str | None = None
    requests: int = 0

    @property
    def ok(self) -> bool:
        """Whether the run ended in a final the account chart declares a success."""
        return self.role == "success"


class FirefoxAccount:
    """One Firefox account kept in ``store`` (see the module docstring).

    Args:
        store: where the account lives between runs (keyring, encrypted file, memory).
        auth_server_url: the FxA auth server (default Mozilla production).
        client_id: the OAuth client id for token grants.
        transport: an ``httpx.BaseTransport`` (tests, the embedded service); default: network.
        clock, rng: injected time and randomness.
        scheme: the wire form of FxA tokens (``"auto"``: Bearer, Hawk when refused).
        min_validity: an access token closer than this to its expiry is refreshed.
    """

    def __init__(
        self,
        store: CredentialStore,
        *,
        auth_server_url: str = DEFAULT_AUTH_SERVER,
        client_id: str = DEFAULT_CLIENT_ID,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = time.time,
        rng: Callable[[int], bytes] = os.urandom,
        scheme: Wire = "auto",
        min_validity: float = 300.0,
    ) -> None:
        self._store = store
        self._server = auth_server_url
        self._client_id = client_id
        self._transport = transport
        self._transport_obj: Transport | None = None
        self._chart: Chart | None = None
        self._clock = clock
        self._rng = rng
        self._scheme: Wire = scheme
        self._min_validity = min_validity

    def __repr__(self) -> str:
        return f"FirefoxAccount({self._server!r}, store={self._store!r})"

    def _http(self) -> Transport:
        # One connection pool for the object's life (closing it closes the injected transport).
        if self._transport_obj is None:
            self._transport_obj = Transport(transport=self._transport, clock=self._clock)
        return self._transport_obj

    def close(self) -> None:
        """Close the HTTP connections; the account stays in its store."""
        if self._transport_obj is not None:
            self._transport_obj.close()
            self._transport_obj = None

    def __enter__(self) -> FirefoxAccount:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, intent: Intent, **kwargs: Any) -> AccountResult:
        if self._chart is None:
            self._chart = load_chart(chart_path("account"))
        chart = self._chart
        server, client_id = self._server, self._client_id
        if intent in ("credentials", "sign_out"):
            # Refresh and sign out where the account signed in, whatever the default is.
            stored = self._store.load()
            if stored is not None:
                server, client_id = stored.auth_server_url, stored.client_id
        http = self._http()
        before = http.request_count
        client = FxAClient(http, server, client_id=client_id, scheme=self._scheme)
        service = AccountService(
            self._store,
            client,
            intent=intent,
            clock=self._clock,
            rng=self._rng,
            min_validity=self._min_validity,
            **kwargs,
        )
        machine = bind(chart, [service], clock=self._clock)
        result = machine.run()
        requests = http.request_count - before
        states = tuple(s for step in result.trace.steps for s in step.entered)
        state = service.state
        return AccountResult(
            outcome=result.final_state,
            states=states,
            trace=result.trace,
            role=result.role.role,
            error=service.error if result.role.role != "success" else None,
            verification_method=None if state is None else state.verification_method,
            authorization_url=service.authorization_url,
            requests=requests,
        )

    def sign_in(
        self,
        email: str,
        password: str,
        *,
        codes: CodeSource | None = None,
        unblock_code: str | None = None,
    ) -> AccountResult:
        """Sign in with a password; ``codes(kind)`` answers verification prompts."""
        if not email or not password:
            raise UsageError("signing in needs an email and a password")
        return self._run(
            "sign_in", email=email, password=password, codes=codes, unblock_code=unblock_code
        )

    def resume(self, *, codes: CodeSource | None = None, refresh: bool = False) -> AccountResult:
        """Carry on from the stored account without a password: refresh an expired access
        token (any token with ``refresh=True``), or finish a stopped sign-in with ``codes``."""
        return self._run("credentials", codes=codes, force_refresh=refresh)

    def continue_sign_in(self, codes: CodeSource) -> AccountResult:
        """Carry on a sign-in that stopped in ``verification_required`` with a code."""
        return self.resume(codes=codes)

    def sign_in_oauth(
        self,
        redirect: RedirectSource | None,
        *,
        redirect_uri: str | None = None,
        email: str | None = None,
    ) -> AccountResult:
        """The OAuth code route: ``redirect(url)`` shows the URL, returns the redirect URL."""
        return self._run("oauth", redirect=redirect, redirect_uri=redirect_uri, email=email)

    def sign_out(self) -> AccountResult:
        """Destroy the tokens and the session on the server; forget the account here."""
        return self._run("sign_out")

    def status(self) -> dict[str, Any] | None:
        """The stored account's non-secret fields, or ``None`` when signed out."""
        state = self._store.load()
        return None if state is None else state.public_view()

    def credentials(self, *, refresh: bool = False) -> SyncCredentials:
        """Sync credentials of the married account, refreshing the access token if needed.

        ``refresh=True`` refreshes even a token that has not expired yet: the token server
        refused it (revoked, expired early), so a Sync run asks once more with this.

        Raises:
            SignInRequired: the account is in the doghouse or not signed in.
            BackoffError, TransportError, BeaconError: the run's error.
        """
        result = self.resume(refresh=refresh)
        if result.outcome != "married":
            if result.error is not None:
                raise result.error
            raise SignInRequired(
                f"no usable account ({result.outcome}): run `beacon login`", reason=result.outcome
            )
        state = self._store.load()
        if (
            state is None
            or state.access_token is None
            or state.ksync is None
            or state.kid is None
            or state.keys_changed_at is None
        ):  # pragma: no cover - married states hold all of these
            raise SignInRequired("the married account is incomplete", reason="incomplete")
        return SyncCredentials(
            access_token=state.access_token,
            ksync=bytes.fromhex(state.ksync),
            kid=state.kid,
            keys_changed_at=state.keys_changed_at,
            expires_at=state.access_token_expires_at or 0.0,
            kb=bytes.fromhex(state.kb) if state.kb else None,
            uid=state.uid,
        )

    def report_keys_changed(self, reason: str = "keys_changed") -> None:
        """Sync found the keys no longer match: drop the credentials, sign in again."""
        state = self._store.load()
        if state is None:
            return
        state.drop_secrets()
        state.status = "doghouse"
        state.doghouse_reason = reason
        self._store.save(state)


class AccountTokenSource:
    """The access token of a married account, as ``SyncClient(access_token=...)`` takes it.

    Calling it returns the current token (refreshed by the account chart when it is close to
    its expiry). ``refresh()`` is what the token chart's ``refresh_credentials`` runs when the
    token server refused the token: the account chart refreshes it once, or ends in the
    doghouse, whose error ends the sync run (no loop).
    """

    def __init__(self, account: FirefoxAccount) -> None:
        self._account = account

    def __repr__(self) -> str:
        return "AccountTokenSource(<account>)"

    def __call__(self) -> str:
        return self._account.credentials().access_token

    def refresh(self) -> None:
        """Refresh the access token now (the token server refused the one it had)."""
        self._account.credentials(refresh=True)


def sync_client(
    account: FirefoxAccount,
    token_server_url: str,
    state_path: str | os.PathLike[str],
    engines: Sequence[Engine | str] | None = None,
    **kwargs: Any,
) -> SyncClient:
    """A :class:`~beacon.SyncClient` for a married account: its token source, and its kB
    (password route) or kSync + kid (code route).

    Raises:
        SignInRequired: the account is not married (``beacon login``).
    """
    creds = account.credentials()
    source = AccountTokenSource(account)
    stored = account._store.load()
    if stored is not None and stored.device is not None and stored.device.id:
        kwargs.setdefault("fxa_device_id", stored.device.id)
    if creds.kb is not None:
        return SyncClient(
            token_server_url, source, creds.kb, creds.keys_changed_at, state_path, engines, **kwargs
        )
    return SyncClient(
        token_server_url,
        source,
        None,
        None,
        state_path,
        engines,
        ksync=creds.ksync,
        kid=creds.kid,
        **kwargs,
    )


def sync_credentials(store: CredentialStore, **kwargs: Any) -> SyncCredentials:
    """``FirefoxAccount(store, **kwargs).credentials()``: the access token, kB or kSync + kid,
    and keys_changed_at of a married account, refreshed when expired."""
    with FirefoxAccount(store, **kwargs) as account:
        return account.credentials()
