"""How FxA's own tokens ride on a request: the 2026 prefixed Bearer form, or legacy Hawk.

Contract (fxa ADR-0050; ecosystem-platform ``authentication-schemes.md``;
``docs/accounts.md`` §2.4, §4):

* :class:`FxATokenAuth` is an ``httpx.Auth`` for one token of one kind. ``scheme="bearer"``
  sends ``Authorization: Bearer <prefix>_<token id hex>`` (the HKDF-derived id, never the raw
  token); ``scheme="hawk"`` signs with Hawk SHA-256 under the derived Hawk key (raw bytes),
  with the payload hash of a JSON body. Servers look tokens up by id either way.
* Neither the token nor anything derived from it appears in a repr.
* :func:`check_secure` refuses plain ``http`` except to a loopback address, ``localhost`` or
  a reserved ``.test`` name (the in-process service), as PyFxA 0.9.0 does for tokens; the
  FxA client applies it to every request (authPW and refresh tokens travel in bodies). The
  failure is a :class:`~beacon.TrustError`.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import time
from collections.abc import Callable, Generator
from typing import Literal
from urllib.parse import urlsplit

import httpx

from beacon._errors import TrustError, UsageError
from beacon._hawk import compute_mac, payload_hash
from beacon._onepw import token_credentials

__all__ = ["SCHEMES", "FxATokenAuth", "Scheme", "check_secure"]

Scheme = Literal["bearer", "hawk"]
SCHEMES: tuple[Scheme, ...] = ("bearer", "hawk")
_PORTS = {"http": 80, "https": 443}


def check_secure(url: str) -> None:
    """Raise :class:`~beacon.TrustError` unless ``url`` is https, loopback or ``.test``."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    host = (parts.hostname or "").lower()
    if parts.scheme == "http":
        if host == "localhost" or host.endswith(".test") or host == "test":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise TrustError(
        f"refusing to send FxA credentials over {parts.scheme or 'no scheme'} to"
        f" {host or url!r}: use https (plain http only to loopback)"
    )


class FxATokenAuth(httpx.Auth):
    """Authorises a request with one FxA token (see the module docstring)."""

    def __init__(
        self,
        token: str,
        kind: str,
        *,
        scheme: Scheme = "bearer",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if scheme not in SCHEMES:
            raise UsageError(f"unknown FxA auth scheme {scheme!r}")
        self._creds = token_credentials(token, kind)
        self.kind = kind
        self.scheme: Scheme = scheme
        self._clock = clock

    def __repr__(self) -> str:
        return f"FxATokenAuth({self.kind}, {self.scheme})"

    __str__ = __repr__

    def header_for(self, request: httpx.Request) -> str:
        if self.scheme == "bearer":
            return self._creds.bearer
        url = request.url
        ts = int(self._clock())
        nonce = base64.b64encode(os.urandom(6)).decode("ascii")
        body = request.content
        content_type = request.headers.get("content-type", "")
        hashed = payload_hash(content_type, body) if body and content_type else ""
        mac = compute_mac(
            self._creds.hawk_key,
            ts=ts,
            nonce=nonce,
            method=request.method,
            resource=url.raw_path.decode("ascii"),
            host=url.raw_host.decode("ascii"),
            port=url.port if url.port is not None else _PORTS.get(url.scheme, 80),
            hash=hashed,
        )
        attributes = f'id="{self._creds.token_id}", ts="{ts}", nonce="{nonce}"'
        if hashed:
            attributes += f', hash="{hashed}"'
        return f'Hawk {attributes}, mac="{mac}"'

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self.header_for(request)
        yield request
