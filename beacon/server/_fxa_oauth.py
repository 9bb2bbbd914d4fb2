"""The FxA stand-in's OAuth: token grants, authorization codes with PKCE and scoped-key JWE,
scoped-key data, token destruction, and the sign-in page a browser sees on the code route.

Contract (``docs/accounts.md`` §3.6, §5; fxa ``routes/oauth/*.js``):

* ``POST /fxa/v1/oauth/token`` (also ``/fxa/v1/token``, the OAuth host's spelling PyFxA
  uses): ``grant_type`` ``fxa-credentials`` (verified session; ``access_type=offline`` adds a
  refresh token), ``refresh_token`` (a refused or revoked refresh token is 400 errno 110, as
  the auth server maps OAuth's 108), ``authorization_code`` (the default; the PKCE verifier
  must match the S256 challenge; the code is single-use and lives 10 minutes; the answer
  carries the stored ``keys_jwe``). Access tokens come from
  :meth:`~._accounts.Accounts.issue_access_token` (the token server verifies them), ``ttl``
  seconds (default :data:`ACCESS_TOKEN_TTL`, at most a day).
* ``POST /fxa/v1/oauth/authorization`` (verified session): a code for the client, answered as
  ``{redirect, code, state}``.
* ``POST /fxa/v1/account/scoped-key-data`` (verified session): the Sync scope's
  ``keyRotationTimestamp`` = the account's keys_changed_at (ms).
* ``POST /fxa/v1/oauth/destroy`` and ``/fxa/v1/destroy``: revoke a refresh or access token;
  unknown tokens succeed (RFC 7009).
* ``GET /fxa/authorization`` shows a sign-in form for the code route (email, password, and an
  authenticator code when the account has TOTP); ``POST`` checks the password as FxA's web
  content would, derives kSync/kid from kB, encrypts them to ``keys_jwk`` (ECDH-ES +
  A256GCM) and redirects (302) to ``redirect_uri?code=…&state=…`` (default: the
  ``/fxa/oauth/success/<client_id>`` page, whose address the user pastes back).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from beacon._errors import UsageError
from beacon._scoped_keys import SYNC_SCOPE, encrypt_scoped_keys, oldsync_key, pkce_challenge
from beacon.server._core import Core
from beacon.server._fxa import FxA, FxAHTTPError, TokenRow, totp_code
from beacon.server._fxa_http import FXA_PREFIX, fxa_endpoint, read_json

__all__ = ["ACCESS_TOKEN_TTL", "oauth_routes"]

#: Default access-token lifetime in seconds (Firefox asks for 6 h for Sync).
ACCESS_TOKEN_TTL = 6 * 3600
_MAX_TTL = 24 * 3600
_CODE_LIFETIME = 600.0

SessionCheck = Callable[[Request, FxA], TokenRow]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _req(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise FxAHTTPError(400, 107, f"Invalid parameter in request body: {name}")
    return value


def _opt(body: dict[str, Any], name: str) -> str | None:
    return None if body.get(name) is None else _req(body, name)


def _ttl(body: dict[str, Any]) -> int:
    ttl = body.get("ttl", ACCESS_TOKEN_TTL)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        raise FxAHTTPError(400, 107, "Invalid parameter in request body: ttl")
    return min(ttl, _MAX_TTL)


def issue(
    fxa: FxA,
    uid: str,
    *,
    client_id: str,
    scope: str,
    offline: bool,
    ttl: int,
    auth_at: int,
) -> dict[str, Any]:
    access, _ = fxa.accounts.issue_access_token(uid, scope=scope, ttl=ttl, client_id=client_id)
    answer: dict[str, Any] = {
        "access_token": access,
        "token_type": "bearer",
        "scope": scope,
        "expires_in": ttl,
        "auth_at": auth_at,
    }
    if offline:
        refresh = fxa.rng(32).hex()
        with fxa.db.transaction() as conn:
            conn.execute(
                "INSERT INTO fxa_refresh_tokens (token_hash, uid, client_id, scope, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (_hash(refresh), uid, client_id, scope, fxa.clock()),
            )
        answer["refresh_token"] = refresh
    return answer


def _grant_refresh(fxa: FxA, body: dict[str, Any], client_id: str) -> dict[str, Any]:
    token = _req(body, "refresh_token")
    with fxa.db.transaction() as conn:
        row = conn.execute(
            "SELECT uid, client_id, scope FROM fxa_refresh_tokens WHERE token_hash = ?",
            (_hash(token),),
        ).fetchone()
    if row is None or row[1] != client_id:
        raise FxAHTTPError(400, 110, "Invalid token")
    granted = set(str(row[2]).split())
    wanted = _opt(body, "scope")
    scope = wanted if wanted is not None else str(row[2])
    if not set(scope.split()) <= granted:
        raise FxAHTTPError(400, 107, "Invalid parameter in request body: scope")
    return issue(
        fxa,
        str(row[0]),
        client_id=client_id,
        scope=scope,
        offline=False,
        ttl=_ttl(body),
        auth_at=int(fxa.clock()),
    )


def _grant_code(fxa: FxA, body: dict[str, Any], client_id: str) -> dict[str, Any]:
    code = _req(body, "code")
    with fxa.db.transaction() as conn:
        row = conn.execute(
            "SELECT uid, client_id, scope, access_type, code_challenge, keys_jwe, auth_at,"
            " expires_at FROM fxa_oauth_codes WHERE code_hash = ?",
            (_hash(code),),
        ).fetchone()
        if row is not None:
            conn.execute("DELETE FROM fxa_oauth_codes WHERE code_hash = ?", (_hash(code),))
    if row is None or row[1] != client_id or float(row[7]) <= fxa.clock():
        raise FxAHTTPError(400, 110, "Unknown or expired authorization code")
    if row[4] is not None:
        verifier = body.get("code_verifier")
        try:
            ok = isinstance(verifier, str) and pkce_challenge(verifier) == row[4]
        except UsageError:
            ok = False
        if not ok:
            raise FxAHTTPError(400, 107, "Invalid parameter in request body: code_verifier")
    answer = issue(
        fxa,
        str(row[0]),
        client_id=client_id,
        scope=str(row[2]),
        offline=row[3] == "offline",
        ttl=_ttl(body),
        auth_at=int(row[6]),
    )
    if row[5]:
        answer["keys_jwe"] = row[5]
    return answer


def make_code(
    fxa: FxA,
    uid: str,
    *,
    client_id: str,
    scope: str,
    access_type: str,
    challenge: str | None,
    keys_jwe: str | None,
    redirect_uri: str | None,
    auth_at: int,
) -> str:
    code = fxa.rng(32).hex()
    with fxa.db.transaction() as conn:
        conn.execute(
            "INSERT INTO fxa_oauth_codes (code_hash, uid, client_id, scope, access_type,"
            " code_challenge, keys_jwe, redirect_uri, auth_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _hash(code),
                uid,
                client_id,
                scope,
                access_type,
                challenge,
                keys_jwe,
                redirect_uri,
                auth_at,
                fxa.clock() + _CODE_LIFETIME,
            ),
        )
    return code


def _routes_with(session_check: SessionCheck) -> list[tuple[str, Any, str]]:
    async def token(request: Request, fxa: FxA) -> Any:
        body = await read_json(request)
        client_id = _req(body, "client_id")
        grant = body.get("grant_type", "authorization_code")
        if grant == "fxa-credentials":
            session = session_check(request, fxa)
            scope = _req(body, "scope")
            return issue(
                fxa,
                session.uid,
                client_id=client_id,
                scope=scope,
                offline=body.get("access_type") == "offline",
                ttl=_ttl(body),
                auth_at=session.auth_at,
            )
        if grant == "refresh_token":
            return _grant_refresh(fxa, body, client_id)
        if grant == "authorization_code":
            return _grant_code(fxa, body, client_id)
        raise FxAHTTPError(400, 121, "Invalid grant_type")

    async def authorization(request: Request, fxa: FxA) -> Any:
        session = session_check(request, fxa)
        body = await read_json(request)
        client_id, state = _req(body, "client_id"), _req(body, "state")
        scope = _opt(body, "scope") or SYNC_SCOPE
        redirect_uri = _opt(body, "redirect_uri")
        code = make_code(
            fxa,
            session.uid,
            client_id=client_id,
            scope=scope,
            access_type=str(body.get("access_type") or "online"),
            challenge=_opt(body, "code_challenge"),
            keys_jwe=_opt(body, "keys_jwe"),
            redirect_uri=redirect_uri,
            auth_at=session.auth_at,
        )
        base = str(request.base_url).rstrip("/")
        target = redirect_uri or f"{base}{FXA_PREFIX}/oauth/success/{client_id}"
        query = urlencode({"code": code, "state": state})
        return {"redirect": f"{target}?{query}", "code": code, "state": state}

    async def scoped_key_data(request: Request, fxa: FxA) -> Any:
        session = session_check(request, fxa)
        body = await read_json(request)
        _req(body, "client_id")
        scopes = (_req(body, "scope") or "").split()
        stamp = fxa.accounts.keys_changed_at(session.uid)
        return {
            s: {
                "identifier": s,
                "keyRotationSecret": "0" * 64,
                "keyRotationTimestamp": stamp,
            }
            for s in scopes
            if s == SYNC_SCOPE
        }

    async def destroy(request: Request, fxa: FxA) -> Any:
        body = await read_json(request)
        for name in ("token", "refresh_token", "access_token"):
            value = body.get(name)
            if isinstance(value, str) and value:
                with fxa.db.transaction() as conn:
                    conn.execute(
                        "DELETE FROM fxa_refresh_tokens WHERE token_hash = ?", (_hash(value),)
                    )
                fxa.accounts.revoke_token(value)
        return {}

    return [
        ("/oauth/token", token, "POST"),
        ("/token", token, "POST"),
        ("/oauth/authorization", authorization, "POST"),
        ("/account/scoped-key-data", scoped_key_data, "POST"),
        ("/oauth/destroy", destroy, "POST"),
        ("/destroy", destroy, "POST"),
    ]


# -- the content server's sign-in page (the code route in a browser) ----------------------------

_FORM = """<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in to continue to Firefox Sync</h1>{error}
<form method="post" action="{action}">
<label>Email <input name="email" type="email" value="{email}"></label>
<label>Password <input name="password" type="password"></label>
<label>Authenticator code (if enabled) <input name="code" inputmode="numeric"></label>
<button type="submit">Sign in</button></form></body></html>"""


def _form(request: Request, error: str = "", status: int = 200) -> Response:
    action = html.escape(f"{FXA_PREFIX}/authorization?{request.url.query}")
    email = html.escape(request.query_params.get("email", ""))
    shown = f"<p role='alert'>{html.escape(error)}</p>" if error else ""
    return HTMLResponse(_FORM.format(action=action, email=email, error=shown), status)


async def authorization_page(request: Request) -> Response:
    if request.method == "GET":
        return _form(request)
    core: Core = request.app.state.core
    fxa: FxA = core.fxa
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    params = request.query_params
    client_id, state = params.get("client_id"), params.get("state")
    if not client_id or not state or params.get("response_type", "code") != "code":
        return _form(request, "This sign-in link is incomplete.", 400)
    try:
        uid, kb = fxa.kb_from_password(form.get("email", ""), form.get("password", ""))
    except (FxAHTTPError, UsageError):
        return _form(request, "Incorrect email or password.", 400)
    expected = _recent_totp(fxa, uid, fxa.clock())
    if expected and form.get("code", "").strip() not in expected:
        return _form(request, "Enter the code from your authenticator app.", 400)
    return await _finish(request, fxa, uid, kb, client_id, state)


def _recent_totp(fxa: FxA, uid: str, now: float) -> list[str]:
    with fxa.db.transaction() as conn:
        row = conn.execute("SELECT totp_secret FROM fxa_accounts WHERE uid = ?", (uid,)).fetchone()
    if row is None or row[0] is None:
        return []
    return [totp_code(bytes(row[0]), now + d) for d in (-30, 0, 30)]


async def _finish(
    request: Request, fxa: FxA, uid: str, kb: bytes, client_id: str, state: str
) -> Response:
    params = request.query_params
    scope = params.get("scope") or SYNC_SCOPE
    keys_jwk = params.get("keys_jwk")
    keys_jwe = None
    if keys_jwk and SYNC_SCOPE in scope.split():
        key = oldsync_key(kb, fxa.accounts.keys_changed_at(uid))
        try:
            keys_jwe = encrypt_scoped_keys({SYNC_SCOPE: key}, keys_jwk)
        except UsageError:
            return _form(request, "This sign-in link carries a bad keys_jwk.", 400)
    code = make_code(
        fxa,
        uid,
        client_id=client_id,
        scope=scope,
        access_type=params.get("access_type") or "online",
        challenge=params.get("code_challenge"),
        keys_jwe=keys_jwe,
        redirect_uri=params.get("redirect_uri"),
        auth_at=int(fxa.clock()),
    )
    base = str(request.base_url).rstrip("/")
    target = params.get("redirect_uri") or f"{base}{FXA_PREFIX}/oauth/success/{client_id}"
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}{urlencode({'code': code, 'state': state})}", 302)


async def success_page(request: Request) -> Response:
    return HTMLResponse(
        "<!doctype html><html><body><h1>Signed in</h1><p>Copy this page's address"
        " into beacon to finish.</p></body></html>"
    )


def oauth_routes(v1: str, session_check: SessionCheck) -> list[Route]:
    routes = [
        Route(v1 + path, fxa_endpoint(handler), methods=[method])
        for path, handler, method in _routes_with(session_check)
    ]
    routes.append(Route(FXA_PREFIX + "/authorization", authorization_page, methods=["GET", "POST"]))
    routes.append(Route(FXA_PREFIX + "/oauth/success/{client_id}", success_page, methods=["GET"]))
    return routes
