"""The fault proxy's ASGI application: relay, rewrite, inject.

Contract for :func:`build_app` (one Starlette app, one catch-all route):

* ``/__admin__/...`` is the admin API, in the embedded service's shape (``beacon._injection``):
  ``POST /__admin__/faults/<name>`` with a JSON object of keyword arguments → ``{"result"}``,
  ``GET /__admin__/requests`` → the request log; 404 without an admin secret, 401 without
  ``Authorization: Bearer <admin secret>``. Admin requests are neither relayed nor logged.
* ``/n/<k>/<rest>`` is storage: relayed to upstream node ``k`` + ``/<rest>`` (404 ``0`` for an
  unknown ``k``), the Hawk header re-signed for the upstream (``_routing.resign``).
  Before relaying: a revoked token, an expired one (except ``GET info/collections``) or a
  uid the proxy moved off node ``k`` → 401 ``0`` with ``WWW-Authenticate: Hawk``; a pending
  race on a write with ``X-If-Unmodified-Since`` → 412 ``0``.
* Anything else goes to the token server's base URL (``/1.0/sync/1.5``, and whatever else it
  serves there, e.g. beacon's ``/accounts``). A 200 token response is learned and its
  ``api_endpoint`` rewritten to ``<proxy>/n/<k>/1.5/<uid>``; a JSON object's
  ``token_server_url`` (beacon's sign-up answer) is rewritten to the proxy's.
* Injected answers (``fail_next``, hard ``alert_next``) are answered before relaying; injected
  headers are added to the relayed answer; a pending drop relays the request and then closes
  the connection after the head of the answer. An unreachable upstream is a 502.
* Every response to a storage path carries ``X-Weave-Timestamp``; error bodies are a bare
  ``0`` on storage paths and Cornice-style elsewhere (docs/protocol.md §1.6, §3.10).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from beacon._hawk import HawkInvalid, parse_header
from beacon._injection import Rule, admin_refusal, call_fault, error_answer
from beacon.proxy._faults import PROXY_FAULTS, WRITES, ProxyFaults, ProxyState
from beacon.proxy._routing import (
    forwarded_headers,
    peek_claims,
    resign,
    response_headers,
    split_endpoint,
)

ADMIN_PREFIX = "/__admin__"
STORAGE_PREFIX = "/n/"
_TIMESTAMP_HEADERS = ("x-weave-timestamp", "x-timestamp")


def _stamp(clock: Callable[[], float], skew: int) -> str:
    return f"{clock() - skew:.2f}"


def _shift(value: str, skew: int) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number - skew:.2f}" if "." in value else str(int(number - skew))


class _Dropped(Response):
    """Sends the head of an answer, then ends the ASGI call: uvicorn closes the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )


