"""Request economy: HTTP requests per sync, counted by the client and by the service's log.

Against the embedded service in-process (the counts do not depend on the transport):

* the first sync of an empty account (token, setup by a fresh start, upload);
* a second device's first sync of that account (token, meta/global and keys, download);
* a no-change sync, repeated ``repeats`` times (target: 1 request each, ``info/collections``
  answered 304 or unchanged).

Each count is the client's own (``SyncResult.requests``) and must equal the service's request
log for the same run; the requests themselves are listed in the results.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from beacon import RecordEngine, SyncClient, SyncResult
from beacon.server import EmbeddedService
from bench._figures import figure

COLLECTION = "bench"
NO_CHANGE_TARGET = 1.0


def _sync(svc: EmbeddedService, client: SyncClient) -> tuple[SyncResult, list[str]]:
    svc.faults.clear_request_log()
    result = client.sync()
    log = [f"{r.method} {r.path} {r.status}" for r in svc.faults.request_log()]
    if result.requests != len(log):
        raise AssertionError(f"client counted {result.requests}, service logged {len(log)}")
    return result, log


def run(*, repeats: int = 20, records: int = 10, quick: bool = False) -> dict[str, Any]:
    """Count the requests of a first sync, a joining device's sync and no-change syncs."""
    if quick:
        repeats = min(repeats, 3)
    kb = os.urandom(32)
    with EmbeddedService() as svc, tempfile.TemporaryDirectory(prefix="beacon-bench-") as tmp:
        account = svc.create_account()

        def device(name: str) -> tuple[SyncClient, RecordEngine]:
            engine = RecordEngine(COLLECTION)
            client = SyncClient(
                svc.token_server_url,
                account.access_token,
                kb=kb,
                keys_changed_at=account.keys_changed_at,
                state_path=Path(tmp) / name,
                engines=[engine],
                transport=svc.transport(),
            )
            return client, engine

        a, a_engine = device("a")
        b, _ = device("b")
        with a, b:
            for n in range(records):
                a_engine.put(f"r{n}", {"n": n})
            first, first_log = _sync(svc, a)
            joined, joined_log = _sync(svc, b)
            _sync(svc, a)  # A learns of B's client record; from here nothing changes
            quiet = [_sync(svc, a) for _ in range(repeats)]
    per_quiet = sum(r.requests for r, _ in quiet) / len(quiet)
    return {
        "params": {"repeats": repeats, "records": records, "engines": ["clients", COLLECTION]},
        "figures": [
            figure(
                "requests per no-change sync",
                per_quiet,
                "requests/sync",
                target=NO_CHANGE_TARGET,
                better="lower",
                note=f"mean of {repeats}; " + "; ".join(quiet[0][1]),
            ),
            figure(
                "requests, first sync of an empty account",
                float(first.requests),
                "requests",
                note=f"fresh start and upload of {records} records",
            ),
            figure(
                "requests, a second device's first sync",
                float(joined.requests),
                "requests",
                note=f"download of {records} records",
            ),
        ],
        "requests": {
            "first_sync": first_log,
            "second_device_first_sync": joined_log,
            "no_change_sync": quiet[0][1],
        },
    }
