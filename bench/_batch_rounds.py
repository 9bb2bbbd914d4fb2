"""Batch linearity for ``bench/server.py``: the service's CPU to build and commit batches.

:func:`batch_rounds` builds (100-record ``batch=`` POSTs) and commits a batch of each size per
round and reads the service's CPU seconds for each part from its child process.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import httpx

from beacon._hawk import HawkAuth


def upload_batch(
    http: httpx.Client,
    auth: HawkAuth,
    url: str,
    chunks: list[list[dict[str, Any]]],
    server_cpu: Callable[[], float],
) -> tuple[float, float]:
    """Build a batch with one ``batch=`` POST per chunk, then commit it: the service's CPU
    seconds for the build and for the commit."""

    def signed(request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = auth.header_for(request)
        return request

    batch_id = "true"
    start = server_cpu()
    for chunk in chunks:
        response = http.send(
            signed(http.build_request("POST", url, params={"batch": batch_id}, json=chunk))
        )
        if response.status_code != 202:
            raise AssertionError(f"a batch append answered {response.status_code}")
        batch_id = response.json()["batch"]
    commit = signed(
        http.build_request("POST", url, params={"batch": batch_id, "commit": "true"}, json=[])
    )
    built = server_cpu()
    response = http.send(commit)
    committed = server_cpu()
    if response.status_code != 200 or response.json()["failed"]:
        raise AssertionError("a batch commit failed")
    # Untimed: drop it again, so each batch meets a database of the same size.
    http.send(signed(http.build_request("DELETE", url))).raise_for_status()
    return built - start, committed - built


def batch_rounds(
    http: httpx.Client,
    auth: HawkAuth,
    root: str,
    records: list[dict[str, Any]],
    *,
    sizes: tuple[int, ...],
    rounds: int,
    server_cpu: Callable[[], float],
    small_reps: int = 40,
) -> dict[str, dict[int, list[float]]]:
    """Per-round service CPU seconds of building (100-record ``batch=`` POSTs) and of
    committing a batch of each size: ``{"upload": {size: [...]}, "commit": {size: [...]}}``.

    CPU time, not wall time: the other sessions on a shared machine stretch a wall clock by
    more than the difference looked for. Batches of up to 100 records are repeated
    ``small_reps`` times a round and their mean is the round's: a mean, so that the small
    batches carry their share of the WAL checkpoints a big one meets in one go."""
    times: dict[str, dict[int, list[float]]] = {
        "upload": {size: [] for size in sizes},
        "commit": {size: [] for size in sizes},
    }
    for round_no in range(rounds):
        for size in sizes:
            chunks = [
                [
                    {**records[(start + i) % len(records)], "id": f"b{start + i:06d}"}
                    for i in range(min(100, size - start))
                ]
                for start in range(0, size, 100)
            ]
            runs = [
                upload_batch(
                    http, auth, f"{root}/storage/linear{size}r{round_no}x{rep}", chunks, server_cpu
                )
                for rep in range(small_reps if size <= 100 else 1)
            ]
            times["commit"][size].append(statistics.mean(c for _, c in runs))
            times["upload"][size].append(statistics.mean(b + c for b, c in runs))
    return times
