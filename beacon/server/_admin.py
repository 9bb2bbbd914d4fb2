"""Admin HTTP API and the public account sign-up (the FxA stand-in's door).

Contract:

* ``POST /accounts`` (only when sign-up is open, the default) creates an account and answers
  201 ``{"fxa_uid", "access_token", "generation", "keys_changed_at", "token_server_url"}`` —
  a stand-in for Firefox Accounts' public sign-up. kB is the client's business.
* Everything under ``/__admin__`` answers 404 unless the service has an admin secret, and 401
  unless the request carries ``Authorization: Bearer <admin secret>`` (compared in constant
  time). Endpoints:

  - ``POST /__admin__/accounts`` → 201, same body as above;
  - ``POST /__admin__/accounts/<fxa_uid>/reset-password`` → 200, same body (new generation,
    keys_changed_at and access token);
  - ``POST /__admin__/faults/<name>`` with a JSON object of keyword arguments → 200
    ``{"result": ...}``, for every fault of ``_faults`` (400 on bad arguments);
  - ``GET /__admin__/requests`` → the request log as a JSON list.

Admin requests are neither logged nor subject to injected faults (see ``_app``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from beacon._injection import INJECTED_FAULTS, admin_refusal, call_fault
from beacon.server._accounts import Account
from beacon.server._core import Core
from beacon.server._faults import Faults
from beacon.server._tokenserver import base_url_of

ADMIN_PREFIX = "/__admin__"
FAULT_NAMES = INJECTED_FAULTS | frozenset(
    {
        "expire_tokens",
        "revoke_tokens",
        "move_user",
        "void_storage_tokens",
        "retire_storage_user",
        "wipe_user",
        "wipe_node",
        "put_record",
        "delete_record",
        "delete_collection",
        "records",
        "user",
        "clear_request_log",
    }
)


def account_json(account: Account, token_server_url: str) -> dict[str, Any]:
    return {
        "fxa_uid": account.fxa_uid,
        "access_token": account.access_token,
        "generation": account.generation,
        "keys_changed_at": account.keys_changed_at,
        "token_server_url": token_server_url,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _authorized(core: Core, request: Request) -> Response | None:
    """None if the admin secret matches; otherwise the refusal to send."""
    refusal = admin_refusal(core.admin_secret, request.headers.get("authorization"))
    return None if refusal is None else _error(*refusal)


def _token_url(core: Core, request: Request) -> str:
    return base_url_of(core, request) + "/1.0/sync/1.5"


async def signup(request: Request) -> Response:
    core: Core = request.app.state.core
    if not request.app.state.signup:
        return _error(404, "sign-up is closed")
    return JSONResponse(account_json(core.accounts.create(), _token_url(core, request)), 201)


async def admin_create(request: Request) -> Response:
    core: Core = request.app.state.core
    if (refusal := _authorized(core, request)) is not None:
        return refusal
    return JSONResponse(account_json(core.accounts.create(), _token_url(core, request)), 201)


async def admin_reset(request: Request) -> Response:
    core: Core = request.app.state.core
    if (refusal := _authorized(core, request)) is not None:
        return refusal
    try:
        account = core.accounts.reset_password(request.path_params["fxa_uid"])
    except KeyError:
        return _error(404, "unknown account")
    return JSONResponse(account_json(account, _token_url(core, request)))


async def admin_fault(request: Request) -> Response:
    core: Core = request.app.state.core
    if (refusal := _authorized(core, request)) is not None:
        return refusal
    faults: Faults = request.app.state.faults
    status, answer = call_fault(
        faults, FAULT_NAMES, request.path_params["name"], await request.body()
    )
    return JSONResponse(answer, status)


async def admin_requests(request: Request) -> Response:
    core: Core = request.app.state.core
    if (refusal := _authorized(core, request)) is not None:
        return refusal
    return JSONResponse([dataclasses.asdict(e) for e in core.log.entries()])


def admin_routes() -> list[Route]:
    return [
        Route("/accounts", signup, methods=["POST"]),
        Route(ADMIN_PREFIX + "/accounts", admin_create, methods=["POST"]),
        Route(ADMIN_PREFIX + "/accounts/{fxa_uid}/reset-password", admin_reset, methods=["POST"]),
        Route(ADMIN_PREFIX + "/faults/{name}", admin_fault, methods=["POST"]),
        Route(ADMIN_PREFIX + "/requests", admin_requests, methods=["GET"]),
    ]
