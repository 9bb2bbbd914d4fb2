"""Pure helpers of the fault proxy: token payloads, node endpoints, headers, Hawk re-signing.

Contract:

* :func:`peek_claims` reads a tokenlib token's JSON payload *without* verifying it (the proxy
  holds no master secret; it only needs to know whose token it relays): ``{}`` when the id
  does not decode.
* :func:`split_endpoint` splits an ``api_endpoint`` into the node base and the uid
  (``<node>/1.5/<uid>``, docs/protocol.md §1.5), or None for any other shape.
* :func:`forwarded_headers` drops what a proxy must not forward (hop-by-hop headers, ``Host``,
  ``Content-Length``) and asks for identity encoding, so bodies can be read and rewritten.
* :func:`resign` turns a client's Hawk header, signed for the proxy's host, port and path, into
  one for the upstream's, with the key the token server handed out (None when the header
  does not verify under it: the header is then forwarded as it came, for the upstream to
  refuse). ``ts`` moves by ``skew`` seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from beacon._hawk import HawkHeader, HawkInvalid, compute_mac, split_host, verify

__all__ = ["forwarded_headers", "peek_claims", "resign", "response_headers", "split_endpoint"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
_NOT_RETURNED = _HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}
_ENDPOINT = re.compile(r"\A(?P<base>.+)/1\.5/(?P<uid>[0-9]{1,10})\Z")


def peek_claims(token_id: str) -> dict[str, Any]:
    """The payload of a tokenlib token id, unverified; ``{}`` if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(token_id.encode("ascii") + b"==")
        payload = json.loads(raw[:-32].decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def split_endpoint(api_endpoint: str) -> tuple[str, int] | None:
    """(node base, uid) of ``<node>/1.5/<uid>``; None for any other shape."""
    match = _ENDPOINT.match(api_endpoint)
    if match is None:
        return None
    return match.group("base"), int(match.group("uid"))


def forwarded_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request headers to send upstream (see the module docstring)."""
    kept = [(k, v) for k, v in headers if k.lower().decode("latin-1") not in _NOT_FORWARDED]
    kept.append((b"accept-encoding", b"identity"))
    return kept


def response_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The upstream response headers to return (the body is re-sent, so its length is new)."""
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in _NOT_RETURNED]


def _render(header: HawkHeader, mac: str, ts: int) -> str:
    parts = [f'id="{header.id}"', f'ts="{ts}"', f'nonce="{header.nonce}"']
    if header.hash:
        parts.append(f'hash="{header.hash}"')
    if header.ext:
        parts.append(f'ext="{header.ext}"')
    parts.append(f'mac="{mac}"')
    return "Hawk " + ", ".join(parts)


def resign(
    header: HawkHeader,
    key: str,
    *,
    method: str,
    received: tuple[str, str, str],
    upstream: httpx.URL,
    skew: int = 0,
) -> str | None:
    """A Hawk header for ``upstream``; ``received`` is (Host header, scheme, resource)."""
    host_header, scheme, resource = received
    try:
        host, port = split_host(host_header, scheme)
        # The proxy does not judge the timestamp: the upstream does, after the skew fault.
        verify(
            header,
            key.encode("ascii"),
            method=method,
            resource=resource,
            host=host,
            port=port,
            now=header.ts,
        )
    except (HawkInvalid, UnicodeEncodeError):
        return None
    target = upstream.raw_path.decode("ascii")
    ts = header.ts + skew
    mac = compute_mac(
        key.encode("ascii"),
        ts=ts,
        nonce=header.nonce,
        method=method,
        resource=target,
        host=f"[{upstream.host}]" if ":" in upstream.host else upstream.host,
        port=upstream.port or (443 if upstream.scheme == "https" else 80),
        hash=header.hash,
        ext=header.ext,
    )
    return _render(header, mac, ts)
