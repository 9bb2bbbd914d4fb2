"""The FxA stand-in over HTTP: the auth-server routes under ``/fxa/v1``, FxA's error bodies,
token authentication in both wire forms, throttling on demand, and the admin code reader.

Contract:

* :func:`fxa_routes` lists the auth-server routes (``/fxa/v1/account/create``, ``/login``,
  ``/keys``, ``/credentials/status``, ``/login/send_unblock_code``, ``scoped-key-data``,
  ``/session/status|destroy|verify_code|verify/totp|resend_code``,
  ``/recovery_email/status|verify_code``, ``/password/change/start|finish``), the OAuth
  routes of ``_fxa_oauth``, and ``GET /__admin__/fxa/codes?email=`` and
  ``POST /__admin__/fxa/faults/<name>`` (``_fxa_faults``; admin secret required, as every
  admin route).
  A client's auth server URL is ``<service base>/fxa``.
* Errors answer FxA's JSON ``{code, errno, error, message, info, ...extra}``; 429 (errno 114)
  carries ``Retry-After`` (seconds) and ``retryAfter``.
* Token routes accept ``Authorization: Bearer <prefix>_<token id>`` and ``Hawk`` (MAC and
  timestamp checked under the token's Hawk key); anything else is 401 errno 110.
  :attr:`~._fxa.FxA.hawk_only` makes the stand-in an older server that knows only Hawk.
* :attr:`~._fxa.FxA.throttle` answers the next matching requests 429 errno 114 before any
  handler runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from beacon._hawk import HawkInvalid, parse_header, verify
from beacon._onepw import TOKEN_KINDS
from beacon.server._admin import ADMIN_PREFIX
from beacon.server._auth import split_host
from beacon.server._core import Core
from beacon.server._fxa import FxA, FxAHTTPError, TokenRow, invalid_token

__all__ = ["FXA_PREFIX", "authenticate", "fxa_endpoint", "fxa_routes", "read_json"]

FXA_PREFIX = "/fxa"
_BEARER = re.compile(r"\ABearer (fxs|fxk|fxar|fxpf|fxpc)_([0-9a-f]{64})\Z")
_KIND_OF_PREFIX = {prefix: kind for kind, prefix in TOKEN_KINDS.items()}
_ERRORS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}

Handler = Callable[[Request, FxA], Awaitable[Any]]


def error_response(exc: FxAHTTPError) -> Response:
    body = {
        "code": exc.status,
        "errno": exc.errno,
        "error": _ERRORS.get(exc.status, "Error"),
        "message": exc.message,
        "info": "https://mozilla.github.io/ecosystem-platform/api#section/Response-format",
        **exc.extra,
    }
    return JSONResponse(body, exc.status, headers=exc.headers)


def throttled(retry_after: int) -> FxAHTTPError:
    return FxAHTTPError(
        429,
        114,
        "Client has sent too many requests",
        extra={"retryAfter": retry_after, "retryAfterLocalized": f"in {retry_after} seconds"},
        headers={"Retry-After": str(retry_after)},
    )


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise FxAHTTPError(400, 106, "Invalid JSON in request body") from None
    if not isinstance(body, dict):
        raise FxAHTTPError(400, 107, "Invalid parameter in request body")
    return body


def authenticate(request: Request, fxa: FxA, kind: str) -> TokenRow:
    """The token of ``kind`` this request carries (Bearer or Hawk); 401 errno 110 otherwise."""
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer "):
        match = _BEARER.match(header)
        if fxa.hawk_only or match is None or _KIND_OF_PREFIX[match.group(1)] != kind:
            raise invalid_token()
        return fxa.token(kind, match.group(2))
    if header.startswith("Hawk "):
        try:
            hawk = parse_header(header)
        except HawkInvalid:
            raise invalid_token() from None
        row = fxa.token(kind, hawk.id)
        host, port = split_host(request.headers.get("host", ""), request.url.scheme)
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        resource = raw_path.decode("latin-1")
        query: bytes = request.scope.get("query_string", b"")
        if query:
            resource += "?" + query.decode("latin-1")
        try:
            verify(
                hawk,
                row.hawk_key,
                method=request.method,
                resource=resource,
                host=host,
                port=port,
                now=fxa.clock(),
            )
        except HawkInvalid:
            raise invalid_token() from None
        return row
    raise invalid_token()


def _verified_session(request: Request, fxa: FxA) -> TokenRow:
    session = authenticate(request, fxa, "sessionToken")
    if not session.verified:
        raise FxAHTTPError(400, 138, "Unconfirmed session")
    return session


def fxa_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Throttling, FxA error bodies, JSON answers."""

    async def endpoint(request: Request) -> Response:
        core: Core = request.app.state.core
        fxa: FxA = core.fxa
        try:
            retry_after = fxa.throttle.take(request.url.path)
            if retry_after is not None:
                raise throttled(retry_after)
            answer = await handler(request, fxa)
        except FxAHTTPError as exc:
            return error_response(exc)
        if isinstance(answer, Response):
            return answer
        return JSONResponse(answer)

    return endpoint


