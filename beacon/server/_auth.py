"""Hawk authentication of storage-node requests (docs/protocol.md §2.4), with a nonce cache.

Contract: :meth:`HawkGate.authenticate` returns the :class:`StorageUser` (node, uid) a request
may act for, or raises :class:`StorageHTTPError`. Tokens are standard tokenlib tokens (§1.7):
any token one of the master secrets signs whose payload has an integer ``uid`` and a string
``node`` (the claims syncstorage-rs requires; ``fxa_uid``, ``fxa_kid``, ``hashed_fxa_uid``,
``hashed_device_id`` are optional and unused), whoever minted it. Data is kept by
``(node in the path, token uid)`` and appears on first use, as with syncstorage-rs.

* 401 (body ``0``, ``WWW-Authenticate: Hawk``) when the header is missing or malformed, the
  token does not verify under any master secret, the MAC is wrong, ``ts`` is outside the
  skew window, the ``(token id, nonce)`` pair was already used (replay), the node retired the
  uid (client-state change or node move) or revoked the token (``_node_records``); also when
  the token has expired (by time or by an expire fault), except for ``GET info/collections``
  (``allow_expired``), which the seed note and §2.4 item 3 allow with an expired token.
* 400 (body ``0``) when the token's uid is not the uid in the path (rs behaviour, §2.4 item 6),
  or the ``Host`` header's port is not a port number (:func:`split_host`).

Host and port come from the ``Host`` header as the client addressed it (§2.2), lower-cased,
defaulting to the scheme's port. Nothing here logs or echoes the token, key or MAC.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from beacon._hawk import HawkInvalid, parse_header, verify
from beacon._hawk import split_host as hawk_split_host
from beacon._tokens import TokenInvalid, derive_secret, parse_token
from beacon.server import _node_records
from beacon.server._db import Database
from beacon.server._wire import StorageHTTPError

_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Hawk"}


def unauthorized() -> StorageHTTPError:
    return StorageHTTPError(401, 0, headers=_UNAUTHORIZED_HEADERS)


def split_host(host_header: str, scheme: str) -> tuple[str, int]:
    """(host, port) from a Host header value (§2.2); a port that is no port number is a
    malformed header: 400 ``0``."""
    try:
        return hawk_split_host(host_header, scheme)
    except HawkInvalid:
        raise StorageHTTPError(400, 0) from None


@dataclass(frozen=True)
class StorageUser:
    """Whose storage a request may act on: a uid on one node."""

    node: int
    uid: int


class RequestFacts(NamedTuple):
    """What authentication needs to know about a request."""

    method: str
    resource: str  # path + ?query exactly as sent
    host: str
    port: int
    authorization: str | None
    node: int
    uid: int
    allow_expired: bool


class HawkGate:
    """Verifies Hawk headers against tokens signed with any of ``secrets``."""

    def __init__(
        self,
        db: Database,
        *,
        secrets: tuple[str, ...],
        clock: Callable[[], float],
        skew: float = 60.0,
    ) -> None:
        self._db = db
        self._secrets = secrets
        self._clock = clock
        self._skew = skew
        self._nonces: dict[tuple[str, str], float] = {}
        self._tokens: dict[str, tuple[dict[str, Any], str]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HawkGate(skew={self._skew})"

    def _remember_nonce(self, token_id: str, nonce: str, ts: int, now: float) -> None:
        """Refuse a (token, nonce) seen within the skew window (hawkauthlib NonceCache)."""
        with self._lock:
            if len(self._nonces) > 50_000:
                horizon = now - 2 * self._skew
                self._nonces = {k: v for k, v in self._nonces.items() if v >= horizon}
            key = (token_id, nonce)
            seen = self._nonces.get(key)
            if seen is not None and abs(seen - ts) <= 2 * self._skew:
                raise unauthorized()
            self._nonces[key] = ts

    def _open_token(self, token_id: str) -> tuple[dict[str, Any], str]:
        """Verified payload and Hawk key of a token id; 401 if it does not verify (§1.7).

        Verification is deterministic, so results are cached per token id (bounded).
        """
        cached = self._tokens.get(token_id)
        if cached is not None:
            return cached
        for secret in self._secrets:
            try:
                data = parse_token(token_id, secret=secret, now=float("-inf"))
                key = derive_secret(token_id, secret=secret)
            except TokenInvalid:
                continue
            break
        else:
            raise unauthorized()
        uid, node = data.get("uid"), data.get("node")
        if isinstance(uid, bool) or not isinstance(uid, int) or not isinstance(node, str):
            raise unauthorized()
        with self._lock:
            if len(self._tokens) >= 4096:
                self._tokens.clear()
            self._tokens[token_id] = (data, key)
        return data, key

    def authenticate(self, facts: RequestFacts) -> StorageUser:
        if not facts.authorization:
            raise unauthorized()
        now = self._clock()
        try:
            header = parse_header(facts.authorization)
        except HawkInvalid:
            raise unauthorized() from None
        data, key = self._open_token(header.id)
        expired = data["expires"] <= now
        try:
            verify(
                header,
                key.encode("ascii"),
                method=facts.method,
                resource=facts.resource,
                host=facts.host,
                port=facts.port,
                now=now,
                skew=self._skew,
            )
        except HawkInvalid:
            raise unauthorized() from None
        self._remember_nonce(header.id, header.nonce, header.ts, now)
        if data["uid"] != facts.uid:
            raise StorageHTTPError(400, 0)  # token uid ≠ path uid (§2.4 item 6)
        with self._db.reading() as conn:
            record = _node_records.get(conn, facts.node, facts.uid)
        if record.retired or data["expires"] <= record.void_through:
            raise unauthorized()  # moved away, replaced by a new client state, or revoked
        expired = expired or data["expires"] <= record.expired_through
        if expired and not facts.allow_expired:
            raise unauthorized()
        return StorageUser(facts.node, facts.uid)
