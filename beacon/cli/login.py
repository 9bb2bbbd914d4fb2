"""``beacon login``, ``beacon logout``, ``beacon status``: a Firefox account for ``beacon sync``.

::

    beacon login EMAIL [--password-stdin] [--code CODE] [--unblock-code CODE]
    beacon login --oauth [--listen | --redirect URL] [--redirect-uri URI]
    beacon logout
    beacon status [--json]

Common options: ``--auth-server URL`` (default Mozilla's ``https://api.accounts.firefox.com``;
the embedded service's is ``<base>/fxa``), ``--client-id ID``, ``--profile NAME`` (several
accounts side by side), ``--config-dir DIR`` (default ``$XDG_CONFIG_HOME/beacon``).

The password comes from a prompt, or from the first line of standard input with
``--password-stdin``; never from an argument (``ps`` shows arguments to every user).
Verification codes come from ``--code`` or a prompt; without either the sign-in stops in
``verification_required`` (exit 1) and ``beacon login EMAIL --code CODE`` finishes it
without the password. The OAuth route prints the URL to open; the final address is pasted
at the prompt, given with ``--redirect URL`` in a later run, or caught by ``--listen``
(a loopback redirect listener).

Credentials live in the OS keyring when one is usable, else in ``<config dir>/<profile>.fxa``,
encrypted under ``BEACON_CREDENTIALS_PASSPHRASE`` (or a prompted passphrase). Exit status:
0 signed in (``married``) or out; 1 a code or the redirect is still needed, or ``status`` of
an account that is not married; an error has its family's status (``beacon --help``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from beacon._errors import UsageError
from beacon.cli._common import add_command, exit_status
from beacon.fxa import (
    DEFAULT_AUTH_SERVER,
    DEFAULT_CLIENT_ID,
    AccountResult,
    CredentialStore,
    FirefoxAccount,
    LoopbackRedirect,
    SignInRequired,
    default_store,
)
from beacon.fxa._store import PASSPHRASE_ENV

__all__ = ["register"]

#: Code kinds as the prompts name them.
_PROMPTS = {
    "totp": "Code from your authenticator app: ",
    "email": "Code from the sign-in email: ",
    "unblock": "Unblock code from the email: ",
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auth-server", default=DEFAULT_AUTH_SERVER, metavar="URL", help="FxA auth server"
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, metavar="ID")
    parser.add_argument("--profile", default="default", metavar="NAME")
    parser.add_argument("--config-dir", type=Path, metavar="DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def register(subparsers: Any) -> None:
    """Add ``login``, ``logout`` and ``status``."""
    login = add_command(
        subparsers,
        "login",
        help="sign in to a Firefox account",
        doc="Sign in to a Firefox account with a password, or with --oauth in a"
        " browser. Credentials go to the OS keyring, or to an encrypted file under"
        f" ${PASSPHRASE_ENV} where there is none.",
        examples="""
