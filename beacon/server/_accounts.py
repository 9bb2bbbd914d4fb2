"""Accounts: a stand-in for Firefox Accounts (FxA) that issues OAuth-like access tokens.

Contract:

* :meth:`Accounts.create` makes an account: a random 32-hex FxA uid, ``generation`` and
  ``keys_changed_at`` set to the clock in milliseconds, and a signed bearer access token. kB is
  never seen here: the client generates and keeps it.
* An access token is a tokenlib-format signed token (docs/protocol.md §1.7 format, signed with this
  service's OAuth secret, not the master secret) whose plaintext carries ``sub`` (the FxA uid),
  ``scope`` (``https://identity.mozilla.com/apps/oldsync``) and ``fxa-generation``; the token
  server reads the generation from it, as it would from an FxA JWT (§1.2).
* :meth:`Accounts.reset_password` simulates a password reset: generation and keys_changed_at
  move on (strictly increasing) and a new access token is issued. The client derives a new
  X-KeyID from its new kB; the token server then accepts the new client state (new uid, empty
  storage) and refuses the old one (§1.4 rules 3, 6, 7).
* :meth:`Accounts.verify` checks a bearer token (signature, expiry, scope, known account) and
  raises :class:`TokenServerError` 401 ``invalid-credentials`` on any failure.
* :meth:`Accounts.issue_access_token` is the FxA stand-in's OAuth token (``_fxa_oauth``): the
  same format with a ``jti`` recorded in ``oauth_access_tokens``, so that it can expire with
  its grant's ``ttl``, be revoked (sign-out, password change) or expired on demand; the token
  server refuses a recorded token that is revoked or past its recorded expiry. Tokens without
  a ``jti`` (``create``, ``get``) are checked as before.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from beacon._errors import UsageError
from beacon._tokens import TokenInvalid, mint_token, parse_token
from beacon.server._db import Database
from beacon.server._wire import TokenServerError

_FXA_UID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
SYNC_SCOPE = "https://identity.mozilla.com/apps/oldsync"
#: Access tokens live long: ``beacon account create`` output must still work days later.
ACCESS_TOKEN_LIFETIME = 365 * 24 * 3600.0


@dataclass(frozen=True)
class Account:
    """An FxA stand-in account; the repr never shows the access token."""

    fxa_uid: str
    access_token: str = field(repr=False)
    generation: int
    keys_changed_at: int


_ACCESS_TOKENS_SCHEMA = """
CREATE TABLE IF NOT EXISTS oauth_access_tokens (
    jti TEXT PRIMARY KEY,
    fxa_uid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS oauth_access_tokens_by_uid ON oauth_access_tokens (fxa_uid);
"""


class Accounts:
    """Account table and access tokens; see the module docstring."""

    def __init__(
        self,
        db: Database,
        *,
        secret: str,
        clock: Callable[[], float],
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._db = db
        self._secret = secret
        self._clock = clock
        self._rng = rng
        with db.transaction() as conn:
            for statement in _ACCESS_TOKENS_SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def __repr__(self) -> str:
        return "Accounts(...)"

    def issue_access_token(
        self, fxa_uid: str, *, scope: str, ttl: float, client_id: str
    ) -> tuple[str, str]:
        """(token, jti): an OAuth access token for ``scope`` valid ``ttl`` seconds."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT generation FROM accounts WHERE fxa_uid = ?", (fxa_uid,)
            ).fetchone()
            if row is None:
                raise KeyError(fxa_uid)
            jti = self._rng(16).hex()
            expires = self._clock() + ttl
            conn.execute(
                "INSERT INTO oauth_access_tokens (jti, fxa_uid, client_id, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (jti, fxa_uid, client_id, expires),
            )
        token, _key = mint_token(
            {"sub": fxa_uid, "scope": scope, "fxa-generation": int(row[0]), "jti": jti},
            secret=self._secret,
            expires=expires,
            rng=self._rng,
        )
        return token, jti

    def revoke_access_tokens(self, fxa_uid: str, *, jti: str | None = None) -> None:
        """Revoke the account's recorded access tokens (one of them with ``jti``)."""
        with self._db.transaction() as conn:
            if jti is None:
                conn.execute(
                    "UPDATE oauth_access_tokens SET revoked = 1 WHERE fxa_uid = ?", (fxa_uid,)
                )
            else:
                conn.execute("UPDATE oauth_access_tokens SET revoked = 1 WHERE jti = ?", (jti,))

    def expire_access_tokens(self, fxa_uid: str) -> None:
        """Every recorded access token of the account counts as expired from now on."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE oauth_access_tokens SET expires_at = MIN(expires_at, ?) WHERE fxa_uid = ?",
                (self._clock(), fxa_uid),
            )

    def revoke_token(self, bearer: str) -> bool:
        """Revoke one recorded access token given as sent; False if it is not one of ours."""
        try:
            claims = parse_token(bearer, secret=self._secret, now=float("-inf"))
        except TokenInvalid:
            return False
        jti = claims.get("jti")
        if not isinstance(jti, str):
            return False
        with self._db.transaction() as conn:
            conn.execute("UPDATE oauth_access_tokens SET revoked = 1 WHERE jti = ?", (jti,))
        return True

    def bump_generation(self, fxa_uid: str) -> int:
        """A password change: ``generation`` moves on (keys_changed_at stays: kB is kept)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT generation FROM accounts WHERE fxa_uid = ?", (fxa_uid,)
            ).fetchone()
            if row is None:
                raise KeyError(fxa_uid)
            generation = max(self._now_ms(), int(row[0]) + 1)
            conn.execute(
                "UPDATE accounts SET generation = ? WHERE fxa_uid = ?", (generation, fxa_uid)
            )
        return generation

    def keys_changed_at(self, fxa_uid: str) -> int:
        """The account's keys_changed_at (ms); ``KeyError`` if unknown."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT keys_changed_at FROM accounts WHERE fxa_uid = ?", (fxa_uid,)
            ).fetchone()
        if row is None:
            raise KeyError(fxa_uid)
        return int(row[0])

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _issue(self, fxa_uid: str, generation: int, keys_changed_at: int) -> Account:
        token, _key = mint_token(
            {"sub": fxa_uid, "scope": SYNC_SCOPE, "fxa-generation": generation},
            secret=self._secret,
            expires=self._clock() + ACCESS_TOKEN_LIFETIME,
            rng=self._rng,
        )
        return Account(fxa_uid, token, generation, keys_changed_at)

    def create(self, fxa_uid: str | None = None) -> Account:
        """A new account (random 32-hex uid unless given); ``UsageError`` if it exists."""
        uid = fxa_uid if fxa_uid is not None else self._rng(16).hex()
        if not _FXA_UID.match(uid):
            raise UsageError("an FxA uid is 1-64 characters of [A-Za-z0-9_-]")
        now = self._now_ms()
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM accounts WHERE fxa_uid = ?", (uid,)).fetchone():
                raise UsageError("an account with that FxA uid already exists")
            conn.execute(
                "INSERT INTO accounts (fxa_uid, generation, keys_changed_at, created_at)"
                " VALUES (?, ?, ?, ?)",
                (uid, now, now, self._clock()),
            )
        return self._issue(uid, now, now)

    def get(self, fxa_uid: str) -> Account:
        """The account with a freshly issued access token; ``KeyError`` if unknown."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT generation, keys_changed_at FROM accounts WHERE fxa_uid = ?", (fxa_uid,)
            ).fetchone()
        if row is None:
            raise KeyError(fxa_uid)
        return self._issue(fxa_uid, int(row[0]), int(row[1]))

    def reset_password(self, fxa_uid: str) -> Account:
        """Move generation and keys_changed_at on; return the account with a new token."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT generation, keys_changed_at FROM accounts WHERE fxa_uid = ?", (fxa_uid,)
            ).fetchone()
            if row is None:
                raise KeyError(fxa_uid)
            generation = max(self._now_ms(), int(row[0]) + 1, int(row[1]) + 1)
            conn.execute(
                "UPDATE accounts SET generation = ?, keys_changed_at = ? WHERE fxa_uid = ?",
                (generation, generation, fxa_uid),
            )
        return self._issue(fxa_uid, generation, generation)

    def verify(self, bearer: str) -> tuple[str, int]:
        """(fxa_uid, generation) from a valid access token; 401 invalid-credentials otherwise."""
        try:
            claims = parse_token(bearer, secret=self._secret, now=self._clock())
        except TokenInvalid:  # bad signature, malformed, or expired (TokenExpired)
            raise _invalid_credentials() from None
        fxa_uid = claims.get("sub")
        generation = claims.get("fxa-generation")
        scope = claims.get("scope")
        if (
            not isinstance(fxa_uid, str)
            or not isinstance(generation, int)
            or not isinstance(scope, str)
            or SYNC_SCOPE not in scope.split()
        ):
            raise _invalid_credentials()
        jti = claims.get("jti")
        with self._db.transaction() as conn:
            known = conn.execute("SELECT 1 FROM accounts WHERE fxa_uid = ?", (fxa_uid,)).fetchone()
            recorded = (
                conn.execute(
                    "SELECT expires_at, revoked FROM oauth_access_tokens WHERE jti = ?", (jti,)
                ).fetchone()
                if isinstance(jti, str)
                else None
            )
        if known is None:
            raise _invalid_credentials()
        if jti is not None and (
            recorded is None or recorded[1] or float(recorded[0]) <= self._clock()
        ):
            raise _invalid_credentials()
        return fxa_uid, generation


def _invalid_credentials() -> TokenServerError:
    return TokenServerError(401, "invalid-credentials", description="Unauthorized")
