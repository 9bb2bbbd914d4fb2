"""The Firefox Accounts stand-in's auth server: accounts with passwords, sessions, key fetch.

Contract (``docs/firefox-accounts.md`` §2-§3; the onepw protocol, server side):

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

import hashlib
import hmac
import os
import re
import sqlite3
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from beacon._errors import UsageError
from beacon._onepw import (
    PasswordKeys,
    bundle_keys,
    make_client_salt,
    server_verifier,
    token_credentials,
    wrap_kb,
    xor,
)
from beacon.server._accounts import Accounts
from beacon.server._db import Database

__all__ = ["FxA", "FxAAccount", "FxAHTTPError", "Throttle", "totp_code"]

Rng = Callable[[int], bytes]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fxa_accounts (
    uid TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    normalized_email TEXT NOT NULL UNIQUE,
    email_verified INTEGER NOT NULL,
    email_code TEXT NOT NULL,
    auth_salt BLOB NOT NULL,
    verify_hash BLOB NOT NULL,
    wrapwrap_kb BLOB NOT NULL,
    verify_hash_v2 BLOB,
    wrapwrap_kb_v2 BLOB,
    client_salt TEXT,
    ka BLOB NOT NULL,
    kb_sealed BLOB,
    totp_secret BLOB,
    unblock_code TEXT,
    block_next_login INTEGER NOT NULL DEFAULT 0,
    unverified_next_login INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fxa_tokens (
    token_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    uid TEXT NOT NULL,
    hawk_key BLOB NOT NULL,
    bundle_key BLOB,
    session_id TEXT,
    verified INTEGER NOT NULL,
    verification_method TEXT,
    code TEXT,
    ka BLOB,
    wrap_kb BLOB,
    auth_at INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fxa_tokens_by_uid ON fxa_tokens (uid);
CREATE TABLE IF NOT EXISTS fxa_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fxa_oauth_codes (
    code_hash TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    access_type TEXT NOT NULL,
    code_challenge TEXT,
    keys_jwe TEXT,
    redirect_uri TEXT,
    auth_at INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""


@dataclass
class _Rule:
    remaining: int
    path_contains: str | None
    retry_after: int


class Throttle:
    """Pending 429 answers for FxA requests, consumed in arrival order (thread-safe)."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def add(self, count: int, *, retry_after: int, path_contains: str | None) -> None:
        with self._lock:
            self._rules.append(_Rule(count, path_contains, retry_after))

    def take(self, path: str) -> int | None:
        with self._lock:
            for rule in self._rules:
                if rule.path_contains is None or rule.path_contains in path:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule.retry_after
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class FxAHTTPError(Exception):
    """An FxA refusal: HTTP ``status``, ``errno``, a message and extra body fields."""

    def __init__(
        self,
        status: int,
        errno: int,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} errno {errno}")
        self.status = status
        self.errno = errno
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def invalid_token() -> FxAHTTPError:
    return FxAHTTPError(401, 110, "The authentication token could not be found")