# -- auth-server handlers ---------------------------------------------------------------------


def _keys_param(request: Request) -> bool:
    return request.query_params.get("keys") == "true"


async def account_create(request: Request, fxa: FxA) -> Any:
    return fxa.create_from_wire(await read_json(request), keys=_keys_param(request))


async def credentials_status(request: Request, fxa: FxA) -> Any:
    email = (await read_json(request)).get("email")
    if not isinstance(email, str):
        raise FxAHTTPError(400, 107, "Invalid parameter in request body")
    return fxa.credentials_status(email)


async def account_login(request: Request, fxa: FxA) -> Any:
    return fxa.login(await read_json(request), keys=_keys_param(request))


async def send_unblock_code(request: Request, fxa: FxA) -> Any:
    fxa.send_unblock_code((await read_json(request)).get("email"))
    return {}


async def account_keys(request: Request, fxa: FxA) -> Any:
    return fxa.account_keys(authenticate(request, fxa, "keyFetchToken"))


async def session_status(request: Request, fxa: FxA) -> Any:
    session = authenticate(request, fxa, "sessionToken")
    return {"uid": session.uid, "state": "verified" if session.verified else "unverified"}


async def session_destroy(request: Request, fxa: FxA) -> Any:
    fxa.destroy_session(authenticate(request, fxa, "sessionToken"))
    return {}


async def session_verify_code(request: Request, fxa: FxA) -> Any:
    session = authenticate(request, fxa, "sessionToken")
    fxa.verify_code(session, (await read_json(request)).get("code"))
    return {}


async def session_verify_totp(request: Request, fxa: FxA) -> Any:
    session = authenticate(request, fxa, "sessionToken")
    return {"success": fxa.verify_totp(session, (await read_json(request)).get("code"))}


async def session_resend_code(request: Request, fxa: FxA) -> Any:
    authenticate(request, fxa, "sessionToken")
    return {}


async def email_status(request: Request, fxa: FxA) -> Any:
    return fxa.email_status(authenticate(request, fxa, "sessionToken"))


async def email_verify_code(request: Request, fxa: FxA) -> Any:
    body = await read_json(request)
    fxa.verify_email(body.get("uid"), body.get("code"))
    return {}


async def password_change_start(request: Request, fxa: FxA) -> Any:
    session = authenticate(request, fxa, "sessionToken")
    return fxa.password_change_start(session, await read_json(request))


async def password_change_finish(request: Request, fxa: FxA) -> Any:
    token = authenticate(request, fxa, "passwordChangeToken")
    return fxa.password_change_finish(token, await read_json(request), keys=_keys_param(request))


async def admin_codes(request: Request) -> Response:
    from beacon.server._admin import _authorized

    core: Core = request.app.state.core
    if (refusal := _authorized(core, request)) is not None:
        return refusal
    email = request.query_params.get("email", "")
    try:
        return JSONResponse(core.fxa.codes(email))
    except ValueError:
        return JSONResponse({"error": "unknown account"}, 404)


def fxa_routes() -> list[Route]:
    """Every FxA stand-in route (auth server, OAuth, content pages, admin)."""
    from beacon.server._fxa_devices import device_routes
    from beacon.server._fxa_faults import admin_fxa_fault
    from beacon.server._fxa_oauth import oauth_routes

    v1 = FXA_PREFIX + "/v1"
    table: list[tuple[str, Handler, str]] = [
        ("/account/create", account_create, "POST"),
        ("/account/credentials/status", credentials_status, "POST"),
        ("/account/login", account_login, "POST"),
        ("/account/login/send_unblock_code", send_unblock_code, "POST"),
        ("/account/keys", account_keys, "GET"),
        ("/session/status", session_status, "GET"),
        ("/session/destroy", session_destroy, "POST"),
        ("/session/verify_code", session_verify_code, "POST"),
        ("/session/verify/totp", session_verify_totp, "POST"),
        ("/session/resend_code", session_resend_code, "POST"),
        ("/recovery_email/status", email_status, "GET"),
        ("/recovery_email/verify_code", email_verify_code, "POST"),
        ("/password/change/start", password_change_start, "POST"),
        ("/password/change/finish", password_change_finish, "POST"),
    ]
    routes = [Route(v1 + path, fxa_endpoint(h), methods=[m]) for path, h, m in table]
    routes.append(Route(ADMIN_PREFIX + "/fxa/codes", admin_codes, methods=["GET"]))
    routes.append(Route(ADMIN_PREFIX + "/fxa/faults/{name}", admin_fxa_fault, methods=["POST"]))
    routes += device_routes(v1)
    return routes + oauth_routes(v1, _verified_session)
