"""``beacon proxy``: beacon's fault vocabulary in front of any Sync 1.5 deployment.

A reverse proxy for a token server and its storage nodes (syncstorage-rs, Mozilla's, or
``beacon serve``): point clients at ``<proxy>/1.0/sync/1.5``; token responses are rewritten so
storage traffic flows through the proxy too. Faults are injected on demand through the admin
API (``POST /__admin__/faults/<name>`` with a JSON object of arguments, ``GET
/__admin__/requests``), the same shape as ``beacon serve``'s; it is off unless an admin secret
is given (``--admin-secret`` or, better, ``BEACON_ADMIN_SECRET``, which ``ps`` does not show).
``--second-node`` names a storage node (``<node>`` of ``<node>/1.5/<uid>``, sharing the master
secret) that ``move_user`` sends users to.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``proxy`` subcommand."""
    from beacon.cli._common import add_command

    parser = add_command(
        subparsers,
        "proxy",
        help="a fault-injecting reverse proxy in front of any Sync 1.5 token server",
        doc=__doc__,
        examples="""
beacon proxy --token-server https://token.services.mozilla.com --port 8080
BEACON_ADMIN_SECRET=s beacon proxy --token-server http://127.0.0.1:8000 --second-node URL
""",
    )
    parser.add_argument(
        "--token-server",
        required=True,
        metavar="URL",
        help="the upstream token server (base URL or its .../1.0/sync/1.5 endpoint)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any)")
    parser.add_argument(
        "--admin-secret",
        default=None,
        help="enable the admin/fault API with this secret (default: $BEACON_ADMIN_SECRET)",
    )
    parser.add_argument(
        "--second-node",
        default=None,
        metavar="URL",
        help="a storage node base URL that move_user reassigns users to",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="base URL to hand out in api_endpoint (default: the Host each client used)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from beacon._errors import UsageError
    from beacon._serving import base_url, listen
    from beacon.proxy import FaultProxy

    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    admin_secret = args.admin_secret or os.environ.get("BEACON_ADMIN_SECRET") or None
    proxy = FaultProxy(
        args.token_server,
        second_node=args.second_node,
        admin_secret=admin_secret,
        public_url=args.public_url,
    )
    sock = listen(args.host, args.port)  # TCP_NODELAY, see beacon._serving
    base = base_url(args.host, sock)
    print(f"beacon: fault proxy at {base}", file=sys.stderr)
    print(f"beacon: token server  {base}/1.0/sync/1.5 (clients use this)", file=sys.stderr)
    print(f"beacon: upstream      {proxy.token_server}", file=sys.stderr)
    print(f"beacon: second node   {args.second_node or 'none (move_user off)'}", file=sys.stderr)
    print(f"beacon: admin API     {'on' if admin_secret else 'off'}", file=sys.stderr, flush=True)
    config = uvicorn.Config(proxy.app, log_level="warning", lifespan="on", ws="none", http="h11")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
