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

EXAMPLES = """\
beacon account create --server http://127.0.0.1:8000
beacon account create --server http://127.0.0.1:8000 --json
BEACON_ADMIN_SECRET=s3cret beacon account reset-password --server URL --fxa-uid UID
"""


def register(subparsers: Any) -> None:
    """Add the ``account`` subcommand with ``create`` and ``reset-password``."""
    from beacon.cli._common import add_command

    parser = add_command(
        subparsers,
        "account",
        help="create an account on a beacon server (FxA stand-in)",
        doc=__doc__,
        examples=EXAMPLES,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    create = add_command(
        actions,
        "create",
        help="create an account and print its credentials",
        doc="Create an account on a beacon server and print what beacon sync needs.",
        examples="beacon account create --server http://127.0.0.1:8000 --json",
    )
    reset = add_command(
        actions,
        "reset-password",
        help="simulate a password reset (admin)",
        doc="Simulate a password reset (admin API): new credentials and a new kB.",
        examples="BEACON_ADMIN_SECRET=s3cret beacon account reset-password --server URL"
        " --fxa-uid UID",
    )
    reset.add_argument("--fxa-uid", required=True, help="the account's FxA uid")
    for sub in (create, reset):
        sub.add_argument("--server", required=True, help="base URL of a beacon serve instance")
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
        from beacon.cli._common import local_time

        for key, value in out.items():
            shown = value
            if key == "keys_changed_at" and isinstance(value, int | float):
                shown = f"{value}  ({local_time(value / 1000)}; milliseconds)"
            print(f"{key}: {shown}")
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
