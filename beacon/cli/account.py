"""``beacon account``: create an account on a beacon server (the Firefox Accounts stand-in).

``beacon account create --server URL`` asks the server for a new account and prints what
``beacon sync`` needs: the token server URL, the access token, a freshly generated kB (hex,
made here on the client side and never sent to the server) and keys_changed_at (ms).
``beacon account reset-password --server URL --fxa-uid UID`` simulates a password reset
through the admin API (needs the admin secret) and prints the new values with a new kB.
The admin secret comes from ``--admin-secret`` or ``$BEACON_ADMIN_SECRET``.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``account`` subcommand with ``create`` and ``reset-password``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "account",
        help="create an account on a beacon server (FxA stand-in)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="create an account and print its credentials")
    reset = actions.add_parser("reset-password", help="simulate a password reset (admin)")
    reset.add_argument("--fxa-uid", required=True, help="the account's FxA uid")
    for sub in (create, reset):
        sub.add_argument("--server", required=True, help="base URL of `beacon serve`")
        sub.add_argument("--json", action="store_true", help="print one JSON object")
        sub.add_argument(
            "--admin-secret", default=None, help="admin secret (default: $BEACON_ADMIN_SECRET)"
        )
    create.set_defaults(func=_create)
    reset.set_defaults(func=_reset)


def _post(url: str, admin_secret: str | None) -> dict[str, Any]:
    import httpx

    from beacon._errors import ProtocolViolation, ServerError, TransportError

    headers = {"Authorization": f"Bearer {admin_secret}"} if admin_secret else {}
    try:
        response = httpx.post(url, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise TransportError(f"cannot reach the server ({type(exc).__name__})", url=url) from None
    if response.status_code >= 400:
        raise ServerError(
            f"the server refused ({response.status_code})", status=response.status_code, url=url
        )
    try:
        data = response.json()
    except ValueError:
        raise ProtocolViolation("the server's answer is not JSON") from None
    if not isinstance(data, dict) or not {"access_token", "keys_changed_at"} <= data.keys():
        raise ProtocolViolation("the server's answer lacks the account fields")
    return data


def _show(data: dict[str, Any], *, as_json: bool) -> int:
    out = {
        "fxa_uid": data.get("fxa_uid"),
        "token_server_url": data.get("token_server_url"),
        "access_token": data["access_token"],
        "kb": os.urandom(32).hex(),  # kB is generated here, client side, and never sent
        "keys_changed_at": data["keys_changed_at"],
        "generation": data.get("generation"),
    }
    if as_json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key}: {value}")
    return 0


def _secret(args: argparse.Namespace) -> str | None:
    secret: str | None = args.admin_secret or os.environ.get("BEACON_ADMIN_SECRET") or None
    return secret


def _create(args: argparse.Namespace) -> int:
    server = args.server.rstrip("/")
    secret = _secret(args)
    url = f"{server}/__admin__/accounts" if secret else f"{server}/accounts"
    return _show(_post(url, secret), as_json=args.json)


def _reset(args: argparse.Namespace) -> int:
    from beacon._errors import UsageError

    secret = _secret(args)
    if not secret:
        raise UsageError("reset-password needs the admin secret")
    server = args.server.rstrip("/")
    url = f"{server}/__admin__/accounts/{args.fxa_uid}/reset-password"
    return _show(_post(url, secret), as_json=args.json)
