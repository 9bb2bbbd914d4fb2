"""The FxA stand-in's shared core: its tables, sealed kB, onepw verifiers, tokens, sessions.

Contract: :class:`FxACore` owns the database tables (created idempotently on the service's
connection), seals kB under a database secret, computes the server side of onepw
(``server_verifier`` with the stand-in's scrypt cost), stores tokens by their HKDF id with
their Hawk key, and makes sessions (verified unless TOTP, an unverified email or an
"unverified next login" fault says otherwise; see ``_fxa``). The mixins of ``_fxa_sessions``
and ``_fxa_password`` build on it; ``_fxa.FxA`` is the whole.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from beacon._errors import UsageError
from beacon._onepw import server_verifier, token_credentials, xor
from beacon.server._accounts import Accounts
from beacon.server._db import Database
from beacon.server._fxa_types import SCHEMA, FxAHTTPError, Throttle, TokenRow, invalid_token

__all__ = ["FxACore", "Rng"]

Rng = Callable[[int], bytes]


class FxACore:
    """Tables, secrets, verifiers, tokens and sessions of the FxA stand-in."""

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
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def __repr__(self) -> str:
        return "FxA(...)"

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

    def revoke_sessions(self, uid: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM fxa_tokens WHERE uid = ?", (uid,))

    def revoke_oauth(self, uid: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM fxa_refresh_tokens WHERE uid = ?", (uid,))
        self.accounts.revoke_access_tokens(uid)

    def enable_totp(self, email: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fxa_accounts SET totp_secret = ? WHERE normalized_email = ?",
                (self.rng(20), email.lower()),
            )
