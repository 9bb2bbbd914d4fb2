"""A full download over loopback into the local store: records/s, and peak memory 10k vs 100k.

The embedded service runs in a child process (uvicorn on 127.0.0.1), so the client's figures
are the client's: its CPU is not shared with the server's thread. One device uploads ``small``
records of about 1 KB to one account and ``large`` records to another (the upload figure);
then, for each account, a fresh device in a fresh process downloads everything into a new
state file: records/s, and the growth of the process's peak RSS (``VmHWM``) over its RSS just
before the sync. Target: the growth for ``large`` within 1.2x of the growth for ``small``
(memory flat in the collection size). The ``large`` download's records/s is reported against
the ``small`` one's: a ratio well under 1 means a cost that grows with the collection.

A download still running after ``budget`` seconds is stopped and reported as such, with the
figures of the part that ran. Sizes are parameters: ``make bench`` runs 10,000 and 100,000.
Linux only (``/proc/self/status``).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from beacon import RecordEngine, SyncClient
from beacon._crypto import key_id
from beacon._hawk import HawkAuth
from beacon.client import PAGE_SIZE, ApplyCounts, IncomingRecord
from bench._figures import figure

COLLECTION = "bench"
MEMORY_TARGET = 1.2


@dataclass(frozen=True)
class _Account:
    token_url: str
    access_token: str
    keys_changed_at: int


def _serve(conn: Connection, accounts: int, data_dir: str) -> None:  # pragma: no cover - child
    """Child process: the embedded service on loopback until the parent says stop."""
    from beacon.server import EmbeddedService

    with EmbeddedService(data_dir=data_dir, nodes=1) as svc, svc.serve() as base:
        made = [svc.create_account() for _ in range(accounts)]
        conn.send(
            [(f"{base}/1.0/sync/1.5", acct.access_token, acct.keys_changed_at) for acct in made]
        )
        conn.recv()


@contextmanager
def _service(accounts: int) -> Iterator[list[_Account]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    with tempfile.TemporaryDirectory(prefix="beacon-bench-svc-") as data_dir:
        proc = ctx.Process(target=_serve, args=(child, accounts, data_dir), daemon=True)
        proc.start()
        try:
            if not parent.poll(60):
                raise RuntimeError("the embedded service did not start in the child process")
            yield [_Account(*row) for row in parent.recv()]
        finally:
            parent.send("stop")
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            parent.close()


def _record(n: int) -> dict[str, Any]:
    """About 1 KB of JSON, different per record."""
    return {
        "title": f"record {n}",
        "url": f"https://example.com/{n}",
        "text": (f"{n:08d} " * 120)[:960],
    }


def _client(account: _Account, kb: bytes, state: Path, engine: RecordEngine) -> SyncClient:
    return SyncClient(
        account.token_url,
        account.access_token,
        kb=kb,
        keys_changed_at=account.keys_changed_at,
        state_path=state,
        engines=[engine],
    )


def _upload(account: _Account, kb: bytes, count: int, state: Path) -> float:
    engine = RecordEngine(COLLECTION)
    with _client(account, kb, state, engine) as client:
        with client.store.transaction():
            for n in range(count):
                engine.put(f"r{n:07d}", _record(n))
        start = time.perf_counter()
        result = client.sync()
        seconds = time.perf_counter() - start
    if result.engines[COLLECTION]["uploaded"] != count:
        raise AssertionError(f"uploaded {result.engines[COLLECTION]['uploaded']} of {count}")
    return seconds


class _CountingEngine(RecordEngine):
    """A RecordEngine that counts what it has applied, for progress reports."""

    applied = 0

    def apply_incoming(self, records: Sequence[IncomingRecord]) -> ApplyCounts:
        counts = super().apply_incoming(records)
        self.applied += len(records)
        return counts


@dataclass(frozen=True)
class _Download:
    """What one download did, or how far it got before the budget ran out."""

    finished: bool
    records: int
    seconds: float
    grown: int  # peak RSS growth during the sync, bytes
    before: int  # RSS just before the sync, bytes
    requests: int


def _download_child(
    conn: Connection, account: _Account, kb: bytes, count: int, state: str
) -> None:  # pragma: no cover - runs in a child process
    """Child process: a fresh device's first sync, reporting progress every half second.

    A fresh process per download, so the peak RSS (``VmHWM``, the high-water mark of this
    process's memory since its exec) belongs to this download alone; the RSS just before the
    sync is subtracted. (``ru_maxrss`` would not do: it carries the forking parent's peak.)
    Messages: ``("progress", records, seconds, grown, before)`` then ``("done", ...)`` with the
    requests count added, or ``("error", message)``.
    """
    lock = threading.Lock()
    engine = _CountingEngine(COLLECTION)
    with _client(account, kb, Path(state), engine) as client:
        gc.collect()
        before = _status_bytes("VmRSS")
        start = time.perf_counter()
        done = threading.Event()

        def report() -> None:
            while not done.wait(0.5):
                grown = _status_bytes("VmHWM") - before
                with lock:
                    conn.send(
                        ("progress", engine.applied, time.perf_counter() - start, grown, before)
                    )

        threading.Thread(target=report, daemon=True).start()
        result = client.sync()
        seconds = time.perf_counter() - start
        done.set()
        grown = _status_bytes("VmHWM") - before
        held = sum(1 for _ in engine.records())
    with lock:
        if result.engines[COLLECTION]["applied"] != count or held != count:
            conn.send(("error", f"downloaded {held} of {count} records"))
        else:
            conn.send(("done", count, seconds, grown, before, result.requests))
        conn.close()


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``...), in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _download(account: _Account, kb: bytes, count: int, state: Path, *, budget: float) -> _Download:
    """One download in a fresh process, stopped (and reported as such) after ``budget`` s."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_download_child, args=(child, account, kb, count, str(state)))
    proc.start()
    child.close()
    last = _Download(False, 0, 0.0, 0, 0, 0)
    deadline = time.monotonic() + budget + 30  # + the child's start-up
    try:
        while True:
            if not parent.poll(max(0.0, deadline - time.monotonic())):
                return last  # the budget ran out: report how far it got
            try:
                message = parent.recv()
            except EOFError:
                raise RuntimeError("the download process died") from None
            kind, *values = message
            if kind == "error":
                raise AssertionError(values[0])
            if kind == "done":
                records, seconds, grown, before, requests = values
                return _Download(True, records, seconds, max(grown, 0), before, requests)
            records, seconds, grown, before = values
            last = _Download(False, records, seconds, max(grown, 0), before, 0)
            if seconds > budget:
                return last
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(30)
        parent.close()


def _page_times(account: _Account, kb: bytes, count: int, *, page: int) -> tuple[float, float]:
    """The server's time for the first and the last page of the collection (seconds, best of 3).

    Raw Hawk-signed GETs with the client's own query (``full``, ``sort=oldest``, ``limit``),
    following the server's ``X-Weave-Next-Offset`` tokens as a client does (§3.5: clients never
    invent offsets), with no decryption and no store: how much of a long download's time is
    the server's paging.
    """
    headers = {
        "Authorization": f"Bearer {account.access_token}",
        "X-KeyID": key_id(kb, account.keys_changed_at),
    }
    query = {"full": "1", "sort": "oldest", "limit": str(page)}
    with httpx.Client(timeout=120) as http:
        token = http.get(account.token_url, headers=headers).json()
        auth = HawkAuth(token["id"], token["key"])
        url = f"{token['api_endpoint']}/storage/{COLLECTION}"

        def timed(params: dict[str, str]) -> tuple[float, httpx.Response]:
            best, response = float("inf"), None
            for _ in range(3):
                start = time.perf_counter()
                response = http.get(url, params=params, auth=auth)
                best = min(best, time.perf_counter() - start)
                if response.status_code != 200:
                    raise AssertionError(f"page {params.get('offset')}: {response.status_code}")
            assert response is not None
            return best, response

        first, response = timed(query)
        last_params = query
        while (offset := response.headers.get("X-Weave-Next-Offset")) is not None:
            last_params = {**query, "offset": offset}
            response = http.get(url, params=last_params, auth=auth)
        last, response = timed(last_params)
        if len(response.json()) != (count - 1) % page + 1:
            raise AssertionError("the last page does not end the collection")
    return first, last


def run(
    *, small: int = 10_000, large: int = 100_000, budget: float = 150.0, quick: bool = False
) -> dict[str, Any]:
    """Upload, then download ``small`` and ``large`` collections; see the module docstring.

    A download still running after ``budget`` seconds is stopped; its figures then say how
    far it got (records, records/s and memory growth so far) instead of inventing the rest.
    """
    if quick:
        small, large = 200, 1_000
    kb = os.urandom(32)
    out: dict[str, Any] = {
        "params": {"small": small, "large": large, "record_bytes": 1000, "budget_s": budget}
    }
    with _service(2) as accounts, tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        root = Path(tmp)
        up = {
            size: _upload(account, kb, size, root / f"up-{size}")
            for size, account in zip((small, large), accounts, strict=True)
        }
        down = {
            size: _download(account, kb, size, root / f"down-{size}", budget=budget)
            for size, account in zip((small, large), accounts, strict=True)
        }
        first_page, last_page = _page_times(accounts[1], kb, large, page=PAGE_SIZE)
    if not down[small].finished:
        raise RuntimeError(f"the {small:,}-record download did not finish in {budget:.0f} s")
    big, little = down[large], down[small]
    rate_big = big.records / big.seconds if big.seconds else 0.0
    if big.finished:
        name = f"download {large:,} records"
        note = f"{big.seconds:.1f} s, {big.requests} requests"
    else:
        name = f"download {large:,} records: STOPPED at {big.records:,} after {big.seconds:.0f} s"
        note = "did not finish within the budget; figures cover the part that ran"
    out["figures"] = [
        figure(
            name,
            rate_big,
            "records/s",
            baseline=little.records / little.seconds,
            baseline_name=f"{small:,} records",
            note=note,
        ),
        figure(
            "peak memory growth during that download",
            big.grown / 2**20,
            "MiB",
            baseline=little.grown / 2**20,
            baseline_name=f"{small:,} records",
            target=MEMORY_TARGET,
            better="lower",
            note=f"peak RSS (VmHWM) minus RSS before the sync ({big.before / 2**20:.0f} MiB)",
        ),
        figure(
            f"upload {large:,} records",
            large / up[large],
            "records/s",
            baseline=small / up[small],
            baseline_name=f"{small:,} records",
            note=f"{up[large]:.1f} s",
        ),
        figure(
            f"server time for the last page of {large:,}",
            last_page * 1000,
            "ms",
            baseline=first_page * 1000,
            baseline_name="its first page",
            note=f"raw GETs of {PAGE_SIZE} records (no client work): the server's paging share",
        ),
    ]
    out["downloads"] = {str(size): d.__dict__ for size, d in down.items()}
    out["upload_seconds"] = {str(k): round(v, 3) for k, v in up.items()}
    return out
