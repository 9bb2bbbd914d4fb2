"""Hawk request signing (SHA-256) as Sync uses it: the client's ``httpx.Auth`` and the server check.

Contract:

1. :func:`compute_mac`, :func:`parse_header` and :func:`verify` are pure: every input,
   including the server's ``now``, is an argument.
2. :class:`HawkAuth` reads its clock and nonce source only through the callables it was given,
   so a test can pin both.
3. The MAC key is the token server's ``key`` *string* as ASCII bytes, not its decoded bytes
   (docs/protocol.md §2.1). No payload hash is sent (§2.3).
4. Neither the key nor the token id appears in a ``repr``.
5. Server-side failures raise :class:`HawkInvalid`, which the embedded server maps to 401.
   Nonce-replay caching is the server's job, not this module's.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import httpx

from beacon._errors import UsageError

__all__ = [
    "HawkAuth",
    "HawkHeader",
    "HawkInvalid",
    "compute_mac",
    "normalized_string",
    "parse_header",
    "payload_hash",
    "split_host",
    "verify",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Attribute values: printable ASCII without '"' and '\' (hawk-js parseAuthorizationHeader).
_VALUE = r"[ !#-\[\]-~]*"
_ATTRIBUTE = re.compile(rf'\s*([a-z]+)="({_VALUE})"\s*(?:,|$)')
_KNOWN = frozenset({"id", "ts", "nonce", "mac", "hash", "ext", "app", "dlg"})
_REQUIRED = ("id", "ts", "nonce", "mac")
_MAX_HEADER = 8192


class HawkInvalid(Exception):
    """A Hawk ``Authorization`` header was malformed, forged or stale (server side only).

    ``reason`` is one of ``"malformed"``, ``"mac"`` or ``"stale"``; the message never carries
    the key or the expected MAC.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class HawkHeader:
    """The attributes of a parsed ``Authorization: Hawk ...`` header (docs/protocol.md §2.1)."""

    id: str = field(repr=False)
    ts: int
    nonce: str
    mac: str
    hash: str = ""
    ext: str = ""


def normalized_string(
    *,
    ts: int,
    nonce: str,
    method: str,
    resource: str,
    host: str,
    port: int,
    hash: str = "",
    ext: str = "",
) -> str:
    """The ``hawk.1.header`` MAC input: nine lines, each ending in a newline
    (docs/protocol.md §2.2)."""
    # hawk-js escapes '\' and newline in ext so it cannot inject extra lines.
    ext = ext.replace("\\", "\\\\").replace("\n", "\\n")
    lines = ("hawk.1.header", str(ts), nonce, method.upper(), resource, host.lower(), str(port))
    return "\n".join((*lines, hash, ext)) + "\n"