class ProxyApp:
    """The relay; see the module docstring."""

    def __init__(
        self,
        state: ProxyState,
        faults: ProxyFaults,
        *,
        token_server: str,
        admin_secret: str | None,
        public_url: str | None,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.state = state
        self.faults = faults
        self.token_base = token_server
        self.admin_secret = admin_secret
        self.public_url = public_url
        self._transport = transport
        self.client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            transport=self._transport, timeout=httpx.Timeout(60.0), follow_redirects=False
        ) as client:
            self.client = client
            yield
        self.client = None

    # -- admin -----------------------------------------------------------------------------
    async def admin(self, request: Request) -> Response:
        refusal = admin_refusal(self.admin_secret, request.headers.get("authorization"))
        if refusal is not None:
            return JSONResponse({"error": refusal[1]}, refusal[0])
        path = request.url.path[len(ADMIN_PREFIX) :]
        if path == "/requests" and request.method == "GET":
            return JSONResponse([asdict(e) for e in self.state.log.entries()])
        if path.startswith("/faults/") and request.method == "POST":
            name = path[len("/faults/") :]
            status, answer = call_fault(self.faults, PROXY_FAULTS, name, await request.body())
            return JSONResponse(answer, status)
        return JSONResponse({"error": "not found"}, 404)

    # -- relay -----------------------------------------------------------------------------
    def _refusal(
        self,
        status: int,
        storage: bool,
        headers: dict[str, str] | None = None,
        description: str = "Bad Gateway",
    ) -> Response:
        extra = dict(headers or {})
        if storage:
            extra["X-Weave-Timestamp"] = _stamp(self.state.clock, self.state.skew)
            return Response("0", status, headers=extra, media_type="application/json")
        error = {"location": "body", "name": "", "description": description}
        body = json.dumps({"status": "error", "errors": [error]})
        return Response(body, status, headers=extra, media_type="application/json")

    def _storage_target(self, request: Request) -> tuple[httpx.URL, int, int | None] | Response:
        """(upstream URL, node index, uid) of a storage request, or the refusal to send."""
        raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        _, _, index, *tail = raw.split("/", 3)
        base = None
        if index.isascii() and index.isdigit() and len(index) <= 5:
            base = self.state.node_url(int(index))
        if base is None:
            return self._refusal(404, True)
        rest = tail[0] if tail else ""
        query = request.scope.get("query_string", b"").decode("latin-1")
        target = httpx.URL(base + "/" + rest + (f"?{query}" if query else ""))
        version, _, after = rest.partition("/")
        uid_text = after.split("/", 1)[0]
        uid = None
        if version == "1.5" and uid_text.isascii() and uid_text.isdigit() and len(uid_text) <= 10:
            uid = int(uid_text)
        return target, int(index), uid

    def _received(self, request: Request) -> tuple[str, str, str]:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        resource = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        return request.headers.get("host", ""), request.url.scheme, resource

    def _authorize(
        self, request: Request, upstream: httpx.URL, node: int, uid: int | None
    ) -> tuple[list[tuple[bytes, bytes]], Response | None]:
        """The headers to relay (Hawk re-signed), or a refusal the proxy answers itself."""
        headers = forwarded_headers(request.scope["headers"])
        unauthorized = self._refusal(401, True, {"WWW-Authenticate": "Hawk"})
        if uid is not None and self.state.moved_away(uid, node):
            return headers, unauthorized
        value = request.headers.get("authorization")
        try:
            header = parse_header(value) if value else None
        except HawkInvalid:
            header = None
        info = None if header is None else self.state.token(header.id)
        if header is None or info is None:
            return headers, None  # not a token the proxy relayed: the upstream judges it
        info_collections = request.method in ("GET", "HEAD") and request.url.path.endswith(
            "/info/collections"
        )
        if info.revoked or (info.expired and not info_collections):
            return headers, unauthorized
        signed = resign(
            header,
            info.key,
            method=request.method,
            received=self._received(request),
            upstream=upstream,
            skew=self.state.skew,
        )
        if signed is not None:
            headers = [(k, v) for k, v in headers if k.lower() != b"authorization"]
            headers.append((b"authorization", signed.encode("ascii")))
        return headers, None

    def _base(self, request: Request) -> str:
        return self.public_url or str(request.base_url).rstrip("/")

    def _rewrite_token(self, request: Request, data: dict[str, Any]) -> None:
        endpoint, token_id, key = data.get("api_endpoint"), data.get("id"), data.get("key")
        if not (isinstance(endpoint, str) and isinstance(token_id, str) and isinstance(key, str)):
            return
        split = split_endpoint(endpoint)
        if split is None:
            return  # an endpoint of another shape: its traffic bypasses the proxy
        base, uid = split
        claims = peek_claims(token_id)
        fxa_uid = claims.get("fxa_uid")
        node = self.state.node_index(base)
        node = self.state.learn(
            token_id,
            key,
            uid=uid,
            fxa_uid=fxa_uid if isinstance(fxa_uid, str) else None,
            node=node,
        )
        data["api_endpoint"] = f"{self._base(request)}{STORAGE_PREFIX}{node}/1.5/{uid}"

    def _rewrite(self, request: Request, storage: bool, status: int, content: bytes) -> bytes:
        """Token responses and sign-up answers name the proxy (see the module docstring)."""
        if storage or status not in (200, 201) or not content.lstrip().startswith(b"{"):
            return content
        try:
            data = json.loads(content)
        except ValueError:
            return content
        if not isinstance(data, dict):
            return content
        if request.url.path.startswith("/1.0/") and status == 200:
            self._rewrite_token(request, data)
        url = data.get("token_server_url")
        if isinstance(url, str) and url.startswith(self.token_base):
            data["token_server_url"] = self._base(request) + url[len(self.token_base) :]
        return json.dumps(data).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.url.path.startswith(ADMIN_PREFIX):
            response = await self.admin(request)
            await response(scope, receive, send)
            return
        response, injected = await self.relay(request)
        # Logged before it is sent: whoever reads the log after the answer must find it.
        self.state.add_log(
            request.method, request.url.path, response.status_code, injected=injected
        )
        await response(scope, receive, send)

    def _injected(self, rule: Rule, storage: bool) -> Response:
        status, headers, body = error_answer(rule, storage=storage)
        if storage:
            headers["X-Weave-Timestamp"] = _stamp(self.state.clock, self.state.skew)
        return Response(body, status, headers=headers, media_type="application/json")

    async def relay(self, request: Request) -> tuple[Response, bool]:
        state = self.state
        method, path = request.method, request.url.path
        storage = path.startswith(STORAGE_PREFIX)
        rule = state.answers.take_error(path, method)
        if rule is not None:
            return self._injected(rule, storage), True
        if storage:
            target = self._storage_target(request)
            if isinstance(target, Response):
                return target, False
            upstream, node, uid = target
            headers, refusal = self._authorize(request, upstream, node, uid)
            if refusal is not None:
                return refusal, True
            since = request.headers.get("x-if-unmodified-since")
            if method in WRITES and since is not None and state.races.take_error(path, method):
                try:
                    last = f"{float(since) + 0.01:.2f}"
                except ValueError:
                    last = since
                return self._refusal(412, True, {"X-Last-Modified": last}), True
        else:
            query = request.scope.get("query_string", b"").decode("latin-1")
            upstream = httpx.URL(self.token_base + path + (f"?{query}" if query else ""))
            headers = forwarded_headers(request.scope["headers"])
        payload = await request.body()
        assert self.client is not None, "the proxy app runs with its lifespan"
        try:
            answer = await self.client.request(method, upstream, headers=headers, content=payload)
        except httpx.HTTPError:
            return self._refusal(502, storage), False
        content = self._rewrite(request, storage, answer.status_code, answer.content)
        out = response_headers(answer.headers)
        extra = state.answers.take_headers(path, method)
        if state.skew:
            out = [
                (k, _shift(v, state.skew) if k.lower() in _TIMESTAMP_HEADERS else v) for k, v in out
            ]
        response = Response(content, answer.status_code)
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        raw += [h for h in response.raw_headers if h[0] == b"content-length"]
        response.raw_headers = raw
        if state.drops.take_error(path, method) is not None:
            dropped = _Dropped(content, answer.status_code)
            dropped.raw_headers = raw
            return dropped, True
        return response, bool(extra)


def build_app(proxy: ProxyApp) -> Starlette:
    """The proxy as one Starlette application (see the module docstring)."""
    app = Starlette(
        routes=[Route("/{path:path}", proxy, methods=None)],
        lifespan=proxy.lifespan,
    )
    app.router.redirect_slashes = False
    return app
