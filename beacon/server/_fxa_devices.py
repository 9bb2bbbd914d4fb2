"""The FxA stand-in's devices and device commands (what send tab runs on).

Contract (fxa ``packages/fxa-auth-server/lib/routes/devices-and-sessions.js`` and
``auth-schemes/refresh-token.js``; ``docs/accounts.md`` §12):

* Routes under ``/fxa/v1``: ``POST /account/device`` (register, or update with ``id``),
  ``GET /account/devices``, ``POST /account/device/destroy``,
  ``POST /account/devices/invoke_command`` and ``GET /account/device/commands?index=&limit=``.
* Each is authorised as upstream: a session token (prefixed Bearer or Hawk, verified or
  not) or an OAuth refresh token as ``Authorization: Bearer <token>`` whose scope holds
  oldsync (else 401 errno 110, or 163 for a refresh token without that scope).
* A device belongs to the token that registered it (one device per token: a second
  registration without ``id`` is 400 errno 124) and lives as long as that token: a
  destroyed session or revoked refresh token takes its device out of the list.
* ``invoke_command`` to a device the account does not have is 400 errno 123, to one without
  that command in its ``availableCommands`` 400 errno 157. Commands are queued per target
  with a rising index (pushbox's) and a TTL (30 days for open-uri, as upstream's default);
  ``device/commands`` returns those with index ≥ ``index``, at most ``limit`` (≤ 100),
  ``last`` saying whether more wait, and ``index`` the highest index returned (or the
  highest queued, when none).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import weakref
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from beacon._scoped_keys import SYNC_SCOPE
from beacon.server._db import Database
from beacon.server._fxa import FxA, FxAHTTPError, invalid_token
from beacon.server._fxa_http import authenticate, fxa_endpoint, read_json

__all__ = ["device_routes"]

OPEN_URI = "https://identity.mozilla.com/cmd/open-uri"
DEFAULT_TTL = {OPEN_URI: 30 * 24 * 3600}
_FALLBACK_TTL = 30 * 24 * 3600
_TYPES = ("desktop", "mobile", "tablet", "vr", "tv")
_REFRESH_BEARER = re.compile(r"\ABearer ([0-9a-f]{64})\Z")
_DEVICE_ID = re.compile(r"\A[0-9a-f]{32}\Z")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fxa_devices (
    id TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    commands TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_access REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fxa_device_commands (
    idx INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL,
    device_id TEXT NOT NULL,
    command TEXT NOT NULL,
    payload TEXT NOT NULL,
    sender TEXT,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fxa_device_commands_by_device ON fxa_device_commands (device_id, idx)
"""
_READY: weakref.WeakSet[Database] = weakref.WeakSet()

# A device is live while the token that registered it is.
_LIVE = (
    "((d.owner_kind = 'session' AND EXISTS (SELECT 1 FROM fxa_tokens t"
    " WHERE t.token_id = d.owner_id AND t.kind = 'sessionToken'))"
    " OR (d.owner_kind = 'refresh' AND EXISTS (SELECT 1 FROM fxa_refresh_tokens r"
    " WHERE r.token_hash = d.owner_id)))"
)


def _db(fxa: FxA) -> Database:
    if fxa.db not in _READY:
        with fxa.db.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        _READY.add(fxa.db)
    return fxa.db


def _bad(name: str) -> FxAHTTPError:
    return FxAHTTPError(400, 107, f"Invalid parameter in request body: {name}")


def _unknown_device() -> FxAHTTPError:
    return FxAHTTPError(400, 123, "Unknown device")


class Caller:
    """Who is asking: the account and the token (kind, id) its device is bound to."""

    def __init__(self, uid: str, kind: str, owner: str) -> None:
        self.uid, self.kind, self.owner = uid, kind, owner

    def device(self, conn: sqlite3.Connection) -> str | None:
        row = conn.execute(
            "SELECT id FROM fxa_devices WHERE uid = ? AND owner_kind = ? AND owner_id = ?",
            (self.uid, self.kind, self.owner),
        ).fetchone()
        return None if row is None else str(row[0])


