"""The token server: ``GET /1.0/<app>/<version>`` (docs/protocol.md §1).

Contract for :func:`token_endpoint`:

* 404 (Cornice body, ``location: url``) unless app is ``sync`` and version ``1.5`` (§1.1).
* 401 ``error`` "Unauthorized" without ``Authorization``; 401 ``error`` "Unsupported" for a
  scheme other than Bearer (§1.2); 401 ``invalid-credentials`` for an access token that does not
  verify (see ``_accounts``).
* ``X-KeyID`` (§1.3): missing or non-ASCII → 401 ``invalid-key-id``; no ``-``, bad base64 or a
  non-integer timestamp → 401 ``invalid-credentials``. ``X-Client-State`` not matching
  ``[a-zA-Z0-9._-]{1,32}`` → 400; differing from the KeyID's state → 401
  ``invalid-client-state``.
* The consistency rules of §1.4, in order, with their 401 statuses; a valid client-state
  change retires the uid and starts a new one (empty storage) on the same node.
* 200 with the eight fields of §1.5 and ``X-Timestamp``; ``api_endpoint`` is the base URL the
  request came in on (or the configured public URL) + ``/node/<n>/1.5/<uid>``. The token is
  tokenlib format (§1.7), signed with the first master secret, carrying only the claims
  syncstorage-rs's token server mints: ``uid``, ``node`` (URL), ``expires``, ``salt``,
  ``fxa_uid``, ``fxa_kid``, ``hashed_fxa_uid``, ``hashed_device_id``, ``tokenserver_origin``.
  ``duration=<s>`` shortens it; after a revocation its ``expires`` is pushed past the
  revocation (``_node_records.mint_floor``), so the new token is not void at birth.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from beacon._tokens import mint_token
from beacon.server import _node_records, _users
from beacon.server._core import Core
from beacon.server._wire import TokenServerError

_CLIENT_STATE = re.compile(r"\A[a-zA-Z0-9._-]{1,32}\Z")
_B64URL = re.compile(r"\A[A-Za-z0-9_-]*\Z")


def _unauthorized(status: str, description: str = "Unauthorized") -> TokenServerError:
    return TokenServerError(401, status, description=description)


def parse_key_id(value: str | None) -> tuple[int, str]:
    """(keys_changed_at ms, client state hex) from ``X-KeyID`` (§1.3, vectors §5.7)."""
    if value is None or not value or not value.isascii():
        raise _unauthorized("invalid-key-id")
    stamp, sep, state = value.partition("-")
    if not sep or not stamp.isdigit() or not _B64URL.match(state):
        raise _unauthorized("invalid-credentials")
    # rs parses the stamp as an i64; SQLite integers end there too.
    if len(stamp.lstrip("0")) > 19 or int(stamp) >= 2**63:
        raise _unauthorized("invalid-credentials")
    if len(state) % 4 == 1:
        raise _unauthorized("invalid-credentials")
    try:
        raw = base64.urlsafe_b64decode(state + "=" * (-len(state) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the checks above exclude these
        raise _unauthorized("invalid-credentials") from None
    return int(stamp), raw.hex()


def format_key_id(keys_changed_at: int, client_state: str) -> str:
    """The kid the server writes into its tokens: 13-digit zero-padded ms (§1.3)."""
    raw = bytes.fromhex(client_state)
    return f"{keys_changed_at:013d}-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _check_rules(
    user: _users.UserRecord,
    *,
    generation: int,
    keys_changed_at: int,
    client_state: str,
    previous: set[str],
) -> None:
    """The §1.4 consistency rules, in the current server's order."""
    if keys_changed_at > user.keys_changed_at and generation and keys_changed_at > generation:
        raise _unauthorized("invalid-keysChangedAt")
    if user.client_state and not client_state:
        raise _unauthorized("invalid-client-state")
    changed = client_state != user.client_state
    if changed and client_state in previous:
        raise _unauthorized("invalid-client-state", "Unacceptable client-state value stale value")
    if changed and generation <= user.generation:
        raise _unauthorized(
            "invalid-client-state",
            "Unacceptable client-state value new value with no generation change",
        )
    if changed and keys_changed_at <= user.keys_changed_at:
        raise _unauthorized(
            "invalid-client-state",
            "Unacceptable client-state value new value with no keys_changed_at change",
        )
    if generation < user.generation:
        raise _unauthorized("invalid-generation")
    if keys_changed_at < user.keys_changed_at:
        raise _unauthorized("invalid-keysChangedAt")
    if not keys_changed_at and user.keys_changed_at:
        raise _unauthorized("invalid-keysChangedAt")


