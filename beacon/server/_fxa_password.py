"""The FxA stand-in's password credentials: accounts, v1/v2 verifiers, password changes.

Contract: see ``_fxa``. Creating an account stores the onepw v1 verifier and, with v2, the v2
verifier and clientSalt; ``/password/change/*`` replaces them (an upgrade to v2 with the same
password revokes nothing; any other change revokes every session and OAuth token and moves
generation on); :meth:`PasswordCredentials.change_password` does the same from Python, for
the "password changed elsewhere" fault, using the sealed kB; ``reset_account`` is a reset
without a recovery key (a new kB: the keys no longer match).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from beacon._errors import UsageError
from beacon._onepw import PasswordKeys, make_client_salt, wrap_kb, xor
from beacon.server._fxa_core import FxACore
from beacon.server._fxa_types import FxAAccount, FxAHTTPError, TokenRow, is_hex64, valid_v2

__all__ = ["PasswordCredentials"]


class PasswordCredentials(FxACore):
    """Accounts and their password-derived credentials."""

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
        if not isinstance(email, str) or "@" not in email or not is_hex64(body.get("authPW")):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        v2 = [body.get(k) for k in ("authPWVersion2", "wrapKbVersion2", "clientSalt")]
        if (any(v2) and not all(v2)) or (all(v2) and not valid_v2(body)):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        if body.get("wrapKb") is not None and not is_hex64(body.get("wrapKb")):
            raise FxAHTTPError(400, 107, "Invalid parameter in request body")
        uid = self._insert_account(email, body, verified=False, kb=None)
        version = 2 if all(v2) else 1
        auth_pw = body["authPWVersion2"] if version == 2 else body["authPW"]
        return self._new_session(
            uid, version=version, keys=keys, login=False, auth_pw=bytes.fromhex(auth_pw)
        )

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

    def password_change_start(self, session: TokenRow, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /password/change/start``: the old authPW checked; a key-fetch token for the
        current kB and a password-change token."""
        if not session.verified:
            raise FxAHTTPError(400, 138, "Unconfirmed session")
        email, old = body.get("email"), body.get("oldAuthPW")
        if not isinstance(email, str) or not is_hex64(old):
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
            not is_hex64(body.get("authPW"))
            or not is_hex64(body.get("wrapKb"))
            or (any(v2) and not all(v2))
            or (all(v2) and not valid_v2(body))
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

    def change_password(self, email: str, new_password: str) -> None:
        """The password changes elsewhere: kB kept, sessions and OAuth tokens revoked,
        generation moved on (fxa ``password.ts``: resetAccount, removePublicAndCanGrantTokens).
        """
        self._rekey(email, new_password, revoke=True)

    def reset_account(self, email: str, new_password: str) -> bytes:
        """A password reset without a recovery key: a new kB (returned), keys_changed_at and
        generation move on, every session and OAuth token is revoked (fxa ``account.ts``
        reset). Sync then sees new keys: a new client state and empty storage."""
        kb = self.rng(32)
        uid = self._rekey(email, new_password, revoke=False, kb=kb)
        self.revoke_sessions(uid)
        self.revoke_oauth(uid)
        self.accounts.reset_password(uid)
        return kb

    def _rekey(
        self, email: str, new_password: str, *, revoke: bool, kb: bytes | None = None
    ) -> str:
        with self.db.transaction() as conn:
            row = self.account_row(conn, email)
        if row is None:
            raise UsageError("no FxA account with that email")
        if kb is not None:
            with self.db.transaction() as conn:
                conn.execute(
                    "UPDATE fxa_accounts SET kb_sealed = ? WHERE uid = ?",
                    (self._seal(kb), row["uid"]),
                )
        kb = kb if kb is not None else self._unseal(row["kb_sealed"])
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
        return uid