def compute_mac(
    key: bytes,
    *,
    ts: int,
    nonce: str,
    method: str,
    resource: str,
    host: str,
    port: int,
    hash: str = "",
    ext: str = "",
) -> str:
    """HMAC-SHA256 of the normalized string under ``key``, as standard base64 (§2.1, §2.2)."""
    text = normalized_string(
        ts=ts,
        nonce=nonce,
        method=method,
        resource=resource,
        host=host,
        port=port,
        hash=hash,
        ext=ext,
    )
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def payload_hash(content_type: str, body: bytes) -> str:
    """The optional ``hash`` attribute: base64 SHA-256 of the ``hawk.1.payload`` string (§2.3).

    Sync clients never send it; the server includes a received ``hash`` in the MAC.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    text = b"hawk.1.payload\n" + media_type.encode("ascii") + b"\n" + body + b"\n"
    return base64.b64encode(hashlib.sha256(text).digest()).decode("ascii")


def split_host(host_header: str, scheme: str) -> tuple[str, int]:
    """(host, port) a server uses in the MAC, from the ``Host`` header as sent (§2.2).

    Lower-cased; IPv6 literals keep their brackets; no port means the scheme's default.

    Raises:
        HawkInvalid: the port is not 1-5 ASCII digits up to 65535 (``str.isdigit`` admits
            digits such as ``²`` that ``int`` refuses).
    """
    default = _DEFAULT_PORTS.get(scheme, 80)
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[: end + 1], value[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
    if not port:
        return host, default
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        raise HawkInvalid("the Host header's port is not a port number", reason="malformed")
    return host, int(port)


def parse_header(value: str) -> HawkHeader:
    """Parse an ``Authorization`` header value of scheme ``Hawk``.

    Raises:
        HawkInvalid: another scheme, an attribute that is unknown, repeated or badly quoted,
            a required attribute (id, ts, nonce, mac) missing or empty, or a non-integer ts.
    """
    if len(value) > _MAX_HEADER:
        raise HawkInvalid("Hawk header too long", reason="malformed")
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "hawk" or not rest.strip():
        raise HawkInvalid("not a Hawk Authorization header", reason="malformed")
    attributes: dict[str, str] = {}
    position, rest = 0, rest.strip()
    while position < len(rest):
        match = _ATTRIBUTE.match(rest, position)
        if match is None or match.end() == position:
            raise HawkInvalid("badly formed Hawk header attributes", reason="malformed")
        name, text = match.group(1), match.group(2)
        if name not in _KNOWN or name in attributes:
            raise HawkInvalid("unknown or repeated Hawk header attribute", reason="malformed")
        attributes[name] = text
        position = match.end()
    if any(not attributes.get(name) for name in _REQUIRED):
        raise HawkInvalid("Hawk header lacks id, ts, nonce or mac", reason="malformed")
    if "app" in attributes or "dlg" in attributes:  # Oz delegation: never used by Sync (§2.1)
        raise HawkInvalid("Hawk app/dlg attributes are not supported", reason="malformed")
    ts = attributes["ts"]
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 15:
        raise HawkInvalid("Hawk ts is not an integer", reason="malformed")
    return HawkHeader(
        id=attributes["id"],
        ts=int(ts),
        nonce=attributes["nonce"],
        mac=attributes["mac"],
        hash=attributes.get("hash", ""),
        ext=attributes.get("ext", ""),
    )


def verify(
    header: HawkHeader,
    key: bytes,
    *,
    method: str,
    resource: str,
    host: str,
    port: int,
    now: float,
    skew: float = 60,
) -> None:
    """Check a parsed header's MAC (constant time), then its timestamp (docs/protocol.md §2.4).

    ``resource`` is the path with its query exactly as received. The MAC is checked first,
    so ``reason="stale"`` is only ever reported for an authentic request.

    Raises:
        HawkInvalid: ``reason="mac"`` if the MAC differs, ``"stale"`` if ``ts`` is more than
            ``skew`` seconds from ``now``.
    """
    expected = compute_mac(
        key,
        ts=header.ts,
        nonce=header.nonce,
        method=method,
        resource=resource,
        host=host,
        port=port,
        hash=header.hash,
        ext=header.ext,
    )
    if not hmac.compare_digest(expected.encode("ascii"), header.mac.encode("ascii")):
        raise HawkInvalid("Hawk MAC does not match", reason="mac")
    if abs(header.ts - now) > skew:
        raise HawkInvalid("Hawk timestamp outside the allowed clock skew", reason="stale")


def _random_nonce() -> str:
    # 6 random bytes → 8 base64 characters (hawkauthlib uses 5 bytes; any short string works).
    return base64.b64encode(os.urandom(6)).decode("ascii")


def _check_attribute(value: str, what: str) -> None:
    if not value or not re.fullmatch(_VALUE, value):
        raise UsageError(f"the Hawk {what} must be non-empty printable ASCII without quotes")


class HawkAuth(httpx.Auth):
    """Signs every request with Hawk SHA-256, using a token server's ``id`` and ``key``.

    Args:
        id: the token ``id``, sent verbatim.
        key: the token ``key`` string; its ASCII bytes are the MAC key (docs/protocol.md §2.1).
        clock: returns POSIX seconds; adjust it for server clock offset if needed.
        nonce: returns a fresh nonce per request; random by default.

    >>> auth = HawkAuth("token-id", "token-key")
    >>> auth
    HawkAuth(<credentials hidden>)
    """

    def __init__(
        self,
        id: str,
        key: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        _check_attribute(id, "id")
        if not isinstance(key, str) or not key or not key.isascii():
            raise UsageError("the Hawk key must be a non-empty ASCII string")
        self._id = id
        self._key = key.encode("ascii")
        self._clock = clock
        self._nonce = nonce if nonce is not None else _random_nonce

    def __repr__(self) -> str:
        return "HawkAuth(<credentials hidden>)"

    __str__ = __repr__

    def header_for(self, request: httpx.Request) -> str:
        """The ``Authorization`` value for ``request`` at the current clock and a new nonce."""
        url = request.url
        ts = int(self._clock())
        nonce = self._nonce()
        _check_attribute(nonce, "nonce")
        # Path and query exactly as they go on the wire (§2.2 item 5).
        resource = url.raw_path.decode("ascii")
        port = url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme, 80)
        mac = compute_mac(
            self._key,
            ts=ts,
            nonce=nonce,
            method=request.method,
            resource=resource,
            host=url.raw_host.decode("ascii"),
            port=port,
        )
        return f'Hawk id="{self._id}", ts="{ts}", nonce="{nonce}", mac="{mac}"'

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` (httpx calls this; each retry or redirect is signed afresh)."""
        request.headers["Authorization"] = self.header_for(request)
        yield request
