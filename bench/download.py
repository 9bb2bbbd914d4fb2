"""A full download and upload over loopback against their physical floor; memory 10k vs 100k.

The embedded service runs in a child process (uvicorn on 127.0.0.1), so the client's figures
are the client's: its CPU is not shared with the server's thread. Every upload and download
runs in a fresh process of its own (spawned), whose CPU time during the sync is the client's
CPU per record. One device uploads ``small`` records of about 1 KB to one account and a fresh
device downloads them (the baselines of the size comparisons); then, ``rounds`` times, a
device uploads ``large`` records to a fresh account, the anchors run once
(:mod:`bench._anchors`: bare AES-CBC + HMAC on the very payloads the server returns, a bare
SQLite ``executemany`` of the same rows, a bare HTTP server in another process serving the
server's real page bytes, and the same for the upload's direction), and a fresh device
downloads the first ``large`` account into a new state file.

Figures: download and upload records/s against their serial floor, each ratio the median of
the per-round ratios (both sides of a ratio met the same machine load; target 0.4); client CPU
µs per record; the growth of the download process's peak RSS (``VmHWM``) over its RSS just
before the sync, ``large`` against ``small`` (target 1.2: memory flat in the collection size);
records/s ``large`` against ``small`` (well under 1: a cost that grows with the collection);
and the server's time for the last page against the first (its paging share).

A download still running after ``budget`` seconds is stopped and reported as such, with the
figures of the part that ran. Sizes are parameters: ``make bench`` runs 10,000 and 100,000 in
2 paired rounds (a round of 100,000 takes 25-45 s on a shared 2-core machine, most of it the
upload; a median of 2 is their mean, still of pairwise ratios). Linux only
(``/proc/self/status``).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from beacon import RecordEngine, SyncClient
from beacon._crypto import CollectionKeys, KeyBundle, key_id
from beacon._hawk import HawkAuth
from beacon.client import PAGE_SIZE, ApplyCounts, IncomingRecord
from bench._anchors import Anchors, Captured, bare_server, measure, post_bodies
from bench._figures import figure, median_ratio
from bench._server_children import child as in_child_process

COLLECTION = "bench"
MEMORY_TARGET = 1.2
#: Records/s of a download (an upload) at least this share of its serial floor.
FLOOR_TARGET = 0.4
#: Records per upload page, each its own batches (the client's collection service uploads
#: 1,000 at a time; not part of beacon.client's door, so repeated here).
UPLOAD_PAGE = 1000


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
    """The embedded service in a spawned child process, with ``accounts`` new accounts."""
    with (
        tempfile.TemporaryDirectory(prefix="beacon-bench-svc-") as data_dir,
        in_child_process(_serve, accounts, data_dir) as (_, rows),
    ):
        yield [_Account(*row) for row in rows]


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
    cpu: float = 0.0  # the client process's CPU seconds during the sync


def _download_child(
    conn: Connection, account: _Account, kb: bytes, count: int, state: str
) -> None:  # pragma: no cover - runs in a child process
    """Child process: a fresh device's first sync, reporting progress every half second.

    A fresh process per download, so the peak RSS (``VmHWM``, the high-water mark of this
    process's memory since its exec) belongs to this download alone; the RSS just before the
    sync is subtracted. (``ru_maxrss`` would not do: it carries the forking parent's peak.)
    Messages: ``("progress", records, seconds, grown, before)`` then ``("done", ...)`` with the
    requests count and the process's CPU seconds during the sync added, or ``("error", ...)``.
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
        cpu = time.process_time()
        result = client.sync()
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        done.set()
        grown = _status_bytes("VmHWM") - before
        # Every row there and live (count(*): reading 100k rows back would double the round).
        held = client.store.execute(
            "SELECT count(*) FROM records WHERE collection = ? AND deleted = 0", (COLLECTION,)
        )[0][0]
    with lock:
        if result.engines[COLLECTION]["applied"] != count or held != count:
            conn.send(("error", f"downloaded {held} of {count} records"))
        else:
            conn.send(("done", count, seconds, grown, before, result.requests, cpu))
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
                records, seconds, grown, before, requests, cpu = values
                return _Download(True, records, seconds, max(grown, 0), before, requests, cpu)
            records, seconds, grown, before = values
            last = _Download(False, records, seconds, max(grown, 0), before, 0)
            if seconds > budget:
                return last
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(30)
        parent.close()


@dataclass(frozen=True)
class _Upload:
    seconds: float
    cpu: float  # the client process's CPU seconds during the sync


def _upload_child(
    conn: Connection, account: _Account, kb: bytes, count: int, state: str
) -> None:  # pragma: no cover - runs in a child process
    """Child process: a device with ``count`` new local records syncs them up (timed)."""
    engine = RecordEngine(COLLECTION)
    try:
        with _client(account, kb, Path(state), engine) as client:
            engine.put_many((f"r{n:07d}", _record(n)) for n in range(count))
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            result = client.sync()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        uploaded = result.engines[COLLECTION]["uploaded"]
        if uploaded != count:
            conn.send(("error", f"uploaded {uploaded} of {count}"))
        else:
            conn.send(("done", seconds, cpu))
    finally:
        conn.close()


def _upload(account: _Account, kb: bytes, count: int, state: Path) -> _Upload:
    """One upload in a fresh process, set up like the downloads."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_upload_child, args=(child, account, kb, count, str(state)))
    proc.start()
    child.close()
    try:
        if not parent.poll(600):
            raise RuntimeError(f"the upload of {count:,} records took over 10 minutes")
        try:
            kind, *values = parent.recv()
        except EOFError:
            raise RuntimeError("the upload process died") from None
        if kind == "error":
            raise AssertionError(values[0])
        return _Upload(*values)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        parent.close()


class _Raw:
    """Hawk-signed requests to the account's storage, as the client sends them (no client)."""

    def __init__(self, account: _Account, kb: bytes, http: httpx.Client) -> None:
        headers = {
            "Authorization": f"Bearer {account.access_token}",
            "X-KeyID": key_id(kb, account.keys_changed_at),
        }
        token = http.get(account.token_url, headers=headers).json()
        self._auth = HawkAuth(token["id"], token["key"])
        self._base = token["api_endpoint"]
        self._http = http

    def post(self, path: str, params: dict[str, str], body: bytes) -> httpx.Response:
        response = self._http.post(
            f"{self._base}/{path}",
            params=params,
            content=body,
            headers={"Content-Type": "application/json"},
            auth=self._auth,
        )
        if response.status_code not in (200, 202):
            raise AssertionError(f"POST {path}: {response.status_code}")
        return response

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        response = self._http.get(f"{self._base}/{path}", params=params, auth=self._auth)
        if response.status_code != 200:
            raise AssertionError(f"GET {path}: {response.status_code}")
        return response


def _best_of_3(fn: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    best, response = float("inf"), None
    for _ in range(3):
        start = time.perf_counter()
        response = fn()
        best = min(best, time.perf_counter() - start)
    assert response is not None
    return best, response


def _capture(account: _Account, kb: bytes, count: int) -> tuple[Captured, float, float]:
    """The collection's pages exactly as the server sends them to a downloading client, the
    collection's keys, the POST bodies an upload of the same records sends; and the server's
    time for the first and the last page (best of 3 each).

    Raw Hawk-signed GETs with the client's own query (``full``, ``newer``, ``sort=oldest``,
    ``limit``), following the server's ``X-Weave-Next-Offset`` tokens as a client does (§3.5:
    clients never invent offsets), with no decryption and no store.
    """
    query = {"full": "1", "newer": "0.00", "sort": "oldest", "limit": str(PAGE_SIZE)}
    with httpx.Client(timeout=120) as http:
        raw = _Raw(account, kb, http)
        first, response = _best_of_3(lambda: raw.get(f"storage/{COLLECTION}", query))
        pages = [response.content]
        params = query
        while (offset := response.headers.get("X-Weave-Next-Offset")) is not None:
            params = {**query, "offset": offset}
            response = raw.get(f"storage/{COLLECTION}", params)
            pages.append(response.content)
        last, response = _best_of_3(lambda: raw.get(f"storage/{COLLECTION}", params))
        if len(response.json()) != (count - 1) % PAGE_SIZE + 1:
            raise AssertionError("the last page does not end the collection")
        keys_bso = raw.get("storage/crypto/keys").json()
        limits = raw.get("info/configuration").json()
    keys = CollectionKeys.decrypt(KeyBundle.from_kb(kb), keys_bso["payload"])
    bundle = keys.bundle_for(COLLECTION)
    posts = post_bodies(
        pages, max_records=limits["max_post_records"], max_bytes=limits["max_post_bytes"]
    )
    captured = Captured(tuple(pages), bundle.encryption_key, bundle.hmac_key, tuple(posts))
    if captured.records != count:
        raise AssertionError(f"captured {captured.records} of {count} records")
    return captured, first, last


def _server_posts(account: _Account, kb: bytes, posts: Sequence[bytes], per_batch: int) -> float:
    """Seconds the embedded service takes for the upload's own POST bodies, sent raw (no
    client work) in batches as the client sends them (``batch=true``, ``batch=<id>``...,
    ``commit=true``; one batch per upload page): the server's share of an upload."""
    with httpx.Client(timeout=120) as http:
        raw = _Raw(account, kb, http)
        start = time.perf_counter()
        for first in range(0, len(posts), per_batch):
            group = posts[first : first + per_batch]
            batch = "true"
            for index, body in enumerate(group):
                params = {"batch": batch}
                if index == len(group) - 1:
                    params["commit"] = "true"
                response = raw.post(f"storage/{COLLECTION}", params, body)
                if response.status_code == 202:
                    batch = response.json()["batch"]
        return time.perf_counter() - start


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else 0.0


def run(
    *,
    small: int = 10_000,
    large: int = 100_000,
    rounds: int = 2,
    budget: float = 150.0,
    quick: bool = False,
) -> dict[str, Any]:
    """Upload and download ``small`` and ``large`` collections; see the module docstring.

    The ``large`` upload and download run ``rounds`` times, each round paired with one round
    of the anchors. A download still running after ``budget`` seconds is stopped; its figures
    then say how far it got (records, records/s and memory growth so far) instead of
    inventing the rest.
    """
    if quick:
        small, large = 200, 1_000
    kb = os.urandom(32)
    out: dict[str, Any] = {
        "params": {
            "small": small,
            "large": large,
            "rounds": rounds,
            "record_bytes": 1000,
            "budget_s": budget,
        }
    }
    downs: list[_Download] = []
    ups: list[_Upload] = []
    anchors: list[Anchors] = []
    with (
        _service(2 + rounds) as accounts,
        tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp,
        ExitStack() as stack,
    ):
        root = Path(tmp)
        up_small = _upload(accounts[0], kb, small, root / "up-small")
        down_small = _download(accounts[0], kb, small, root / "down-small", budget=budget)
        base = ""
        for n in range(rounds):
            ups.append(_upload(accounts[1 + n], kb, large, root / f"up-{n}"))
            if n == 0:
                captured, first_page, last_page = _capture(accounts[1], kb, large)
                base = stack.enter_context(bare_server(captured.pages, root))
            anchors.append(measure(captured, base, root))
            downs.append(_download(accounts[1], kb, large, root / f"down-{n}", budget=budget))
        per_batch = max(1, UPLOAD_PAGE * len(captured.posts) // max(captured.records, 1))
        server_posts = _server_posts(accounts[-1], kb, captured.posts, per_batch)
    if not down_small.finished:
        raise RuntimeError(f"the {small:,}-record download did not finish in {budget:.0f} s")
    out["figures"] = _figures(small, large, up_small, down_small, ups, downs, anchors)
    out["figures"].append(
        figure(
            f"server time for the last page of {large:,}",
            last_page * 1000,
            "ms",
            baseline=first_page * 1000,
            baseline_name="its first page",
            note=f"raw GETs of {PAGE_SIZE} records (no client work): the server's paging share",
        )
    )
    out["figures"].append(
        figure(
            f"server time per uploaded record ({large:,})",
            server_posts / large * 1e6,
            "µs",
            baseline=1e6 / statistics.median(a.rate("post") for a in anchors),
            baseline_name="bare HTTP POST sink",
            better="lower",
            note="the upload's POST bodies sent raw to the embedded service, in batches as the"
            " client sends them (no client work): the server's share of an upload",
        )
    )
    out["downloads"] = {str(small): down_small.__dict__, str(large): [d.__dict__ for d in downs]}
    out["uploads"] = {str(small): up_small.__dict__, str(large): [u.__dict__ for u in ups]}
    out["anchors"] = [
        {name: round(a.rate(name)) for name in _ANCHOR_NAMES} | {"records": a.records}
        for a in anchors
    ]
    return out


_ANCHOR_NAMES = ("decrypt", "insert", "fetch", "encrypt", "select", "post")


def _figures(
    small: int,
    large: int,
    up_small: _Upload,
    down_small: _Download,
    ups: list[_Upload],
    downs: list[_Download],
    anchors: list[Anchors],
) -> list[dict[str, Any]]:
    """The table's rows: each ratio to a floor is the median of per-round pairwise ratios."""
    stopped = [d for d in downs if not d.finished]
    down_rates = [_rate(d.records, d.seconds) for d in downs]
    down_floors = [a.download_floor for a in anchors]
    up_rates = [_rate(large, u.seconds) for u in ups]
    up_floors = [a.upload_floor for a in anchors]

    def med(name: str) -> float:
        return statistics.median(a.rate(name) for a in anchors)

    rounds = f"median of {len(anchors)} paired rounds"
    if stopped:
        d = stopped[0]
        name = f"download {large:,} records: STOPPED at {d.records:,} after {d.seconds:.0f} s"
        note = "did not finish within the budget; figures cover the part that ran"
    else:
        name = f"download {large:,} records vs its serial floor"
        note = (
            f"{rounds}; floor = 1/(1/decrypt + 1/insert + 1/fetch) of bare loops on the same"
            f" bytes: decrypt {med('decrypt'):,.0f}/s, SQLite insert {med('insert'):,.0f}/s,"
            f" bare HTTP {med('fetch'):,.0f}/s; {statistics.median(d.seconds for d in downs):.1f}"
            f" s, {downs[0].requests} requests"
        )
    finished = [d for d in downs if d.finished] or downs
    down_cpu = statistics.median(d.cpu / max(d.records, 1) * 1e6 for d in finished)
    up_cpu = statistics.median(u.cpu / large * 1e6 for u in ups)
    return [
        figure(
            name,
            statistics.median(down_rates),
            "records/s",
            baseline=statistics.median(down_floors),
            baseline_name="serial floor",
            ratio=median_ratio(down_rates, down_floors),
            target=FLOOR_TARGET,
            note=note,
        ),
        figure(
            "download client CPU per record",
            down_cpu,
            "µs",
            baseline=1e6 / statistics.median(down_floors),
            baseline_name="serial floor, wall µs",
            better="lower",
            note="the client process's CPU time during the sync / records (median of rounds)",
        ),
        figure(
            f"download {large:,} records",
            statistics.median(down_rates),
            "records/s",
            baseline=_rate(down_small.records, down_small.seconds),
            baseline_name=f"{small:,} records",
            note="a ratio well under 1: a cost that grows with the collection",
        ),
        figure(
            "peak memory growth during that download",
            statistics.median(d.grown for d in downs) / 2**20,
            "MiB",
            baseline=down_small.grown / 2**20,
            baseline_name=f"{small:,} records",
            target=MEMORY_TARGET,
            better="lower",
            note=f"peak RSS (VmHWM) minus RSS before the sync ({downs[0].before / 2**20:.0f} MiB)",
        ),
        figure(
            f"upload {large:,} records vs its serial floor",
            statistics.median(up_rates),
            "records/s",
            baseline=statistics.median(up_floors),
            baseline_name="serial floor",
            ratio=median_ratio(up_rates, up_floors),
            target=FLOOR_TARGET,
            note=(
                f"{rounds}; floor of bare loops on the same records: encrypt"
                f" {med('encrypt'):,.0f}/s, SQLite select {med('select'):,.0f}/s, bare HTTP POST"
                f" {med('post'):,.0f}/s; {statistics.median(u.seconds for u in ups):.1f} s"
            ),
        ),
        figure(
            "upload client CPU per record",
            up_cpu,
            "µs",
            baseline=1e6 / statistics.median(up_floors),
            baseline_name="serial floor, wall µs",
            better="lower",
            note="the client process's CPU time during the sync / records (median of rounds)",
        ),
        figure(
            f"upload {large:,} records",
            statistics.median(up_rates),
            "records/s",
            baseline=_rate(small, up_small.seconds),
            baseline_name=f"{small:,} records",
        ),
    ]