def totp_code(secret: bytes, when: float, *, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1) at time ``when``."""
    counter = struct.pack(">Q", int(when // step))
    digest = hmac.new(secret, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


@dataclass(frozen=True)
class FxAAccount:
    """A stand-in account as the Python side sees it; the repr hides kB."""

    uid: str
    email: str
    kb: bytes | None = field(repr=False, default=None)


@dataclass(frozen=True)
class TokenRow:
    token_id: str
    kind: str
    uid: str
    hawk_key: bytes = field(repr=False)
    session_id: str | None
    verified: bool
    verification_method: str | None
    auth_at: int


class FxA:
    """The auth server's accounts and tokens (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        accounts: Accounts,
        *,
        clock: Callable[[], float],
        rng: Rng = os.urandom,
        scrypt_n: int = 2**12,
    ) -> None:
        self.db = db
        self.accounts = accounts
        self.clock = clock
        self.rng = rng
        self.scrypt_n = scrypt_n
        self._seal_key = hashlib.sha256(db.secret("fxa_kb_secret").encode()).digest()
        self.hawk_only = False
        self.throttle = Throttle()
        with db.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def __repr__(self) -> str:
        return "FxA(...)"

    # -- sealing and verifiers -----------------------------------------------------------------

    def _seal(self, kb: bytes) -> bytes:
        nonce = self.rng(12)
        return nonce + AESGCM(self._seal_key).encrypt(nonce, kb, b"fxa-kb")

    def _unseal(self, blob: bytes | None) -> bytes | None:
        if blob is None:
            return None
        return AESGCM(self._seal_key).decrypt(blob[:12], blob[12:], b"fxa-kb")

    def _verifier(self, auth_pw: bytes, auth_salt: bytes) -> tuple[bytes, bytes]:
        v = server_verifier(auth_pw, auth_salt, n=self.scrypt_n)
        return v.verify_hash, v.wrapwrap_key

    def _credentials(self, auth_pw: bytes, wrap: bytes, auth_salt: bytes) -> tuple[bytes, bytes]:
        verify_hash, wrapwrap_key = self._verifier(auth_pw, auth_salt)
        return verify_hash, xor(wrap, wrapwrap_key)

    # -- accounts --------------------------------------------------------------------------------

    def create_account(
        self,
        email: str,
        password: str,
        *,
        verified: bool = True,
        v2: bool = True,
        totp: bool = False,
        kb: bytes | None = None,
    ) -> FxAAccount:
        """A new account whose kB the stand-in chooses (or is given) and keeps sealed."""
        kb = kb if kb is not None else self.rng(32)
        v1_keys = PasswordKeys.v1(password, email)
        body: dict[str, Any] = {
            "authPW": v1_keys.auth_pw_hex,
            "wrapKb": wrap_kb(kb, v1_keys.unwrap_b_key).hex(),
        }
        if v2:
            salt = make_client_salt(self.rng)
            v2_keys = PasswordKeys.v2(password, salt)
            body.update(
                authPWVersion2=v2_keys.auth_pw_hex,
                wrapKbVersion2=wrap_kb(kb, v2_keys.unwrap_b_key).hex(),
                clientSalt=salt,
            )
        uid = self._insert_account(email, body, verified=verified, kb=kb)
        if totp:
            self.enable_totp(email)
        return FxAAccount(uid, email, kb)

    def _insert_account(
        self, email: str, body: Mapping[str, Any], *, verified: bool, kb: bytes | None
    ) -> str:
        auth_salt = self.rng(32)
        wrap_v1 = bytes.fromhex(body["wrapKb"]) if body.get("wrapKb") else self.rng(32)
        verify_hash, wrapwrap = self._credentials(bytes.fromhex(body["authPW"]), wrap_v1, auth_salt)
        verify_v2 = wrapwrap_v2 = None
        if body.get("authPWVersion2"):
            verify_v2, wrapwrap_v2 = self._credentials(
                bytes.fromhex(body["authPWVersion2"]),
                bytes.fromhex(body["wrapKbVersion2"]),
                auth_salt,
            )
        with self.db.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM fxa_accounts WHERE normalized_email = ?", (email.lower(),)
            ).fetchone():
                raise FxAHTTPError(400, 101, "Account already exists")
        uid = self.accounts.create().fxa_uid
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO fxa_accounts (uid, email, normalized_email, email_verified,"
                " email_code, auth_salt, verify_hash, wrapwrap_kb, verify_hash_v2,"
                " wrapwrap_kb_v2, client_salt, ka, kb_sealed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    email,
                    email.lower(),
                    int(verified),
                    self._code(),
                    auth_salt,
                    verify_hash,
                    wrapwrap,
                    verify_v2,
                    wrapwrap_v2,
                    body.get("clientSalt"),
                    self.rng(32),
                    None if kb is None else self._seal(kb),
                ),
            )
        return uid

    def create_from_wire(self, body: Mapping[str, Any], *, keys: bool) -> dict[str, Any]:
        """``POST /account/create``: the client's credentials; the email starts unverified."""
        email = body.get("email")
        if not isinstance(email, str) or "@" not in email or not _is_hex64(body.get("authPW")):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        v2 = [body.get(k) for k in ("authPWVersion2", "wrapKbVersion2", "clientSalt")]
        if (any(v2) and not all(v2)) or (all(v2) and not _valid_v2(body)):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        if body.get("wrapKb") is not None and not _is_hex64(body.get("wrapKb")):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        uid = self._insert_account(email, body, verified=False, kb=None)
        version = 2 if all(v2) else 1
        auth_pw = body["authPWVersion2"] if version == 2 else body["authPW"]
        return self._new_session(
            uid, version=version, keys=keys, login=False, auth_pw=bytes.fromhex(auth_pw)
        )

    def account_row(self, conn: sqlite3.Connection, email: str) -> sqlite3.Row | None:
        conn.row_factory = sqlite3.Row
        try:
            row: sqlite3.Row | None = conn.execute(
                "SELECT * FROM fxa_accounts WHERE normalized_email = ?", (email.lower(),)
            ).fetchone()
        finally:
            conn.row_factory = None
        return row

    def _row_by_uid(self, conn: sqlite3.Connection, uid: str) -> sqlite3.Row:
        conn.row_factory = sqlite3.Row
        try:
            row: sqlite3.Row | None = conn.execute(
                "SELECT * FROM fxa_accounts WHERE uid = ?", (uid,)
            ).fetchone()
        finally:
            conn.row_factory = None
        if row is None:
            raise invalid_token()
        return row

    def _code(self) -> str:
        return str(int.from_bytes(self.rng(4), "big") % 10**6).zfill(6)

    def uid_of(self, email: str) -> str:
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
        if row is None:
            raise UsageError("no FxA account with that email")
        return str(row["uid"])

    def credentials_status(self, email: str) -> dict[str, Any]:
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
        if row is None:
            raise FxAHTTPError(400, 102, "Unknown account", extra={"email": email})
        if row["client_salt"]:
            return {
                "currentVersion": "v2",
                "clientSalt": row["client_salt"],
                "upgradeNeeded": False,
            }
        return {"currentVersion": "v1", "upgradeNeeded": True}

    # -- login and sessions ----------------------------------------------------------------------

    def login(
        self,
        body: Mapping[str, Any],
        *,
        keys: bool,
    ) -> dict[str, Any]:
        """``POST /account/login``: see the module docstring."""
        email, auth_pw = body.get("email"), body.get("authPW")
        if not isinstance(email, str) or not _is_hex64(auth_pw):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        assert isinstance(auth_pw, str)
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
        if row is None:
            raise FxAHTTPError(400, 102, "Unknown account", extra={"email": email})
        unblock = body.get("unblockCode")
        if row["block_next_login"]:
            if not unblock:
                raise FxAHTTPError(
                    400,
                    125,
                    "The request was blocked for security reasons",
                    extra={"verificationMethod": "email-captcha", "verificationReason": "login"},
                )
            if unblock != row["unblock_code"]:
                raise FxAHTTPError(400, 127, "Invalid unblock code")
        version = self._check_password(row, bytes.fromhex(auth_pw))
        if version is None:
            if email != row["email"]:
                raise FxAHTTPError(400, 120, "Incorrect email case", extra={"email": row["email"]})
            raise FxAHTTPError(400, 103, "Incorrect password", extra={"email": email})
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fxa_accounts SET block_next_login = 0, unblock_code = NULL WHERE uid = ?",
                (row["uid"],),
            )
        return self._new_session(
            str(row["uid"]), version=version, keys=keys, login=True, auth_pw=bytes.fromhex(auth_pw)
        )

    def _check_password(self, row: sqlite3.Row, auth_pw: bytes) -> int | None:
        verify_hash, _ = self._verifier(auth_pw, row["auth_salt"])
        if row["verify_hash_v2"] is not None and hmac.compare_digest(
            verify_hash, row["verify_hash_v2"]
        ):
            return 2
        if hmac.compare_digest(verify_hash, row["verify_hash"]):
            return 1
        return None

    def _store_token(
        self,
        conn: sqlite3.Connection,
        kind: str,
        uid: str,
        *,
        verified: bool,
        auth_at: int,
        session_id: str | None = None,
        method: str | None = None,
        code: str | None = None,
        ka: bytes | None = None,
        wrap: bytes | None = None,
    ) -> tuple[str, str]:
        token = self.rng(32)
        creds = token_credentials(token, kind)
        conn.execute(
            "INSERT INTO fxa_tokens (token_id, kind, uid, hawk_key, bundle_key, session_id,"
            " verified, verification_method, code, ka, wrap_kb, auth_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                creds.token_id,
                kind,
                uid,
                creds.hawk_key,
                creds.bundle_key,
                session_id,
                int(verified),
                method,
                code,
                ka,
                wrap,
                auth_at,
                self.clock(),
            ),
        )
        return token.hex(), creds.token_id

    def _new_session(
        self,
        uid: str,
        *,
        version: int,
        keys: bool,
        login: bool,
        auth_pw: bytes | None = None,
    ) -> dict[str, Any]:
        auth_at = int(self.clock())
        with self.db.transaction() as conn:
            row = self._row_by_uid(conn, uid)
            method: str | None = None
            code: str | None = None
            if row["totp_secret"] is not None and login:
                method = "totp-2fa"
            elif not row["email_verified"]:
                method, code = "email-otp", str(row["email_code"])
            elif row["unverified_next_login"] and login:
                method, code = "email-otp", self._code()
                conn.execute(
                    "UPDATE fxa_accounts SET unverified_next_login = 0 WHERE uid = ?", (uid,)
                )
            verified = method is None
            session, session_id = self._store_token(
                conn,
                "sessionToken",
                uid,
                verified=verified,
                auth_at=auth_at,
                method=method,
                code=code,
            )
            answer: dict[str, Any] = {
                "uid": uid,
                "sessionToken": session,
                "verified": verified,
                "sessionVerified": verified,
                "emailVerified": bool(row["email_verified"]),
                "authAt": auth_at,
            }
            if method is not None:
                answer["verificationMethod"] = method
                answer["verificationReason"] = "login" if login else "signup"
            if keys and auth_pw is not None:
                wrapwrap = row["wrapwrap_kb_v2"] if version == 2 else row["wrapwrap_kb"]
                _, wrapwrap_key = self._verifier(auth_pw, row["auth_salt"])
                key_fetch, _ = self._store_token(
                    conn,
                    "keyFetchToken",
                    uid,
                    verified=verified,
                    auth_at=auth_at,
                    session_id=session_id,
                    ka=row["ka"],
                    wrap=xor(wrapwrap, wrapwrap_key),
                )
                answer["keyFetchTokenVersion2" if version == 2 else "keyFetchToken"] = key_fetch
        return answer

    def token(self, kind: str, token_id: str) -> TokenRow:
        """The stored token of ``kind`` with that id; 401 errno 110 otherwise."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT token_id, kind, uid, hawk_key, session_id, verified,"
                " verification_method, auth_at FROM fxa_tokens WHERE token_id = ? AND kind = ?",
                (token_id, kind),
            ).fetchone()
        if row is None:
            raise invalid_token()
        return TokenRow(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            bytes(row[3]),
            row[4],
            bool(row[5]),
            row[6],
            int(row[7]),
        )

    def session_verified(self, session: TokenRow) -> bool:
        if session.kind == "sessionToken":
            return session.verified
        if session.session_id is None:
            return session.verified
        try:
            return self.token("sessionToken", session.session_id).verified
        except FxAHTTPError:
            return False

    def email_status(self, session: TokenRow) -> dict[str, Any]:
        with self.db.transaction() as conn:
            row = self._row_by_uid(conn, session.uid)
        email_ok = bool(row["email_verified"])
        return {
            "email": row["email"],
            "verified": email_ok and session.verified,
            "sessionVerified": session.verified,
            "emailVerified": email_ok,
        }

    def _mark_verified(self, conn: sqlite3.Connection, session: TokenRow) -> None:
        conn.execute(
            "UPDATE fxa_tokens SET verified = 1, code = NULL WHERE token_id = ? OR session_id = ?",
            (session.token_id, session.token_id),
        )

    def verify_code(self, session: TokenRow, code: object) -> None:
        """``POST /session/verify_code``: the session's emailed code (email-otp / email-2fa)."""
        with self.db.transaction() as conn:
            stored = conn.execute(
                "SELECT code FROM fxa_tokens WHERE token_id = ?", (session.token_id,)
            ).fetchone()
            row = self._row_by_uid(conn, session.uid)
            expected = stored[0] if stored is not None else None
            if (
                not isinstance(code, str)
                or expected is None
                or not hmac.compare_digest(code, str(expected))
            ):
                raise FxAHTTPError(400, 183, "Invalid or expired confirmation code")
            self._mark_verified(conn, session)
            if code == row["email_code"]:
                conn.execute(
                    "UPDATE fxa_accounts SET email_verified = 1 WHERE uid = ?", (session.uid,)
                )

    def verify_totp(self, session: TokenRow, code: object) -> bool:
        """``POST /session/verify/totp``: the current TOTP code (±1 step) verifies the session."""
        with self.db.transaction() as conn:
            row = self._row_by_uid(conn, session.uid)
            secret = row["totp_secret"]
            if secret is None:
                raise FxAHTTPError(400, 160, "TOTP required")
            now = self.clock()
            valid = {totp_code(secret, now + delta) for delta in (-30, 0, 30)}
            if not isinstance(code, str) or code not in valid:
                return False
            self._mark_verified(conn, session)
            return True

    def verify_email(self, uid: object, code: object) -> None:
        """``POST /recovery_email/verify_code``: the account's email code verifies the email."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT email_code FROM fxa_accounts WHERE uid = ?", (uid,)
            ).fetchone()
            if row is None or not isinstance(code, str) or code != row[0]:
                raise FxAHTTPError(400, 105, "Invalid verification code")
            conn.execute("UPDATE fxa_accounts SET email_verified = 1 WHERE uid = ?", (uid,))
            conn.execute(
                "UPDATE fxa_tokens SET verified = 1 WHERE uid = ? AND code = ?", (uid, code)
            )

    def destroy_session(self, session: TokenRow) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM fxa_tokens WHERE token_id = ? OR session_id = ?",
                (session.token_id, session.token_id),
            )

    def account_keys(self, key_fetch: TokenRow) -> dict[str, str]:
        """``GET /account/keys``: errno 104 while unverified, else the bundle (token consumed)."""
        if not self.session_verified(key_fetch):
            raise FxAHTTPError(400, 104, "Unconfirmed account")
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT bundle_key, ka, wrap_kb FROM fxa_tokens WHERE token_id = ?",
                (key_fetch.token_id,),
            ).fetchone()
            if row is None:
                raise invalid_token()
            conn.execute("DELETE FROM fxa_tokens WHERE token_id = ?", (key_fetch.token_id,))
        return {"bundle": bundle_keys(bytes(row[0]), bytes(row[1]), bytes(row[2])).hex()}

    def kb_from_password(self, email: str, password: str) -> tuple[str, bytes]:
        """(uid, kB) for a correct password: what FxA's web content derives in the browser."""
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
        if row is None:
            raise FxAHTTPError(400, 102, "Unknown account", extra={"email": email})
        if row["client_salt"]:
            keys = PasswordKeys.v2(password, row["client_salt"])
            wrapwrap = row["wrapwrap_kb_v2"]
            if self._check_password(row, keys.auth_pw) != 2:
                raise FxAHTTPError(400, 103, "Incorrect password")
        else:
            keys = PasswordKeys.v1(password, row["email"])
            wrapwrap = row["wrapwrap_kb"]
            if self._check_password(row, keys.auth_pw) != 1:
                raise FxAHTTPError(400, 103, "Incorrect password")
        _, wrapwrap_key = self._verifier(keys.auth_pw, row["auth_salt"])
        return str(row["uid"]), xor(xor(wrapwrap, wrapwrap_key), keys.unwrap_b_key)

    # -- password change over HTTP (fxa routes/password.ts) ------------------------------------

    def password_change_start(self, session: TokenRow, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /password/change/start``: the old authPW checked; a key-fetch token for the
        current kB and a password-change token."""
        if not session.verified:
            raise FxAHTTPError(400, 138, "Unconfirmed session")
        email, old = body.get("email"), body.get("oldAuthPW")
        if not isinstance(email, str) or not _is_hex64(old):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        assert isinstance(old, str)
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
        if row is None or row["uid"] != session.uid:
            raise FxAHTTPError(400, 102, "Unknown account", extra={"email": email})
        version = self._check_password(row, bytes.fromhex(old))
        if version is None:
            raise FxAHTTPError(400, 103, "Incorrect password", extra={"email": email})
        wrapwrap = row["wrapwrap_kb_v2"] if version == 2 else row["wrapwrap_kb"]
        _, wrapwrap_key = self._verifier(bytes.fromhex(old), row["auth_salt"])
        now = int(self.clock())
        with self.db.transaction() as conn:
            key_fetch, _ = self._store_token(
                conn,
                "keyFetchToken",
                session.uid,
                verified=True,
                auth_at=now,
                ka=row["ka"],
                wrap=xor(wrapwrap, wrapwrap_key),
            )
            change, _ = self._store_token(
                conn, "passwordChangeToken", session.uid, verified=True, auth_at=now
            )
        name = "keyFetchToken2" if version == 2 else "keyFetchToken"
        return {name: key_fetch, "passwordChangeToken": change, "verified": True}

    def password_change_finish(
        self, token: TokenRow, body: Mapping[str, Any], *, keys: bool
    ) -> dict[str, Any]:
        """``POST /password/change/finish``: new verifiers (v1, and v2 with its clientSalt).

        The same password with v2 credentials added is an upgrade (nothing revoked, as fxa's
        ``isPasswordUpgrade``); any other change drops every session and OAuth token, moves
        generation on, and answers a replacement session when ``sessionToken`` names the
        current one.
        """
        v2 = [body.get(k) for k in ("authPWVersion2", "wrapKbVersion2", "clientSalt")]
        if (
            not _is_hex64(body.get("authPW"))
            or not _is_hex64(body.get("wrapKb"))
            or (any(v2) and not all(v2))
            or (all(v2) and not _valid_v2(body))
        ):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        uid = token.uid
        with self.db.transaction() as conn:
            row = self._row_by_uid(conn, uid)
            conn.execute("DELETE FROM fxa_tokens WHERE token_id = ?", (token.token_id,))
            previous = body.get("sessionToken")
            kept = conn.execute(
                "SELECT verified FROM fxa_tokens WHERE token_id = ? AND kind = 'sessionToken'"
                " AND uid = ?",
                (previous, uid),
            ).fetchone()
        auth_pw = bytes.fromhex(body["authPW"])
        same_password = hmac.compare_digest(
            self._verifier(auth_pw, row["auth_salt"])[0], row["verify_hash"]
        )
        salt = row["auth_salt"] if same_password else self.rng(32)
        verify_hash, wrapwrap = self._credentials(auth_pw, bytes.fromhex(body["wrapKb"]), salt)
        verify_v2 = wrapwrap_v2 = None
        if all(v2):
            verify_v2, wrapwrap_v2 = self._credentials(
                bytes.fromhex(body["authPWVersion2"]), bytes.fromhex(body["wrapKbVersion2"]), salt
            )
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fxa_accounts SET auth_salt = ?, verify_hash = ?, wrapwrap_kb = ?,"
                " verify_hash_v2 = ?, wrapwrap_kb_v2 = ?, client_salt = ? WHERE uid = ?",
                (salt, verify_hash, wrapwrap, verify_v2, wrapwrap_v2, body.get("clientSalt"), uid),
            )
        if not same_password:
            self.revoke_sessions(uid)
            self.revoke_oauth(uid)
            self.accounts.bump_generation(uid)
        answer: dict[str, Any] = {"uid": uid}
        if kept is not None:
            now = int(self.clock())
            with self.db.transaction() as conn:
                row = self._row_by_uid(conn, uid)
                session, session_id = self._store_token(
                    conn, "sessionToken", uid, verified=bool(kept[0]), auth_at=now
                )
                answer.update(sessionToken=session, verified=bool(kept[0]), authAt=now)
                wraps = {
                    "keyFetchToken": body["wrapKb"],
                    "keyFetchToken2": body.get("wrapKbVersion2"),
                }
                for name, wrap in wraps.items() if keys else ():
                    if wrap:
                        answer[name], _ = self._store_token(
                            conn,
                            "keyFetchToken",
                            uid,
                            verified=bool(kept[0]),
                            auth_at=now,
                            session_id=session_id,
                            ka=row["ka"],
                            wrap=bytes.fromhex(wrap),
                        )
        return answer

    # -- changes and faults ----------------------------------------------------------------------

    def enable_totp(self, email: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fxa_accounts SET totp_secret = ? WHERE normalized_email = ?",
                (self.rng(20), email.lower()),
            )

    def codes(self, email: str) -> dict[str, Any]:
        """What the user would read in their email or authenticator app (admin / tests)."""
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
            if row is None:
                raise UsageError("no FxA account with that email")
            pending = [
                str(r[0])
                for r in conn.execute(
                    "SELECT code FROM fxa_tokens WHERE uid = ? AND kind = 'sessionToken'"
                    " AND verified = 0 AND code IS NOT NULL ORDER BY created_at",
                    (row["uid"],),
                ).fetchall()
            ]
        secret = row["totp_secret"]
        return {
            "email_code": row["email_code"],
            "sign_in_code": pending[-1] if pending else None,
            "unblock_code": row["unblock_code"],
            "totp_code": None if secret is None else totp_code(secret, self.clock()),
        }

    def send_unblock_code(self, email: object) -> None:
        if not isinstance(email, str):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fxa_accounts SET unblock_code = ? WHERE normalized_email = ?",
                (self._code().upper(), email.lower()),
            )

    def set_flag(self, email: str, flag: str) -> None:
        if flag not in ("block_next_login", "unverified_next_login"):
            raise UsageError(f"unknown flag {flag!r}")
        with self.db.transaction() as conn:
            if self.account_row(conn, email) is None:
                raise UsageError("no FxA account with that email")
            conn.execute(
                f"UPDATE fxa_accounts SET {flag} = 1 WHERE normalized_email = ?", (email.lower(),)
            )

    def set_email(self, email: str, stored: str, password: str) -> None:
        """The account's email is now ``stored`` (same address, another case), as after a
        primary-email change: its v1 credentials are salted with ``stored``, so a v1 login
        typed as ``email`` meets errno 120. kB and sessions are kept."""
        if stored.lower() != email.lower():
            raise UsageError("the stored email may differ only in case")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fxa_accounts SET email = ? WHERE normalized_email = ?",
                (stored, email.lower()),
            )
        self._rekey(stored, password, revoke=False)

    def revoke_sessions(self, uid: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM fxa_tokens WHERE uid = ?", (uid,))

    def revoke_oauth(self, uid: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM fxa_refresh_tokens WHERE uid = ?", (uid,))
        self.accounts.revoke_access_tokens(uid)

    def change_password(self, email: str, new_password: str) -> None:
        """The password changes elsewhere: kB kept, sessions and OAuth tokens revoked,
        generation moved on (fxa ``password.ts``: resetAccount, removePublicAndCanGrantTokens).
        """
        self._rekey(email, new_password, revoke=True)

    def _rekey(self, email: str, new_password: str, *, revoke: bool) -> None:
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
        if row is None:
            raise UsageError("no FxA account with that email")
        kb = self._unseal(row["kb_sealed"])
        if kb is None:
            raise UsageError("the stand-in does not know this account's kB (created over HTTP)")
        uid = str(row["uid"])
        v1 = PasswordKeys.v1(new_password, row["email"])
        verify_hash, wrapwrap = self._credentials(
            v1.auth_pw, wrap_kb(kb, v1.unwrap_b_key), row["auth_salt"]
        )
        verify_v2 = wrapwrap_v2 = salt = None
        if row["client_salt"]:
            salt = make_client_salt(self.rng)
            v2 = PasswordKeys.v2(new_password, salt)
            verify_v2, wrapwrap_v2 = self._credentials(
                v2.auth_pw, wrap_kb(kb, v2.unwrap_b_key), row["auth_salt"]
            )
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fxa_accounts SET verify_hash = ?, wrapwrap_kb = ?, verify_hash_v2 = ?,"
                " wrapwrap_kb_v2 = ?, client_salt = ? WHERE uid = ?",
                (verify_hash, wrapwrap, verify_v2, wrapwrap_v2, salt, uid),
            )
        if revoke:
            self.revoke_sessions(uid)
            self.revoke_oauth(uid)
            self.accounts.bump_generation(uid)


_CLIENT_SALT = re.compile(r"\Aidentity\.mozilla\.com/picl/v1/quickStretchV2:[0-9a-f]{32}\Z")


def _valid_v2(body: Mapping[str, Any]) -> bool:
    """authPWVersion2 and wrapKbVersion2 are 64 hex; clientSalt has the v2 prefix (fxa
    ``parseSalt``)."""
    salt = body.get("clientSalt")
    return (
        _is_hex64(body.get("authPWVersion2"))
        and _is_hex64(body.get("wrapKbVersion2"))
        and isinstance(salt, str)
        and _CLIENT_SALT.match(salt) is not None
    )


def _is_hex64(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )
