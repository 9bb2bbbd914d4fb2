"""The campaign's user and each device's signed-in Firefox account on the FxA stand-in.

Contract:

* :class:`User` is the one person behind every device: the email as they type it, the current
  password, and the codes they would read (email, authenticator, unblock) from the stand-in.
* :class:`DeviceAccount` is one device's :class:`~beacon.fxa.FirefoxAccount` over the device's
  wire, kept in a :class:`~beacon.fxa.MemoryStore` that plays the OS keyring: it outlives the
  device's process (a crash restart keeps the account, its tokens and its FxA backoff).
  :meth:`DeviceAccount.sign_in` runs the account chart's password route; the kB and
  keys_changed_at it gave are kept for the next process start, and
  :meth:`DeviceAccount.token_source` is the access-token source the device's
  ``SyncClient`` asks (``AccountTokenSource``: OAuth access token, refreshed by the chart).
* :func:`check_account_run` is the accounts oracle of one sync run (see its docstring).
  Nothing here logs or shows a secret: errors are named by kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from beacon._errors import BackoffError
from beacon.charts import Trace
from beacon.fxa import (
    AccountResult,
    AccountTokenSource,
    FirefoxAccount,
    MemoryStore,
    SignInRequired,
)
from beacon.testing._invariants import InvariantViolation
from beacon.testing._recorder import Exchange

__all__ = ["DeviceAccount", "User", "check_account_run", "fxa_backoff_until"]

#: The path prefix of the stand-in's auth server.
FXA_PATH = "/fxa/"


@dataclass
class User:
    """The person who signs every device in (see the module docstring)."""

    svc: Any
    email: str
    password: str

    def codes(self, kind: str) -> str | None:
        """The code the user reads for a prompt: ``totp``, ``email`` or ``unblock``."""
        codes = self.svc.faults.fxa.codes(self.email)
        key = {"totp": "totp_code", "email": "sign_in_code", "unblock": "unblock_code"}.get(kind)
        value = codes.get(key) if key else None
        return value if isinstance(value, str) else None


@dataclass
class DeviceAccount:
    """One device's account (see the module docstring)."""

    account: FirefoxAccount
    keyring: MemoryStore
    kb: bytes | None = field(default=None, repr=False)
    keys_changed_at: int | None = None
    sign_ins: int = 0
    last: AccountResult | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        *,
        auth_server_url: str,
        transport: httpx.BaseTransport,
        clock: Callable[[], float],
        rng: Callable[[int], bytes],
    ) -> DeviceAccount:
        keyring = MemoryStore()
        account = FirefoxAccount(
            keyring, auth_server_url=auth_server_url, transport=transport, clock=clock, rng=rng
        )
        return cls(account, keyring)

    @property
    def status(self) -> str | None:
        """The stored account's status (``married``, ``doghouse``...); None when signed out."""
        view = self.account.status()
        status = None if view is None else view.get("status")
        return status if isinstance(status, str) else None

    def token_source(self) -> AccountTokenSource:
        return AccountTokenSource(self.account)

    def sign_in(self, user: User, *, later: bool = False) -> AccountResult:
        """The user signs in with the current password; with ``later``, a verification prompt
        stops the first run and a second run (the user came back with the code) finishes it."""
        self.sign_ins += 1
        result = self.account.sign_in(
            user.email, user.password, codes=None if later else user.codes
        )
        if later and result.outcome == "verification_required":
            if "unblocking" in result.states:
                # A blocked login: the user types the emailed unblock code into a new login.
                result = self.account.sign_in(
                    user.email, user.password, codes=user.codes, unblock_code=user.codes("unblock")
                )
            else:
                result = self.account.continue_sign_in(user.codes)
        self.last = result
        if result.outcome == "married":
            creds = self.account.credentials()
            self.kb, self.keys_changed_at = creds.kb, creds.keys_changed_at
        return result

    def close(self) -> None:
        self.account.close()


def fxa_backoff_until(run: Sequence[Exchange]) -> float:
    """The end of the last FxA backoff window the run's answers announced (429 or 503 with
    Retry-After from the stand-in, the best-effort destroys of a replaced account's tokens
    included), 0 when none."""
    until = 0.0
    for ex in run:
        if _is_fxa(ex) and ex.fault is None and ex.status in (429, 503):
            until = max(until, ex.time + (ex.retry_after or 0.0))
    return until


