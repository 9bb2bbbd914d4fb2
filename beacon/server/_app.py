"""The one Starlette application: token server, storage nodes, admin API, fault middleware.

Contract: :func:`build_app` returns an ASGI app whose routes are

* ``GET /1.0/<app>/<version>`` — token server (``_tokenserver``);
* ``/node/<n>/1.5/<uid>/...`` — storage nodes 1..N (``_storage``, ``_writes``);
* ``POST /accounts`` and ``/__admin__/...`` — sign-up and admin (``_admin``);
* ``/__heartbeat__`` and ``/__lbheartbeat__`` — health checks (``_health``).

CORS is answered as syncstorage-rs does (outermost, so injected refusals carry it too): any
origin, preflight ``OPTIONS`` on every route, ``Access-Control-Max-Age: 1728000``, the request
headers a Sync client sends allowed and the ``X-Weave-*`` response headers exposed.
* ``/fxa/...`` — the Firefox Accounts stand-in (``_fxa_http``, ``_fxa_oauth``).

:class:`ServiceMiddleware` wraps it: except for admin paths, it answers a request from the
fault queue when an injected error matches (503 + ``Retry-After`` by default; bare ``0`` body
on node paths, a Cornice body elsewhere), adds injected backoff headers, adds
``X-Weave-Timestamp`` to node responses that lack one (404/405 from routing), and records
every request in the log. Unknown routes answer 404 and wrong methods 405 with body ``0``
on node paths (§3.4), a Cornice error body elsewhere.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beacon._injection import LoggedRequest, error_answer
from beacon.server._admin import ADMIN_PREFIX, admin_routes
from beacon.server._core import Core
from beacon.server._faults import Faults
from beacon.server._fxa_http import fxa_routes
from beacon.server._health import HEALTH_PATHS, health_routes
from beacon.server._storage import node_routes
from beacon.server._tokenserver import token_endpoint
from beacon.server._wire import now_ms, render_ts
from beacon.server._writes import HANDLERS

NODE_PREFIX = "/node/"
# syncstorage-rs's CORS settings (syncserver-settings defaults), plus the request headers a
# browser client of the storage API and the token server needs beyond them.
CORS_METHODS = ("DELETE", "GET", "POST", "PUT")
CORS_MAX_AGE = 1_728_000
CORS_ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "User-Agent",
    "X-Last-Modified",
    "X-Weave-Timestamp",
    "X-Weave-Next-Offset",
    "X-Weave-Records",
    "X-Weave-Bytes",
    "X-Weave-Total-Records",
    "X-Weave-Total-Bytes",
    "X-Verify-Code",
    "X-If-Modified-Since",
    "X-If-Unmodified-Since",
    "X-KeyID",
    "X-Client-State",
)
CORS_EXPOSED_HEADERS = (
    "X-Weave-Timestamp",
    "X-Last-Modified",
    "X-Weave-Next-Offset",
    "X-Weave-Records",
    "X-Weave-Backoff",
    "X-Weave-Alert",
    "X-Weave-Quota-Remaining",
    "X-Backoff",
    "Backoff",
    "Retry-After",
    "X-Timestamp",
)


def _cornice(description: str) -> str:
    return json.dumps(
        {"status": "error", "errors": [{"location": "url", "name": "", "description": description}]}
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if request.url.path.startswith(NODE_PREFIX):
        return Response("0", exc.status_code, headers=headers, media_type="application/json")
    return Response(
        _cornice(str(exc.detail)), exc.status_code, headers=headers, media_type="application/json"
    )


class CorsFront:
    """Starlette's CORS middleware for requests that carry an ``Origin``; the others (no
    browser is asking) skip its per-request work but get the one header it would have
    added to them, ``Vary: Origin``."""

    def __init__(self, app: ASGIApp, /, **cors: Any) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **cors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await self.cors(scope, receive, send)
            return

        async def vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"vary", b"Origin")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, vary)


class ServiceMiddleware:
    """Fault injection, backoff headers, node timestamps and the request log."""

    def __init__(self, app: ASGIApp, core: Core) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith(ADMIN_PREFIX)
            or scope["path"] in HEALTH_PATHS
        ):
            await self.app(scope, receive, send)
            return
        core = self.core
        path: str = scope["path"]
        is_node = path.startswith(NODE_PREFIX)
        rule = core.pending.take_error(path, scope["method"])
        if rule is not None:
            status, headers, body = error_answer(rule, storage=is_node)
            if is_node:
                headers["X-Weave-Timestamp"] = render_ts(now_ms(core.clock))
            response = Response(body, status, headers=headers, media_type="application/json")
            # Logged before the answer leaves: a client that has its response sees it logged.
            self._log(scope, rule.status, injected=True)
            await response(scope, receive, send)
            return
        extra = core.pending.take_headers(path, scope["method"])
        logged = False

        async def send_wrapper(message: Message) -> None:
            nonlocal logged
            if message["type"] == "http.response.start":
                # Logged before the status line is sent, so the log never lags the client
                # (it did under load: a test read the log before the server thread wrote it).
                self._log(scope, message["status"], injected=False)
                logged = True
                headers: list[tuple[bytes, bytes]] = message.get("headers", [])
                added = [(name.lower().encode(), value.encode()) for name, value in extra.items()]
                if is_node and not any(name.lower() == b"x-weave-timestamp" for name, _ in headers):
                    added.append((b"x-weave-timestamp", render_ts(now_ms(core.clock)).encode()))
                if added:
                    message = {**message, "headers": [*headers, *added]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not logged:  # the app failed before answering
                self._log(scope, 500, injected=False)

    def _log(self, scope: Scope, status: int, *, injected: bool) -> None:
        self.core.log.add(
            LoggedRequest(scope["method"], scope["path"], status, self.core.clock(), injected)
        )


def build_app(core: Core, faults: Faults, *, signup: bool = True) -> Starlette:
    """The whole service as one Starlette application (see the module docstring)."""
    routes: list[Any] = [
        Route("/1.0/{app}/{version}", token_endpoint, methods=["GET"]),
        *node_routes(HANDLERS),
        *admin_routes(),
        *health_routes(),
        *fxa_routes(),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
        middleware=[
            Middleware(
                CorsFront,
                allow_origins=["*"],
                allow_methods=CORS_METHODS,
                allow_headers=CORS_ALLOWED_HEADERS,
                expose_headers=CORS_EXPOSED_HEADERS,
                max_age=CORS_MAX_AGE,
            ),
            Middleware(ServiceMiddleware, core=core),
        ],
    )
    # A path like /storage// must be a 404 (§3.4), never a redirect.
    app.router.redirect_slashes = False
    app.state.core = core
    app.state.faults = faults
    app.state.signup = signup
    return app
