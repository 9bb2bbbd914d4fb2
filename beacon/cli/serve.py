"""``beacon serve``: the embedded Sync 1.5 service (token server + storage nodes) over HTTP.

Data lives in SQLite under ``--data DIR`` and survives a restart; without ``--data`` it is
kept in memory. The admin/fault API is off unless an admin secret is given (``--admin-secret``
or, better, the ``BEACON_ADMIN_SECRET`` environment variable, which ``ps`` does not show).
Account sign-up (``POST /accounts``, used by ``beacon account create``) is open unless
``--no-signup``.

The storage nodes accept any standard tokenlib token signed with the master secret, so a
syncstorage-rs token server (or any ``tokenlib`` minter) sharing it can hand out tokens for
them. The secret comes from ``--master-secret`` (repeat it to rotate: tokens are minted with
the first and verified against each), ``--master-secret-file`` (one secret per line), or the
``SYNC_MASTER_SECRET`` environment variable as syncstorage-rs names it; without any, one is
generated and kept with the data.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

EXAMPLES = """\
beacon serve                                   in memory, http://127.0.0.1:8000
beacon serve --port 0 --data ./server-data     any free port; data survives a restart
BEACON_ADMIN_SECRET=s3cret beacon serve        with the admin/fault API
"""


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    from beacon.cli._common import add_command

    parser = add_command(
        subparsers,
        "serve",
        help="run the embedded Sync 1.5 service (token server + storage nodes)",
        doc=__doc__,
        examples=EXAMPLES,
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
    parser.add_argument(
        "--master-secret",
        action="append",
        default=[],
        metavar="SECRET",
        help="token master secret; repeat to rotate (default: $SYNC_MASTER_SECRET, else generated)",
    )
    parser.add_argument(
        "--master-secret-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="read master secrets from FILE, one per line, the first mints",
    )
    parser.set_defaults(func=_run)


def master_secrets(args: argparse.Namespace) -> list[str]:
    """The secrets the options and the environment give, first one minting (may be empty)."""
    from beacon._errors import UsageError

    secrets = list(args.master_secret)
    if args.master_secret_file is not None:
        try:
            text = args.master_secret_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise UsageError(f"cannot read --master-secret-file ({reason})") from None
        lines = [line.strip() for line in text.splitlines()]
        found = [line for line in lines if line and not line.startswith("#")]
        if not found:
            raise UsageError("--master-secret-file holds no secret")
        secrets += found
    if not secrets and os.environ.get("SYNC_MASTER_SECRET"):
        secrets.append(os.environ["SYNC_MASTER_SECRET"])
    if any(not s for s in secrets):
        raise UsageError("a master secret must not be empty")
    return secrets


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from beacon._errors import UsageError
    from beacon._serving import base_url, listen
    from beacon.cli._common import writable_dir
    from beacon.server import EmbeddedService

    if args.nodes < 1:
        raise UsageError("--nodes must be at least 1")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    if args.data is not None:
        writable_dir(args.data, "--data")
    admin_secret = args.admin_secret or os.environ.get("BEACON_ADMIN_SECRET") or None
    secrets = master_secrets(args)
    svc = EmbeddedService(
        master_secret=secrets or None,
        data_dir=args.data,
        nodes=args.nodes,
        admin_secret=admin_secret,
        public_url=args.public_url,
        signup=not args.no_signup,
    )
    # Bind first, so the URL printed is the real one (``--port 0`` picks a free port); the
    # socket has TCP_NODELAY, or every small answer waits ~45 ms for a delayed ACK.
    try:
        sock = listen(args.host, args.port)
    except UsageError:
        svc.close()
        raise
    base = base_url(args.host, sock)
    banner = sys.stderr if not getattr(args, "quiet", False) else None
    print(f"beacon: Sync 1.5 service at {base}", file=sys.stderr)
    if banner is not None:
        print(f"beacon: token server  {base}/1.0/sync/1.5", file=banner)
        print(f"beacon: FxA stand-in  {base}/fxa (beacon login --auth-server)", file=banner)
        print(f"beacon: storage nodes {args.nodes}", file=banner)
        print(
            f"beacon: data          {args.data if args.data else 'in memory (lost on exit)'}",
            file=banner,
        )
        given = f"given ({len(secrets)})" if secrets else "generated, kept with the data"
        print(f"beacon: master secret {given}", file=banner)
        print(f"beacon: admin API     {'on' if admin_secret else 'off'}", file=banner)
    sys.stderr.flush()
    level = "warning" if getattr(args, "quiet", False) else "info"
    config = uvicorn.Config(svc.app, log_level=level, lifespan="off", ws="none")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        svc.close()
    return 0