def caller(request: Request, fxa: FxA) -> Caller:
    """The session token or oldsync refresh token this request carries (module docstring)."""
    match = _REFRESH_BEARER.match(request.headers.get("authorization", ""))
    if match is None:
        session = authenticate(request, fxa, "sessionToken")
        return Caller(session.uid, "session", session.token_id)
    digest = hashlib.sha256(match.group(1).encode("utf-8")).hexdigest()
    with _db(fxa).transaction() as conn:
        row = conn.execute(
            "SELECT uid, scope FROM fxa_refresh_tokens WHERE token_hash = ?", (digest,)
        ).fetchone()
    if row is None:
        raise invalid_token()
    if SYNC_SCOPE not in str(row[1]).split():
        raise FxAHTTPError(401, 163, "Invalid scopes")
    return Caller(str(row[0]), "refresh", digest)


def _device_json(row: sqlite3.Row | tuple[Any, ...], current: str | None) -> dict[str, Any]:
    ident, name, kind, commands, last_access = row
    return {
        "id": ident,
        "isCurrentDevice": ident == current,
        "lastAccessTime": int(last_access * 1000),
        "location": {},
        "name": name,
        "type": kind,
        "pushEndpointExpired": False,
        "availableCommands": json.loads(commands),
    }


def _commands(body: dict[str, Any]) -> dict[str, str] | None:
    value = body.get("availableCommands")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 255 for k, v in value.items()
    ):
        raise _bad("availableCommands")
    return value


async def register_device(request: Request, fxa: FxA) -> Any:
    who = caller(request, fxa)
    body = await read_json(request)
    name, kind, ident = body.get("name"), body.get("type"), body.get("id")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise _bad("name")
    if kind is not None and kind not in _TYPES:
        raise _bad("type")
    if ident is not None and (not isinstance(ident, str) or not _DEVICE_ID.match(ident)):
        raise _bad("id")
    commands = _commands(body)
    now = fxa.clock()
    with _db(fxa).transaction() as conn:
        own = who.device(conn)
        if ident is None:
            if own is not None:
                raise FxAHTTPError(400, 124, "Session already registered by another device")
            ident = fxa.rng(16).hex()
            conn.execute(
                "INSERT INTO fxa_devices (id, uid, owner_kind, owner_id, name, type, commands,"
                " created_at, last_access) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ident,
                    who.uid,
                    who.kind,
                    who.owner,
                    name or "Firefox",
                    kind or "desktop",
                    json.dumps(commands or {}),
                    now,
                    now,
                ),
            )
        elif ident != own:
            raise _unknown_device()
        else:
            row = conn.execute(
                "SELECT name, type, commands FROM fxa_devices WHERE id = ?", (ident,)
            ).fetchone()
            conn.execute(
                "UPDATE fxa_devices SET name = ?, type = ?, commands = ?, last_access = ?"
                " WHERE id = ?",
                (
                    name if name is not None else row[0],
                    kind or row[1],
                    json.dumps(commands) if commands is not None else row[2],
                    now,
                    ident,
                ),
            )
        row = conn.execute(
            "SELECT id, name, type, commands, last_access FROM fxa_devices WHERE id = ?", (ident,)
        ).fetchone()
    answer = _device_json(row, ident)
    del answer["isCurrentDevice"], answer["location"], answer["lastAccessTime"]
    return answer


async def list_devices(request: Request, fxa: FxA) -> Any:
    who = caller(request, fxa)
    with _db(fxa).transaction() as conn:
        current = who.device(conn)
        rows = conn.execute(
            "SELECT d.id, d.name, d.type, d.commands, d.last_access FROM fxa_devices d"
            f" WHERE d.uid = ? AND {_LIVE} ORDER BY d.created_at, d.id",
            (who.uid,),
        ).fetchall()
    return [_device_json(row, current) for row in rows]


