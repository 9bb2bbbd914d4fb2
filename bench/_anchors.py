"""Physical anchors of a download and an upload: the least code that does each layer's work.

A full download does three kinds of work per record: it fetches the record's bytes over HTTP,
verifies and decrypts its payload, and stores it. Each has a floor, measured here on the very
bytes the download handles, in a fresh process set up like the download's own:

* **crypto**: :func:`bench.crypto.bare_decrypt` (``cryptography``'s AES-256-CBC, the standard
  library's HMAC-SHA256, base64 and JSON) over the payloads the server returned; for the
  upload, :func:`bench.crypto.bare_encrypt` of the same cleartexts;
* **SQLite**: one ``executemany`` of ``(id, modified, payload)`` rows into a minimal table, in
  one transaction, with the store's durability (``synchronous=FULL``); for the upload, one
  ``SELECT`` of the same rows;
* **HTTP**: the server's real page responses, captured byte for byte, served by a bare ASGI
  app under the same uvicorn set-up in another process (:func:`bare_server`) and fetched by
  ``httpx`` as beacon's transport does (one keep-alive client, the body streamed and joined);
  for the upload, the real POST bodies sent to a bare sink.

The serial floor is ``1 / (1/crypto + 1/sqlite + 1/http)`` records/s: a client that does each
layer's work once, one after the other, at the speed of the bare loop, and nothing else. It
leaves out the server's own work (its queries, its rendering), which a real download waits
for: a ratio of 1 is out of reach by construction.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import pickle
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from bench.crypto import bare_decrypt, bare_encrypt

__all__ = ["Anchors", "Captured", "bare_server", "floor", "measure", "post_bodies"]


@dataclass(frozen=True)
class Captured:
    """What the anchors work on: the real pages, the collection's keys, the POST bodies."""

    pages: tuple[bytes, ...]
    enc_key: bytes
    hmac_key: bytes
    posts: tuple[bytes, ...]

    @property
    def records(self) -> int:
        return sum(len(json.loads(page)) for page in self.pages)


@dataclass(frozen=True)
class Anchors:
    """Seconds each bare layer took for the whole collection, in one round."""

    records: int
    decrypt: float
    insert: float
    fetch: float
    encrypt: float
    select: float
    post: float

    def rate(self, name: str) -> float:
        """Records/s of one anchor."""
        seconds: float = getattr(self, name)
        return self.records / seconds

    @property
    def download_floor(self) -> float:
        """Records/s of the serial floor of a download (see the module docstring)."""
        return floor(self.rate("decrypt"), self.rate("insert"), self.rate("fetch"))

    @property
    def upload_floor(self) -> float:
        """Records/s of the serial floor of an upload."""
        return floor(self.rate("encrypt"), self.rate("select"), self.rate("post"))


def floor(*rates: float) -> float:
    """The rate of doing each step once, serially: ``1 / sum(1 / rate)``."""
    return 1.0 / sum(1.0 / r for r in rates)


def post_bodies(pages: Sequence[bytes], *, max_records: int, max_bytes: int) -> list[bytes]:
    """The POST bodies an upload of these records sends: JSON lists of ``{"id", "payload"}``,
    at most ``max_records`` records and ``max_bytes`` of payload each, as beacon's planner
    cuts them (the server's info/configuration limits)."""
    bodies: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for page in pages:
        for bso in json.loads(page):
            item = json.dumps(
                {"id": bso["id"], "payload": bso["payload"]},
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode("utf-8")
            payload = len(bso["payload"].encode("utf-8"))
            if chunk and (len(chunk) == max_records or size + payload > max_bytes):
                bodies.append(b"[" + b",".join(chunk) + b"]")
                chunk, size = [], 0
            chunk.append(item)
            size += payload
    if chunk:
        bodies.append(b"[" + b",".join(chunk) + b"]")
    return bodies


# -- the bare server -------------------------------------------------------------------------


def _bare_app(pages: Sequence[bytes]) -> Callable[..., Any]:
    """An ASGI app: ``GET /p/<n>`` answers page n's bytes, ``POST /sink`` reads the body and
    answers a small JSON object; nothing else."""
    headers = [(b"content-type", b"application/json")]
    sunk = b'{"success":[],"failed":{}}'

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # pragma: no cover - lifespan is off
            return
        if scope["method"] == "POST":
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
            body = sunk
        else:
            body = pages[int(scope["path"].rsplit("/", 1)[1])]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _serve_pages(conn: Connection, path: str) -> None:  # pragma: no cover - child process
    from beacon._serving import serve_in_thread

    app = _bare_app(pickle.loads(Path(path).read_bytes()))
    with serve_in_thread(app, name="bare") as serving:
        conn.send(serving.url)
        conn.recv()


@contextmanager
def bare_server(pages: Sequence[bytes], workdir: Path) -> Iterator[str]:
    """The pages served by a bare app in another process (same uvicorn set-up as beacon's
    embedded service); yields its base URL."""
    path = workdir / "bare-pages.pickle"
    path.write_bytes(pickle.dumps(list(pages)))
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_pages, args=(child, str(path)), daemon=True)
    proc.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the bare server did not start in its process")
        yield parent.recv()
    finally:
        parent.send("stop")
        proc.join(15)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        parent.close()


