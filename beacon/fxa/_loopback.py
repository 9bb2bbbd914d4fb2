"""A loopback redirect listener for the OAuth code route (RFC 8252 §7.3).

Contract: :class:`LoopbackRedirect` listens on ``127.0.0.1`` (port 0 picks a free one) for
one browser redirect to :attr:`LoopbackRedirect.redirect_uri`, answers it with a short page
("you can close this window"), and returns the full URL it was called with, from which the
account service reads ``code`` and ``state``. It waits at most ``timeout`` seconds, then
returns ``None``; requests to other paths get a 404 and do not count. Used as the
``redirect`` callable of :meth:`~._account.FirefoxAccount.sign_in_oauth`; it opens nothing
itself (the caller shows or opens the URL in ``on_url``).

Mozilla's production OAuth clients accept only their registered redirect URIs, so this works
with servers that allow a loopback redirect for the chosen client id (the embedded stand-in
does); otherwise paste the final address instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType

from beacon._errors import UsageError

__all__ = ["LoopbackRedirect"]

_PATH = "/oauth/callback"
_PAGE = (
    b"<!doctype html><html><body><h1>beacon is signed in</h1>"
    b"<p>You can close this window.</p></body></html>"
)


class LoopbackRedirect:
    """One redirect received on loopback (see the module docstring)."""

    def __init__(
        self,
        *,
        port: int = 0,
        timeout: float = 300.0,
        on_url: Callable[[str], object] | None = None,
    ) -> None:
        self._got: list[str] = []
        self._done = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != _PATH:
                    self.send_error(404)
                    return
                owner._got.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(_PAGE)))
                self.end_headers()
                self.wfile.write(_PAGE)
                owner._done.set()

            def log_message(self, format: str, *args: object) -> None:
                return  # the query carries the code: never log it

        try:
            self._server = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        self._timeout = timeout
        self._on_url = on_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="beacon-oauth-redirect", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"LoopbackRedirect({self.redirect_uri!r})"

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{_PATH}"

    def __call__(self, authorization_url: str) -> str | None:
        if self._on_url is not None:
            self._on_url(authorization_url)
        if not self._done.wait(self._timeout) or not self._got:
            return None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self._got[0]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> LoopbackRedirect:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