def _is_fxa(ex: Exchange) -> bool:
    return FXA_PATH in httpx.URL(ex.url).path + "/"


def _refreshes(trace: Trace | None) -> int:
    if trace is None:
        return 0
    return sum(
        "refreshing_credentials" in step.entered
        for run in trace.walk()
        if run.chart == "token"
        for step in run.steps
    )


def _storage_writes(run: Sequence[Exchange]) -> list[Exchange]:
    return [
        ex
        for ex in run
        if ex.method in ("POST", "PUT", "DELETE")
        and not ex.is_token_fetch
        and not _is_fxa(ex)
        and "/1.5/" in ex.url
    ]


def check_account_run(
    run: Sequence[Exchange],
    *,
    device: int,
    before: str | None,
    after: str | None,
    error: BaseException | None,
    trace: Trace | None,
    fxa_until: float,
    crashed: bool = False,
) -> float:
    """The accounts oracle of one sync run of a signed-in device; returns ``fxa_until`` for the
    next run: the end of the last FxA backoff window announced so far.

    * ``fxa_backoff``: no FxA request before the end of a 429/503 Retry-After window the stand-in
      announced to this device, earlier in the run or before it (``fxa_until``, carried
      across runs and restarts);
    * ``one_refresh``: the token chart refreshes the credentials at most once per run;
    * ``doghouse`` (``not_signed_in`` from a sign-in that stopped): a run that starts in the
      doghouse sends no request at all and raises
      :class:`~beacon.fxa.SignInRequired` (one clear error, no loop, nothing written), or,
      inside the pause the session chart keeps after an authentication failure, that pause's
      ``BackoffError`` (still no request);
    * ``doghouse_justified``: a run enters the doghouse only after the accounts server refused
      a credential in that run (a 400/401 it answered: errno 110 for a revoked refresh
      token), raises ``SignInRequired``, and writes nothing to storage after that refusal.

    A run killed by a ``crash`` step (``crashed``) raised nothing: only its requests count.
    """
    where = f"device {device}"
    until = fxa_until
    for ex in run:
        if not _is_fxa(ex):
            continue
        if ex.time < until - 1e-6:
            raise InvariantViolation(
                "fxa_backoff",
                f"{where}: an FxA request at t={ex.time:.2f} inside the accounts server's "
                f"backoff window (until t={until:.2f})",
            )
        until = max(until, fxa_backoff_until([ex]))  # a window opened in this very run
    if _refreshes(trace) > 1:
        raise InvariantViolation(
            "one_refresh", f"{where}: the token chart refreshed the credentials more than once"
        )
    kind = getattr(error, "kind", None if error is None else type(error).__name__)
    if before is not None and before != "married":
        # The doghouse, or a sign-in that stopped (separated, verification_required...).
        name = "doghouse" if before == "doghouse" else "not_signed_in"
        if run:
            raise InvariantViolation(
                name,
                f"{where}: a run from {before!r} sent {len(run)} request(s) "
                f"(first {run[0].method} {httpx.URL(run[0].url).path})",
            )
        if not crashed and not isinstance(error, SignInRequired | BackoffError):
            raise InvariantViolation(
                name, f"{where}: a run from {before!r} ended with {kind}, not sign-in"
            )
        return until
    if after == "doghouse":
        refused = [i for i, ex in enumerate(run) if _is_fxa(ex) and ex.status in (400, 401)]
        if not refused:
            raise InvariantViolation(
                "doghouse_justified",
                f"{where}: the account went to the doghouse without a refusal from FxA",
            )
        if not crashed and not isinstance(error, SignInRequired):
            raise InvariantViolation(
                "doghouse", f"{where}: the run that met the doghouse ended with {kind}"
            )
        late = _storage_writes(run[refused[0] :])
        if late:
            raise InvariantViolation(
                "doghouse",
                f"{where}: {late[0].method} {late[0].resource or '/'} written after FxA refused "
                "the account's credentials",
            )
    return until
