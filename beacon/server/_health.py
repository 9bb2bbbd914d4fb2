"""Dockerflow health checks, as syncstorage-rs answers them.

Contract:

* ``GET /__heartbeat__`` checks the database and answers 200 ``{"status": "Ok", "database":
  "Ok", "version": <beacon's version>, "quota": {"enabled": bool, "size": bytes}}``, or 503
  with ``"status": "Err"`` and ``"database": "Unknown"`` when the database does not answer.
* ``GET /__lbheartbeat__`` (for load balancers) answers 200 ``{}`` without touching the
  database.

Neither is logged nor subject to injected faults (see ``_app``): a health probe must not
consume a fault meant for a client.
"""

from __future__ import annotations

import sqlite3
from importlib import metadata

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from beacon.server._core import Core

HEALTH_PATHS = frozenset({"/__heartbeat__", "/__lbheartbeat__"})


def _version() -> str:
    try:
        return metadata.version("beacon")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


async def heartbeat(request: Request) -> Response:
    core: Core = request.app.state.core
    quota = {"enabled": core.quota_bytes is not None, "size": core.quota_bytes or 0}
    body: dict[str, object] = {"version": _version(), "quota": quota}
    try:
        with core.db.transaction() as conn:
            conn.execute("SELECT 1").fetchone()
    except sqlite3.Error:
        return JSONResponse({**body, "status": "Err", "database": "Unknown"}, 503)
    return JSONResponse({**body, "status": "Ok", "database": "Ok"})


async def lbheartbeat(request: Request) -> Response:
    return JSONResponse({})


def health_routes() -> list[Route]:
    return [
        Route("/__heartbeat__", heartbeat, methods=["GET"]),
        Route("/__lbheartbeat__", lbheartbeat, methods=["GET"]),
    ]
