"""The FxA stand-in's sign-in: login, verification (emailed code, TOTP, link, unblock), keys.

Contract: see ``_fxa`` (the module docstring there describes the whole auth server). Every
refusal is an :class:`~._fxa_types.FxAHTTPError` with FxA's errno.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Mapping
from typing import Any

from beacon._errors import UsageError
from beacon._onepw import bundle_keys
from beacon.server._fxa_core import FxACore
from beacon.server._fxa_types import FxAHTTPError, TokenRow, invalid_token, is_hex64, totp_code

__all__ = ["Sessions"]


class Sessions(FxACore):
    """Login, verification, key fetch and the user-side codes."""

    def login(
        self,
        body: Mapping[str, Any],
        *,
        keys: bool,
    ) -> dict[str, Any]:
        """``POST /account/login``: see the module docstring."""
        email, auth_pw = body.get("email"), body.get("authPW")
        if not isinstance(email, str) or not is_hex64(auth_pw):
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
