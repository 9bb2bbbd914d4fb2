"""The two servers of ``bench/server.py``, each in a spawned child process.

* :func:`beacon_child`: beacon's embedded service (SQLite file in ``data_dir``, uvicorn on
  loopback, as ``beacon serve`` runs it); sends ``(base URL, access token, keys_changed_at)``.
* :func:`bare_child`: a bare Starlette app on the same uvicorn setup answering each
  ``(method, path)`` with the captured status, headers and body; sends its base URL.

Both then answer ``"cpu"`` with the CPU seconds their process has used (all threads), and stop
on anything else. :func:`child` runs one and yields the pipe and what it sent first.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

Answer = tuple[int, list[tuple[str, str]], bytes]


def beacon_child(conn: Connection, data_dir: str, profile: str | None) -> None:  # pragma: no cover
    """Child process: the embedded service on loopback until the parent says stop."""
    from beacon._serving import serve_in_thread
    from beacon.server import EmbeddedService

    with EmbeddedService(data_dir=data_dir, nodes=1) as svc:
        app: Any = svc.app
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            app = profiled(svc.app, profiler)
        with serve_in_thread(app, name="beacon-server") as serving:
            account = svc.create_account()
            conn.send((serving.url, account.access_token, account.keys_changed_at))
            while conn.recv() == "cpu":  # the CPU seconds this process has used, all threads
                conn.send(time.process_time())
        if profiler is not None and profile:
            profiler.dump_stats(profile)


def profiled(app: Any, profiler: Any) -> Any:  # pragma: no cover - child, profiling only
    """``app`` with ``profiler`` enabled in the server's thread from its first request on."""
    started = False

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        nonlocal started
        if not started:
            started = True
            profiler.enable()  # cProfile watches the thread that enables it: the server's
        await app(scope, receive, send)

    return wrapper


def bare_child(
    conn: Connection, answers: dict[tuple[str, str], Answer]
) -> None:  # pragma: no cover
    """Child process: a bare Starlette app that answers each path with captured bytes."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from beacon._serving import serve_in_thread

    def endpoint(answer: Answer) -> Callable[[Request], Any]:
        status, headers, body = answer

        async def respond(request: Request) -> Response:
            await request.body()
            return Response(body, status, headers=dict(headers))

        return respond

    routes = [
        Route(path, endpoint(answer), methods=[method])
        for (method, path), answer in answers.items()
    ]
    with serve_in_thread(Starlette(routes=routes), name="bare") as serving:
        conn.send(serving.url)
        while conn.recv() == "cpu":
            conn.send(time.process_time())


def ask(conn: Connection, question: str) -> Any:
    conn.send(question)
    return conn.recv()


@contextmanager
def child(target: Callable[..., None], *args: object) -> Iterator[tuple[Connection, Any]]:
    """Run ``target(conn, *args)`` in a spawned process; yield our end of the pipe and what
    the child sent first."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), daemon=True)
    proc.start()
    try:
        if not parent.poll(60):
            raise RuntimeError(f"{target.__name__} did not start in its child process")
        yield parent, parent.recv()
    finally:
        parent.send("stop")
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        parent.close()