beacon login you@example.com                       password at the prompt
printf '%s\n' "$PW" | beacon login you@example.com --password-stdin
beacon login you@example.com --code 123456         finish a sign-in that asked for a code
beacon login --oauth --listen                      sign in in the browser
""",
    )
    login.add_argument("email", nargs="?", metavar="EMAIL")
    login.add_argument("--password-stdin", action="store_true", help="read the password")
    login.add_argument("--code", metavar="CODE", help="verification code (TOTP or email)")
    login.add_argument("--unblock-code", metavar="CODE", help="unblock code from the email")
    login.add_argument("--oauth", action="store_true", help="the OAuth code route (browser)")
    login.add_argument("--redirect", metavar="URL", help="the address the browser ended on")
    login.add_argument("--listen", action="store_true", help="catch the redirect on loopback")
    login.add_argument("--redirect-uri", metavar="URI", help="redirect_uri for the code route")
    _common(login)
    login.set_defaults(func=_login)

    logout = add_command(
        subparsers,
        "logout",
        help="sign out and forget the account",
        doc="Destroy the session and the refresh token on the server, and forget them here.",
        examples="beacon logout\nbeacon logout --profile work",
    )
    _common(logout)
    logout.set_defaults(func=_logout)

    status = add_command(
        subparsers,
        "status",
        help="show the stored account (no secrets)",
        doc="Show the stored account: who, the account chart's state, the token's expiry,"
        " backoff. Never a secret.",
        examples="beacon status\nbeacon status --json",
    )
    _common(status)
    status.set_defaults(func=_status)


def _config_dir(args: argparse.Namespace) -> Path:
    if args.config_dir is not None:
        return Path(args.config_dir)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "beacon"


def _passphrase() -> str:
    phrase = os.environ.get(PASSPHRASE_ENV, "")
    if phrase:
        return phrase
    if sys.stdin.isatty():
        return getpass.getpass("Passphrase for beacon's credentials file: ")
    raise UsageError(f"no keyring here: set {PASSPHRASE_ENV} for the encrypted credentials file")


def _store(args: argparse.Namespace) -> CredentialStore:
    return default_store(_config_dir(args), profile=args.profile, passphrase=_passphrase)


def _account(args: argparse.Namespace) -> FirefoxAccount:
    return FirefoxAccount(_store(args), auth_server_url=args.auth_server, client_id=args.client_id)


def _codes(given: str | None) -> Any:
    used: list[str] = []

    def codes(kind: str) -> str | None:
        if given is not None and not used:
            used.append(kind)
            return given
        if sys.stdin.isatty():
            return input(_PROMPTS.get(kind, "Code: ")).strip() or None
        return None

    return codes


def _report(args: argparse.Namespace, result: AccountResult, *, hint: str = "") -> int:
    if args.json:
        print(
            json.dumps(
                {
                    "outcome": result.outcome,
                    "states": list(result.states),
                    "requests": result.requests,
                    "verification_method": result.verification_method,
                    "authorization_url": result.authorization_url,
                    "error": None
                    if result.error is None
                    else {"kind": result.error.kind, "message": str(result.error)},
                }
            )
        )
    # What the final means is the account chart's declared role, not a list kept here.
    if result.role == "success":
        if not args.json:
            print(f"beacon: {result.outcome.replace('_', ' ')}", file=sys.stderr)
        return 0
    if result.role == "recovery":  # a code, or the browser's redirect, is still needed
        if not args.json:
            print(f"beacon: {result.outcome.replace('_', ' ')}{hint}", file=sys.stderr)
        return 1
    if result.error is not None:
        if args.json:
            return exit_status(result.error)
        raise result.error
    raise SignInRequired(f"the sign-in ended in {result.outcome}", reason=result.outcome)


def _login(args: argparse.Namespace) -> int:
    if not args.oauth and not args.email:
        raise UsageError("beacon login needs EMAIL (or --oauth)")
    with _account(args) as account:
        if args.oauth:
            return _login_oauth(args, account)
        return _login_password(args, account)


def _login_password(args: argparse.Namespace, account: FirefoxAccount) -> int:
    status = account.status()
    pending = (
        status is not None
        and status["status"] == "engaged_before_verified"
        and str(status["email"]).lower() == args.email.lower()
    )
    if pending and args.code:
        result = account.continue_sign_in(_codes(args.code))
    else:
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.email}: ")
        else:
            raise UsageError("no terminal for the password prompt: use --password-stdin")
        if not password:
            raise UsageError("an empty password")
        result = account.sign_in(
            args.email, password, codes=_codes(args.code), unblock_code=args.unblock_code
        )
    after = account.status()
    if after is not None and after["status"] == "engaged_before_verified":
        hint = f": run `beacon login {args.email} --code CODE`"
    else:  # blocked before a session: the emailed unblock code goes with the password
        hint = f": run `beacon login {args.email} --unblock-code CODE` with the password"
    return _report(args, result, hint=hint)


def _login_oauth(args: argparse.Namespace, account: FirefoxAccount) -> int:
    if args.listen:
        with LoopbackRedirect(on_url=_show_url) as listener:
            result = account.sign_in_oauth(listener, redirect_uri=listener.redirect_uri)
        return _report(args, result)

    def paste(url: str) -> str | None:
        if args.redirect:
            return str(args.redirect)
        _show_url(url)
        if sys.stdin.isatty():
            return input("Paste the address of the page you end on: ").strip() or None
        return None

    result = account.sign_in_oauth(paste, redirect_uri=args.redirect_uri)
    return _report(args, result, hint=": finish with `beacon login --oauth --redirect URL`")


def _show_url(url: str) -> None:
    print(f"Open this address in a browser and sign in:\n\n    {url}\n", file=sys.stderr)


def _logout(args: argparse.Namespace) -> int:
    with _account(args) as account:
        return _report(args, account.sign_out())


def _status(args: argparse.Namespace) -> int:
    state = _store(args).load()
    view = None if state is None else state.public_view()
    if args.json:
        print(json.dumps(view))
    elif view is None:
        print("signed out")
    else:
        for key, value in view.items():
            if key in ("access_token_expires_at", "backoff_until") and value is not None:
                value = datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            print(f"{key}: {value}")
    return 0 if view is not None and view["status"] == "married" else 1
