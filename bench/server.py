"""Embedded service throughput over loopback: requests/s for the three hot requests.

Measures, over real HTTP on 127.0.0.1 (uvicorn + httpx, one keep-alive connection):

* ``GET info/collections`` (Hawk-verified, tiny body);
* ``GET storage/<c>?full=1`` of a 1,000-record collection;
* ``POST storage/<c>`` of a 100-record batch (``batch=true&commit=true``).

Each is timed side by side with a bare Starlette app on the same uvicorn setup that answers the
same bytes without auth, SQLite or protocol logic, so the ratio is the share of transport cost
in beacon's total (1.0 would mean the service adds nothing). The in-process transport's rate for
info/collections is reported too (what the model-based tests see).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from beacon._crypto import key_id
from beacon._hawk import HawkAuth
from beacon.server import EmbeddedService
from bench._figures import best_of_interleaved, figure

PAYLOAD = "x" * 300
TARGET = 0.2  # beacon's rate at least a fifth of the bare app's, per request type


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _bare_app(bodies: dict[str, bytes]) -> Starlette:
    async def info(request: Request) -> Response:
        return Response(bodies["info"], media_type="application/json")

    async def listing(request: Request) -> Response:
        return Response(bodies["get"], media_type="application/json")

    async def post(request: Request) -> Response:
        await request.body()
        return Response(bodies["post"], media_type="application/json")

    return Starlette(
        routes=[
            Route("/info", info),
            Route("/get", listing),
            Route("/post", post, methods=["POST"]),
        ]
    )


def run(*, requests: int = 300, rounds: int = 3, quick: bool = False) -> dict[str, Any]:
    """Requests/s for each request type, best of ``rounds`` alternated rounds."""
    if quick:
        requests, rounds = min(requests, 20), 1
    svc = EmbeddedService(clock=time.time)
    account = svc.create_account()
    kb = os.urandom(32)
    batch = [{"id": f"p{i:03d}", "payload": PAYLOAD, "sortindex": i} for i in range(100)]
    try:
        with svc.serve() as base, httpx.Client() as http:
            token = http.get(
                base + "/1.0/sync/1.5",
                headers={
                    "Authorization": f"Bearer {account.access_token}",
                    "X-KeyID": key_id(kb, account.keys_changed_at),
                },
            ).json()
            auth = HawkAuth(token["id"], token["key"])
            root = token["api_endpoint"]
            for start in range(0, 1000, 100):
                records = [
                    {"id": f"r{i:04d}", "payload": PAYLOAD} for i in range(start, start + 100)
                ]
                http.post(root + "/storage/bench?batch=true&commit=true", json=records, auth=auth)
            bodies = {
                "info": http.get(root + "/info/collections", auth=auth).content,
                "get": http.get(root + "/storage/bench?full=1", auth=auth).content,
                "post": http.post(
                    root + "/storage/posted?batch=true&commit=true", json=batch, auth=auth
                ).content,
            }
            if bodies["get"].count(b'"id"') != 1000:
                raise AssertionError("the 1,000-record collection did not read back")
            with _serve(_bare_app(bodies)) as bare, svc.client() as local:
                local_auth = HawkAuth(token["id"], token["key"])

                def loop(call: Callable[[], httpx.Response]) -> Callable[[], None]:
                    def go() -> None:
                        for _ in range(requests):
                            if call().status_code != 200:
                                raise AssertionError("a benchmark request failed")

                    return go

                # The in-process client is based at its own URL: same path, other host.
                local_root = root.replace(base, "")
                candidates: dict[str, Callable[[], object]] = {
                    "info": loop(lambda: http.get(root + "/info/collections", auth=auth)),
                    "info_bare": loop(lambda: http.get(bare + "/info")),
                    "get": loop(lambda: http.get(root + "/storage/bench?full=1", auth=auth)),
                    "get_bare": loop(lambda: http.get(bare + "/get")),
                    "post": loop(
                        lambda: http.post(
                            root + "/storage/posted?batch=true&commit=true", json=batch, auth=auth
                        )
                    ),
                    "post_bare": loop(lambda: http.post(bare + "/post", json=batch)),
                    "info_inprocess": loop(
                        lambda: local.get(local_root + "/info/collections", auth=local_auth)
                    ),
                }
                best = best_of_interleaved(candidates, rounds=rounds)
    finally:
        svc.close()
    rate = {name: requests / seconds for name, seconds in best.items()}
    return {
        "params": {"requests": requests, "rounds": rounds, "payload_bytes": len(PAYLOAD)},
        "figures": [
            figure(
                "GET info/collections (loopback)",
                rate["info"],
                "requests/s",
                baseline=rate["info_bare"],
                baseline_name="bare Starlette",
                target=TARGET,
            ),
            figure(
                "GET 1,000 records full (loopback)",
                rate["get"],
                "requests/s",
                baseline=rate["get_bare"],
                baseline_name="bare Starlette",
                target=TARGET,
            ),
            figure(
                "POST batch of 100 records (loopback)",
                rate["post"],
                "requests/s",
                baseline=rate["post_bare"],
                baseline_name="bare Starlette",
                target=TARGET,
            ),
            figure(
                "GET info/collections (in-process transport)",
                rate["info_inprocess"],
                "requests/s",
                note="what the model-based tests see; no socket",
            ),
        ],
    }
