"""What a real sync costs as the store grows: CPU per sync, the whole process, upload memory.

The embedded service runs in a child process (uvicorn on 127.0.0.1, as ``bench.download``
runs it), so every CPU figure is the client's alone. For each size N (``make bench``: 1,000,
10,000 and 100,000 records of about 200 bytes, one account each), one device seeds N records
(``put_many``) and uploads them in a fresh process; then, round by round and size by size:

* **no-change sync**: open the state file, sync (one request, nothing to do), close; CPU time
  (``time.process_time``) of the client. Target: at 100k within 1.2x of 1k (no work grows
  with the store: no scan for changed rows, no whole-file check on open);
* **incremental sync of k changes** (k = 1 and 1,000): edit k stored records, then the same
  open + sync + close, which uploads them. Reported against the 1k store: O(k) means a ratio
  near 1 whatever N;
* **the whole ``beacon sync`` process** for a no-change sync (interpreter start, imports,
  charts from the cache, state file, one request), against ``python -c "import httpx"``,
  alternately, CPU and wall time, both with bytecode cached as after an install. Target: at
  most 2x. The same process with the chart cache off (``BEACON_CACHE_DIR=off``) shows what
  the cache saves;
* **peak memory of an upload**: the growth of the uploading process's peak RSS (``VmHWM``)
  over its RSS just before the sync, 100k against 10k. Target: within 1.2x (uploads are read,
  encrypted and sent a page at a time).

Each ratio is the median of pairwise ratios of rounds (both sides met the same load). Linux
only (``/proc/self/status``). ``--quick``: 200 / 1,000 / 2,000 records and k = 1 / 100, a smoke
run whose figures mean little.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from beacon import RecordEngine, SyncClient
from bench._figures import figure
from bench.download import _Account, _service, _status_bytes
from bench.local_edits import make_notes

COLLECTION = "bench"
SIZES = (1_000, 10_000, 100_000)
CHANGES = (1, 1_000)
CPU_TARGET = 1.2
PROCESS_TARGET = 2.0
MEMORY_TARGET = 1.2
_SEED_CHUNK = 10_000


def _client(account: _Account, kb: bytes, state: Path) -> SyncClient:
    return SyncClient(
        account.token_url,
        account.access_token,
        kb=kb,
        keys_changed_at=account.keys_changed_at,
        state_path=state,
        engines=[RecordEngine(COLLECTION)],
    )


def _seed(account: _Account, kb: bytes, count: int, state: Path) -> None:
    """``count`` local records, in bulk transactions; nothing is sent yet."""
    notes = make_notes(count)
    with _client(account, kb, state) as client:
        engine = client.engines[-1]
        assert isinstance(engine, RecordEngine)
        for start in range(0, count, _SEED_CHUNK):
            engine.put_many(notes[start : start + _SEED_CHUNK])


def _upload_child(
    conn: Connection, account: _Account, kb: bytes, state: str
) -> None:  # pragma: no cover - runs in a child process
    """Child process: upload what ``_seed`` stored; report seconds and peak RSS growth.

    A fresh process, so its peak RSS belongs to this upload alone (the seeding ran in the
    parent); the RSS just before the sync is subtracted.
    """
    try:
        with _client(account, kb, Path(state)) as client:
            gc.collect()
            before = _status_bytes("VmRSS")
            start = time.perf_counter()
            result = client.sync()
            seconds = time.perf_counter() - start
            grown = _status_bytes("VmHWM") - before
        conn.send(("done", result.engines[COLLECTION]["uploaded"], seconds, grown, before))
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    conn.close()


def _upload(account: _Account, kb: bytes, count: int, state: Path) -> tuple[float, int, int]:
    """Upload in a fresh process: (seconds, peak RSS growth, RSS before), bytes."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_upload_child, args=(child, account, kb, str(state)))
    proc.start()
    child.close()
    try:
        if not parent.poll(600):
            raise RuntimeError(f"the upload of {count:,} records did not finish in 600 s")
        kind, *values = parent.recv()
    finally:
        proc.join(60)
        parent.close()
    if kind == "error":
        raise RuntimeError(values[0])
    uploaded, seconds, grown, before = values
    if uploaded != count:
        raise AssertionError(f"uploaded {uploaded} of {count} records")
    return seconds, max(grown, 0), before