async def destroy_device(request: Request, fxa: FxA) -> Any:
    who = caller(request, fxa)
    ident = (await read_json(request)).get("id")
    if not isinstance(ident, str) or not _DEVICE_ID.match(ident):
        raise _bad("id")
    with _db(fxa).transaction() as conn:
        gone = conn.execute(
            "DELETE FROM fxa_devices WHERE id = ? AND uid = ?", (ident, who.uid)
        ).rowcount
        conn.execute("DELETE FROM fxa_device_commands WHERE device_id = ?", (ident,))
    if not gone:
        raise _unknown_device()
    return {}


async def invoke_command(request: Request, fxa: FxA) -> Any:
    who = caller(request, fxa)
    body = await read_json(request)
    target, command, payload, ttl = (body.get(k) for k in ("target", "command", "payload", "ttl"))
    if not isinstance(target, str) or not _DEVICE_ID.match(target):
        raise _bad("target")
    if not isinstance(command, str) or not command or len(command) > 255:
        raise _bad("command")
    if not isinstance(payload, dict):
        raise _bad("payload")
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 10_000_000
    ):
        raise _bad("ttl")
    lifetime = ttl if ttl is not None else DEFAULT_TTL.get(command, _FALLBACK_TTL)
    with _db(fxa).transaction() as conn:
        row = conn.execute(
            f"SELECT d.commands FROM fxa_devices d WHERE d.id = ? AND d.uid = ? AND {_LIVE}",
            (target, who.uid),
        ).fetchone()
        if row is None:
            raise _unknown_device()
        if command not in json.loads(row[0]):
            raise FxAHTTPError(400, 157, "Unavailable device command")
        conn.execute(
            "INSERT INTO fxa_device_commands (uid, device_id, command, payload, sender,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                who.uid,
                target,
                command,
                json.dumps(payload),
                who.device(conn),
                fxa.clock() + lifetime,
            ),
        )
    # No push service here: the target learns of it by polling.
    return {"enqueued": True, "notified": False, "notifyError": "no_push_callback"}


def _int_param(request: Request, name: str, default: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise FxAHTTPError(400, 107, f"Invalid parameter in request query: {name}")
    value = int(raw)
    if high is not None and value > high:
        raise FxAHTTPError(400, 107, f"Invalid parameter in request query: {name}")
    return value


async def device_commands(request: Request, fxa: FxA) -> Any:
    who = caller(request, fxa)
    index = _int_param(request, "index", 0, None)
    limit = _int_param(request, "limit", 100, 100)
    with _db(fxa).transaction() as conn:
        device = who.device(conn)
        if device is None:
            raise _unknown_device()
        rows = conn.execute(
            "SELECT idx, command, payload, sender FROM fxa_device_commands"
            " WHERE device_id = ? AND idx >= ? AND expires_at > ? ORDER BY idx LIMIT ?",
            (device, index, fxa.clock(), limit + 1),
        ).fetchall()
        highest = conn.execute(
            "SELECT COALESCE(MAX(idx), 0) FROM fxa_device_commands WHERE device_id = ?",
            (device,),
        ).fetchone()[0]
    page = rows[:limit]
    messages = []
    for idx, command, payload, sender in page:
        data: dict[str, Any] = {"command": command, "payload": json.loads(payload)}
        if sender is not None:
            data["sender"] = sender
        messages.append({"index": idx, "data": data})
    return {
        "index": page[-1][0] if page else int(highest),
        "last": len(rows) <= limit,
        "messages": messages,
    }


def device_routes(v1: str) -> list[Route]:
    """The device routes under ``v1`` (``/fxa/v1``)."""
    table = [
        ("/account/device", register_device, "POST"),
        ("/account/devices", list_devices, "GET"),
        ("/account/device/destroy", destroy_device, "POST"),
        ("/account/devices/invoke_command", invoke_command, "POST"),
        ("/account/device/commands", device_commands, "GET"),
    ]
    return [Route(v1 + path, fxa_endpoint(h), methods=[m]) for path, h, m in table]
