"""``beacon serve``: the embedded Sync 1.5 service (token server + storage nodes) over HTTP.

Data lives in SQLite under ``--data DIR`` and survives a restart; without ``--data`` it is
kept in memory. The admin/fault API is off unless an admin secret is given (``--admin-secret``
or, better, the ``BEACON_ADMIN_SECRET`` environment variable, which ``ps`` does not show).
Account sign-up (``POST /accounts``, used by ``beacon account create``) is open unless
``--no-signup``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the embedded Sync 1.5 service (token server + storage nodes)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any)")
    parser.add_argument("--data", type=Path, default=None, help="directory for the SQLite data")
    parser.add_argument("--nodes", type=int, default=2, help="number of storage nodes (default 2)")
    parser.add_argument(
        "--admin-secret",
        default=None,
        help="enable the admin/fault API with this secret (default: $BEACON_ADMIN_SECRET)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="base URL to hand out in api_endpoint (default: the Host each client used)",
    )
    parser.add_argument("--no-signup", action="store_true", help="close POST /accounts")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from beacon._errors import UsageError
    from beacon.server import EmbeddedService

    if args.nodes < 1:
        raise UsageError("--nodes must be at least 1")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    admin_secret = args.admin_secret or os.environ.get("BEACON_ADMIN_SECRET") or None
    svc = EmbeddedService(
        data_dir=args.data,
        nodes=args.nodes,
        admin_secret=admin_secret,
        public_url=args.public_url,
        signup=not args.no_signup,
    )
    # Bind first, so the URL printed is the real one (``--port 0`` picks a free port).
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        svc.close()
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({exc.strerror})") from None
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{shown}:{port}"
    print(f"beacon: Sync 1.5 service at {base}", file=sys.stderr)
    print(f"beacon: token server  {base}/1.0/sync/1.5", file=sys.stderr)
    print(f"beacon: FxA stand-in  {base}/fxa (beacon login --auth-server)", file=sys.stderr)
    print(f"beacon: storage nodes {args.nodes}", file=sys.stderr)
    print(
        f"beacon: data          {args.data if args.data else 'in memory (lost on exit)'}",
        file=sys.stderr,
    )
    print(f"beacon: admin API     {'on' if admin_secret else 'off'}", file=sys.stderr, flush=True)
    config = uvicorn.Config(svc.app, log_level="info", lifespan="off", ws="none")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        svc.close()
    return 0