# -- one round of anchors, in a fresh process ------------------------------------------------


def _timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _client() -> httpx.Client:
    """An httpx client set up like beacon's transport (see beacon.client._transport)."""
    return httpx.Client(
        timeout=httpx.Timeout(120),
        headers={"User-Agent": "bench", "Accept": "application/json"},
        follow_redirects=False,
        trust_env=False,
    )


def _exchange(http: httpx.Client, request: httpx.Request) -> bytes:
    response = http.send(request, stream=True)
    try:
        body = b"".join(response.iter_bytes())
    finally:
        response.close()
    if response.status_code != 200:
        raise AssertionError(f"the bare server answered {response.status_code}")
    return body


def _round(captured: Captured, base: str, workdir: str) -> Anchors:
    """Every anchor once, on the captured bytes (see the module docstring)."""
    bsos = [bso for page in captured.pages for bso in json.loads(page)]
    payloads = [bso["payload"] for bso in bsos]
    enc, mac = captured.enc_key, captured.hmac_key
    cleartexts: list[dict[str, Any]] = []

    def decrypt() -> None:
        cleartexts[:] = [bare_decrypt(enc, mac, p) for p in payloads]

    seconds = {"decrypt": _timed(decrypt)}
    # The rows as a store keeps them: id, the server's modified, the cleartext's JSON bytes.
    rows = [
        (bso["id"], bso["modified"], json.dumps(c, separators=(",", ":")).encode("utf-8"))
        for bso, c in zip(bsos, cleartexts, strict=True)
    ]
    fd, db = tempfile.mkstemp(prefix="anchor-", suffix=".sqlite", dir=workdir)
    os.close(fd)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE records (id TEXT PRIMARY KEY, modified REAL, payload BLOB)")

    def insert() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO records VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")

    seconds["insert"] = _timed(insert)

    def select() -> None:
        for _ in conn.execute("SELECT id, payload FROM records ORDER BY id"):
            pass

    seconds["select"] = _timed(select)
    conn.close()
    os.unlink(db)
    ivs = [os.urandom(16) for _ in cleartexts]
    seconds["encrypt"] = _timed(
        lambda: [bare_encrypt(enc, mac, c, iv) for c, iv in zip(cleartexts, ivs, strict=True)]
    )
    with _client() as http:
        gets = [http.build_request("GET", f"{base}/p/{n}") for n in range(len(captured.pages))]
        _exchange(http, http.build_request("GET", f"{base}/p/0"))  # the connection is open

        def fetch() -> None:
            for request, page in zip(gets, captured.pages, strict=True):
                if len(_exchange(http, request)) != len(page):
                    raise AssertionError("the bare server sent another page")

        seconds["fetch"] = _timed(fetch)
        headers = {"Content-Type": "application/json"}

        def post() -> None:
            for body in captured.posts:
                _exchange(
                    http, http.build_request("POST", f"{base}/sink", content=body, headers=headers)
                )

        seconds["post"] = _timed(post)
    return Anchors(records=len(payloads), **seconds)


def _anchor_child(
    conn: Connection, path: str, base: str, workdir: str
) -> None:  # pragma: no cover - child process
    captured = pickle.loads(Path(path).read_bytes())
    conn.send(_round(captured, base, workdir).__dict__)
    conn.close()


def measure(captured: Captured, base: str, workdir: Path) -> Anchors:
    """One round of every anchor in a fresh process (spawned, like the download's)."""
    path = workdir / "anchor-input.pickle"
    if not path.exists():
        path.write_bytes(pickle.dumps(captured))
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_anchor_child, args=(child, str(path), base, str(workdir)))
    proc.start()
    child.close()
    try:
        if not parent.poll(600):
            raise RuntimeError("the anchors did not finish in 10 minutes")
        try:
            result = parent.recv()
        except EOFError:
            raise RuntimeError("the anchor process died") from None
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        parent.close()
    return Anchors(**result)