def issue_token(
    core: Core,
    *,
    app: str,
    version: str,
    headers: Mapping[str, str],
    duration_param: str | None,
    base_url: str,
) -> dict[str, object]:
    """The §1.5 body for a token request, or :class:`TokenServerError`."""
    if app != "sync":
        raise TokenServerError(
            404, "error", location="url", name="application", description="Unsupported application"
        )
    if version != "1.5":
        raise TokenServerError(
            404,
            "error",
            location="url",
            name=version,
            description="Unsupported application version",
        )
    authorization = headers.get("authorization")
    if not authorization:
        raise _unauthorized("error")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise _unauthorized("error", "Unsupported")
    fxa_uid, generation = core.accounts.verify(credentials.strip())
    keys_changed_at, client_state = parse_key_id(headers.get("x-keyid"))
    header_state = headers.get("x-client-state")
    if header_state is not None:
        if not _CLIENT_STATE.match(header_state):
            raise TokenServerError(
                400,
                "error",
                location="header",
                name="X-Client-State",
                description="Invalid client state value",
            )
        if header_state.lower() != client_state:
            raise _unauthorized("invalid-client-state")

    duration = core.token_duration
    if duration_param is not None:
        try:
            asked = int(duration_param)
        except ValueError:
            asked = 0
        if 0 < asked < duration:
            duration = asked

    now = core.clock()
    with core.db.transaction() as conn:
        user = _users.current(conn, fxa_uid)
        if user is None:
            user = _users.allocate(
                conn,
                fxa_uid=fxa_uid,
                nodes=core.nodes,
                generation=generation,
                keys_changed_at=keys_changed_at,
                client_state=client_state,
                now=now,
            )
        else:
            _check_rules(
                user,
                generation=generation,
                keys_changed_at=keys_changed_at,
                client_state=client_state,
                previous=_users.previous_states(conn, fxa_uid),
            )
            if client_state != user.client_state:
                user = _users.replace(
                    conn,
                    user,
                    node=user.node,
                    generation=generation,
                    keys_changed_at=keys_changed_at,
                    client_state=client_state,
                    now=now,
                    now_ms=int(now * 1000) // 10 * 10,
                )
            else:
                _users.update_in_place(
                    conn, user, generation=generation, keys_changed_at=keys_changed_at
                )
        expires = max(now + duration, _node_records.mint_floor(conn, user.node, user.uid) + 1)
        _node_records.issued(conn, user.node, user.uid, expires)

    node_url = f"{base_url}/node/{user.node}"
    hashed = hmac.new(core.metrics_secret.encode(), fxa_uid.encode(), hashlib.sha256).hexdigest()
    token, key = mint_token(
        {
            "uid": user.uid,
            "node": node_url,
            "fxa_uid": fxa_uid,
            "fxa_kid": format_key_id(keys_changed_at or generation, client_state),
            "hashed_fxa_uid": hashed,
            "hashed_device_id": hashlib.sha256((hashed + "none").encode()).hexdigest(),
            "tokenserver_origin": "beacon",
        },
        secret=core.master_secrets[0],
        expires=expires,
        rng=core.rng,
    )
    return {
        "id": token,
        "key": key,
        "uid": user.uid,
        "api_endpoint": f"{node_url}/1.5/{user.uid}",
        "duration": duration,
        "hashed_fxa_uid": hashed[:32],
        "hashalg": "sha256",
        "node_type": "sqlite",
    }


def base_url_of(core: Core, request: Request) -> str:
    """The URL clients reached us at (Host header), unless a public URL is configured."""
    if core.public_url:
        return core.public_url
    return str(request.base_url).rstrip("/")


async def token_endpoint(request: Request) -> Response:
    core: Core = request.app.state.core
    timestamp = {"X-Timestamp": str(int(core.clock())), "X-Content-Type-Options": "nosniff"}
    try:
        body = issue_token(
            core,
            app=request.path_params["app"],
            version=request.path_params["version"],
            headers=request.headers,
            duration_param=request.query_params.get("duration"),
            base_url=base_url_of(core, request),
        )
    except TokenServerError as exc:
        return Response(
            json.dumps(exc.body),
            exc.status,
            headers={**timestamp, **exc.headers},
            media_type="application/json",
        )
    return Response(json.dumps(body), 200, headers=timestamp, media_type="application/json")
