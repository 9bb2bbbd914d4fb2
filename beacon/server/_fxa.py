"""The Firefox Accounts stand-in's auth server: accounts with passwords, sessions, key fetch.

Contract (``docs/accounts.md`` §2-§3; the onepw protocol, server side):

* An FxA account is a row of the service's ``accounts`` table (uid, generation,
  keys_changed_at: what the token server checks) plus its credentials here: the email (kept
  as given; looked up case-insensitively), a random authSalt, and per stretching version the
  verifyHash and wrapwrapKb of onepw (bigStretchedPW = scrypt(authPW, authSalt)); v2 also
  keeps the clientSalt. The stand-in's scrypt cost is N = 4096 (``scrypt_n``), the real
  server's 65,536: a test server need not resist offline guessing, and logins stay fast.
  kA is random. kB itself is known to the stand-in only when it chose it or was given it
  (Python-side creation): then it is kept sealed (AES-GCM under a database secret) so a
  fault can change the password "elsewhere" without knowing the old one.
* :meth:`FxA.login` checks authPW against the v2 verifier first, then v1; a mismatch whose
  typed email differs from the stored one is errno 120 (with the stored email), else 103. A
  session is verified unless the account has TOTP (``totp-2fa``), its email is unverified or
  an "unverified next login" fault is pending (``email-otp`` with a code readable through
  :meth:`FxA.codes`). ``keys=true`` adds a key-fetch token (``keyFetchTokenVersion2`` when
  the v2 verifier matched) holding kA and that version's wrapKb.
* Tokens are 32 random bytes; the stand-in stores them by their HKDF id with the Hawk key,
  so Bearer (``fxs_<id>``...) and Hawk requests both find them (``_fxa_http``).
* :meth:`FxA.account_keys` answers errno 104 while the session is unverified (keeping the
  token), else returns the onepw bundle and deletes the token.
* Errors are :class:`FxAHTTPError` (status, errno, message, extra fields), rendered by
  ``_fxa_http`` as FxA's JSON error bodies. Nothing here logs or shows a secret.
"""

from __future__ import annotations

from beacon.server._fxa_password import PasswordCredentials
from beacon.server._fxa_sessions import Sessions
from beacon.server._fxa_types import (
    FxAAccount,
    FxAHTTPError,
    Throttle,
    TokenRow,
    invalid_token,
    totp_code,
)

__all__ = [
    "FxA",
    "FxAAccount",
    "FxAHTTPError",
    "Throttle",
    "TokenRow",
    "invalid_token",
    "totp_code",
]


class FxA(Sessions, PasswordCredentials):
    """The auth server's accounts and tokens (see the module docstring).

    ``FxA(db, accounts, clock=..., rng=..., scrypt_n=4096)``; its parts live in
    ``_fxa_core`` (tables, verifiers, tokens), ``_fxa_sessions`` (login, verification, keys)
    and ``_fxa_password`` (accounts, password changes).
    """
