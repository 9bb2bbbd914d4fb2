"""A synchronous httpx transport that runs the ASGI app in-process, without sockets.

Contract: :class:`InProcessTransport` is an ``httpx.BaseTransport`` for a sync
``httpx.Client``. Each request is turned into one ASGI ``http`` scope (method, path, raw path,
query string, headers exactly as httpx sends them — so Hawk MACs over host, port and
path+query verify as over a socket) and driven to completion on a private event loop. It is
thread-safe (one request at a time per transport) and also works when the calling thread
already runs an event loop (the request then runs on a helper thread). A response the app
never started (an app crash) becomes a 500; the app's own error handling otherwise applies.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

import httpx
from starlette.types import ASGIApp, Message


class InProcessTransport(httpx.BaseTransport):
    """Run ``app`` for each request on a private event loop (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self._app = app
        self._client = client
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        # Close the loop even if nobody closes the client (no ResourceWarning at exit).
        self._finalizer = weakref.finalize(self, self._loop.close)

    def __repr__(self) -> str:
        return "InProcessTransport()"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._run(request, body)
        # Called from inside a running loop: run ours on a helper thread.
        result: list[httpx.Response] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                result.append(self._run(request, body))
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return result[0]

    def _run(self, request: httpx.Request, body: bytes) -> httpx.Response:
        with self._lock:
            status, headers, chunks = self._loop.run_until_complete(self._call(request, body))
        # Over a socket a HEAD response has no body; keep that true here.
        content = b"" if request.method == "HEAD" else b"".join(chunks)
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _call(
        self, request: httpx.Request, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        raw_path = url.raw_path.split(b"?", 1)[0]
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": raw_path,
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": self._client,
            "server": (url.host, port),
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        started = False

        async def send(message: Message) -> None:
            nonlocal status, headers, started
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                started = True
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self._app(scope, receive, send)
        except Exception:
            if not started:
                return 500, [(b"content-type", b"application/json")], [b"0"]
            # Starlette already sent its 500 before re-raising; keep that answer.
        return status, headers, chunks

    def close(self) -> None:
        with self._lock:
            self._finalizer()