def _sync_cpu(
    account: _Account, kb: bytes, state: Path, *, edit: int, seq: int, settle: bool = False
) -> float:
    """CPU seconds of one open + sync + close, after editing ``edit`` stored records."""
    with _client(account, kb, state) as client:
        engine = client.engines[-1]
        assert isinstance(engine, RecordEngine)
        if edit:
            engine.put_many(
                (f"note-{i:06d}", {"title": f"edit {seq}", "text": f"round {seq}"})
                for i in range(edit)
            )
    gc.collect()
    start = time.process_time()
    with _client(account, kb, state) as client:
        result = client.sync()
    seconds = time.process_time() - start
    if result.engines[COLLECTION]["uploaded"] != edit:
        raise AssertionError(f"uploaded {result.engines[COLLECTION]['uploaded']}, edited {edit}")
    if not edit and not settle and result.requests != 1:
        raise AssertionError(f"a no-change sync sent {result.requests} requests")
    return seconds


def _process(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a child process, which must exit 0."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return cpu, wall


def _median_ratio(ours: list[float], base: list[float]) -> float:
    return statistics.median(o / b for o, b in zip(ours, base, strict=True) if b > 0)


def _rounds(
    sizes: tuple[int, ...], rounds: int, fn: Callable[[int, int], float]
) -> dict[int, list[float]]:
    """``fn(size, round)`` for every size in every round, sizes alternating within a round."""
    out: dict[int, list[float]] = {size: [] for size in sizes}
    for n in range(rounds):
        order = sizes if n % 2 == 0 else tuple(reversed(sizes))
        for size in order:
            out[size].append(fn(size, n))
    return out


def run(
    *,
    sizes: tuple[int, ...] = SIZES,
    changes: tuple[int, ...] = CHANGES,
    rounds: int = 7,
    process_rounds: int = 9,
    quick: bool = False,
) -> dict[str, Any]:
    """Seed, upload, then measure every figure of the module docstring."""
    if quick:
        sizes, changes, rounds, process_rounds = (200, 1_000, 2_000), (1, 100), 3, 3
    small, mid, large = sizes[0], sizes[len(sizes) // 2], sizes[-1]
    kb = os.urandom(32)
    figures: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    with (
        _service(len(sizes)) as accounts,
        tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp,
    ):
        root = Path(tmp)
        by_size = dict(zip(sizes, accounts, strict=True))
        states = {size: root / f"device-{size}" for size in sizes}
        uploads = {}
        for size in sizes:
            _seed(by_size[size], kb, size, states[size])
            uploads[size] = _upload(by_size[size], kb, size, states[size])
        for size in sizes:  # the client record and last-fetch settle: from here nothing changes
            _sync_cpu(by_size[size], kb, states[size], edit=0, seq=0, settle=True)

        quiet = _rounds(
            sizes, rounds, lambda s, n: _sync_cpu(by_size[s], kb, states[s], edit=0, seq=n)
        )

        def edited(k: int) -> Callable[[int, int], float]:
            return lambda s, n: _sync_cpu(by_size[s], kb, states[s], edit=k, seq=n)

        edits = {k: _rounds(sizes, rounds, edited(k)) for k in changes}

        account = by_size[small]
        argv = [
            sys.executable, "-m", "beacon", "sync", "-q", "--token-server", account.token_url,
            "--keys-changed-at", str(account.keys_changed_at), "--state", str(states[small]),
            "--engines", COLLECTION,
        ]  # fmt: skip
        # Both processes start as an installed beacon does: with bytecode (pip compiles it at
        # install; here a private bytecode cache, whatever PYTHONDONTWRITEBYTECODE says).
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPYCACHEPREFIX": str(root / "bytecode"),
            "BEACON_ACCESS_TOKEN": account.access_token,
            "BEACON_KB": kb.hex(),
            "BEACON_CACHE_DIR": str(root / "chart-cache"),
        }
        cold = {**env, "BEACON_CACHE_DIR": "off"}
        httpx_argv = [sys.executable, "-c", "import httpx"]
        _process(httpx_argv, env)  # writes the bytecode of both
        _process(argv, env)  # and fills the chart cache, as the first run after an install does
        runs: dict[str, list[tuple[float, float]]] = {"httpx": [], "sync": [], "cold": []}
        for n in range(process_rounds):
            order = ("httpx", "sync", "cold") if n % 2 == 0 else ("cold", "sync", "httpx")
            for name in order:
                chosen = {"httpx": (httpx_argv, env), "sync": (argv, env), "cold": (argv, cold)}
                runs[name].append(_process(*chosen[name]))

    ms = {size: statistics.median(v) * 1000 for size, v in quiet.items()}
    for size in (mid, large):
        if size == small:
            continue
        figures.append(
            figure(
                f"no-change sync CPU, {size:,} records stored",
                ms[size],
                "ms",
                baseline=ms[small],
                baseline_name=f"{small:,} records",
                ratio=_median_ratio(quiet[size], quiet[small]),
                target=CPU_TARGET if size == large else None,
                better="lower",
                note="open + sync (1 request) + close; client CPU only; median of rounds",
            )
        )
    for k, timings in edits.items():
        k_ms = {size: statistics.median(v) * 1000 for size, v in timings.items()}
        figures.append(
            figure(
                f"sync of {k:,} change(s) CPU, {large:,} records stored",
                k_ms[large],
                "ms",
                baseline=k_ms[small],
                baseline_name=f"{small:,} records",
                ratio=_median_ratio(timings[large], timings[small]),
                better="lower",
                note=f"O(k): near 1 whatever N; at {mid:,}: {k_ms[mid]:.1f} ms",
            )
        )
    for name, label in (("sync", "chart cache warm"), ("cold", "chart cache off")):
        cpu = [c for c, _ in runs[name]]
        wall = [w for _, w in runs[name]]
        base_cpu = [c for c, _ in runs["httpx"]]
        base_wall = [w for _, w in runs["httpx"]]
        warm = name == "sync"
        figures.append(
            figure(
                f"whole `beacon sync` process, no change, CPU ({label})",
                statistics.median(cpu) * 1000,
                "ms",
                baseline=statistics.median(base_cpu) * 1000,
                baseline_name="python -c 'import httpx'",
                ratio=_median_ratio(cpu, base_cpu),
                target=PROCESS_TARGET if warm else None,
                better="lower",
                note=f"median of {process_rounds} alternating rounds; user + system",
            )
        )
        if warm:
            figures.append(
                figure(
                    "whole `beacon sync` process, no change, wall time",
                    statistics.median(wall) * 1000,
                    "ms",
                    baseline=statistics.median(base_wall) * 1000,
                    baseline_name="python -c 'import httpx'",
                    ratio=_median_ratio(wall, base_wall),
                    target=PROCESS_TARGET,
                    better="lower",
                    note="includes the request to the service on loopback",
                )
            )
    grown = {size: uploads[size][1] / 2**20 for size in sizes}
    figures.append(
        figure(
            f"peak memory growth, upload of {large:,} records",
            grown[large],
            "MiB",
            baseline=grown[mid],
            baseline_name=f"{mid:,} records",
            target=MEMORY_TARGET,
            better="lower",
            note=f"VmHWM minus RSS before the sync ({uploads[large][2] / 2**20:.0f} MiB);"
            f" {large / uploads[large][0]:,.0f} records/s",
        )
    )
    details["upload"] = {
        str(size): {"seconds": round(s, 2), "grown_mib": round(g / 2**20, 2)}
        for size, (s, g, _) in uploads.items()
    }
    details["no_change_ms"] = {str(s): [round(x * 1000, 2) for x in v] for s, v in quiet.items()}
    return {
        "params": {"sizes": list(sizes), "changes": list(changes), "rounds": rounds},
        "figures": figures,
        **details,
    }
