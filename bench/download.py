"""A full download over loopback into the local store: records/s, and peak memory 10k vs 100k.

The embedded service runs in a child process (uvicorn on 127.0.0.1), so the client's
measurements see only the client: its CPU time is not shared with the server's thread, and
``tracemalloc`` counts only the client's allocations. One device uploads ``small`` records of
about 1 KB to one account and ``large`` records to another (that is the upload figure); then,
for each account, a fresh device downloads everything into a new state file, twice: once
timed (records/s) and once under ``tracemalloc`` (peak Python heap during the sync). Targets:
the peak for ``large`` within 1.2× of the peak for ``small`` (memory flat in the collection
size), and the ``large`` download's records/s reported against the ``small`` one's.

``tracemalloc`` sees Python allocations only (not SQLite's page cache, which is bounded by
SQLite's own settings). Sizes are parameters: ``make bench`` runs 10,000 and 100,000.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from beacon import RecordEngine, SyncClient
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


def _download_child(conn: Connection, account: _Account, kb: bytes, count: int, state: str) -> None:
    """Child process: a fresh device's first sync; sends (seconds, peak RSS growth, requests).

    A fresh process per download, so the peak RSS (``VmHWM``, the high-water mark of this
    process's memory since its exec) belongs to this download alone; the RSS just before the
    sync is subtracted. (``ru_maxrss`` would not do: it carries the forking parent's peak.)
    """
    engine = RecordEngine(COLLECTION)
    with _client(account, kb, Path(state), engine) as client:
        gc.collect()
        before = _rss_bytes()
        start = time.perf_counter()
        result = client.sync()
        seconds = time.perf_counter() - start
        peak = _status_bytes("VmHWM")
        held = sum(1 for _ in engine.records())
    if result.engines[COLLECTION]["applied"] != count or held != count:
        conn.send(("error", f"downloaded {held} of {count} records"))
    else:
        conn.send(("ok", (seconds, max(peak - before, 0), before, result.requests)))
    conn.close()


def _rss_bytes() -> int:
    """The current resident set size (Linux)."""
    return _status_bytes("VmRSS")


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``...), in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def _download(account: _Account, kb: bytes, count: int, state: Path) -> tuple[float, int, int, int]:
    """Run one download in a fresh process: (seconds, peak RSS growth, RSS before, requests)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_download_child, args=(child, account, kb, count, str(state)))
    proc.start()
    try:
        status, value = parent.recv()
    except EOFError:
        raise RuntimeError("the download process died") from None
    finally:
        proc.join(60)
        parent.close()
    if status != "ok":
        raise AssertionError(value)
    seconds, grown, before, requests = value
    return float(seconds), int(grown), int(before), int(requests)


def run(*, small: int = 10_000, large: int = 100_000, quick: bool = False) -> dict[str, Any]:
    """Upload then download ``small`` and ``large`` collections; see the module docstring."""
    if quick:
        small, large = 200, 1_000
    kb = os.urandom(32)
    figures: list[dict[str, Any]] = []
    out: dict[str, Any] = {"params": {"small": small, "large": large, "record_bytes": 1000}}
    with _service(2) as accounts, tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        root = Path(tmp)
        up = {
            size: _upload(account, kb, size, root / f"up-{size}")
            for size, account in zip((small, large), accounts, strict=True)
        }
        down = {
            size: _download(account, kb, size, root / f"down-{size}")
            for size, account in zip((small, large), accounts, strict=True)
        }
    rate = {size: size / down[size][0] for size in (small, large)}
    figures.append(
        figure(
            f"download {large:,} records",
            rate[large],
            "records/s",
            baseline=rate[small],
            baseline_name=f"{small:,} records",
            note=f"{down[large][0]:.1f} s, {down[large][3]} requests",
        )
    )
    grown_small, grown_large = down[small][1], down[large][1]
    figures.append(
        figure(
            f"peak memory growth, download of {large:,}",
            grown_large / 2**20,
            "MiB",
            baseline=grown_small / 2**20,
            baseline_name=f"{small:,} records",
            target=MEMORY_TARGET,
            better="lower",
            note=f"peak RSS minus RSS before the sync ({down[large][2] / 2**20:.0f} MiB)",
        )
    )
    figures.append(
        figure(
            f"upload {large:,} records",
            large / up[large],
            "records/s",
            baseline=small / up[small],
            baseline_name=f"{small:,} records",
            note=f"{up[large]:.1f} s",
        )
    )
    out["figures"] = figures
    out["seconds"] = {
        "upload": {str(k): round(v, 3) for k, v in up.items()},
        "download": {str(k): round(v[0], 3) for k, v in down.items()},
    }
    out["rss_before_sync_bytes"] = {str(k): v[2] for k, v in down.items()}
    out["requests"] = {str(k): v[3] for k, v in down.items()}
    return out
