"""Firefox account sign-in: requests per route, and the cost of onepw v2 stretching.

Against the embedded FxA stand-in in-process:

* requests of a password sign-in (v1 and v2 accounts), counted by the account chart's run
  and checked against the service's request log;
* requests of an access-token refresh (target 1) and of a credentials call while the token
  is fresh (target 0: nothing is sent);
* beacon's v2 stretch (PBKDF2-SHA256, 650 000 rounds, then two HKDFs) against the same
  PBKDF2 alone, the median of pairwise rounds: the stretch costs what the protocol asks,
  not more.
"""

from __future__ import annotations

import hashlib
import statistics
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from beacon._onepw import V2_ITERATIONS, PasswordKeys, make_client_salt
from beacon.fxa import FirefoxAccount, MemoryStore
from beacon.server import EmbeddedService
from bench._figures import figure, median_ratio, pairwise_rounds

PASSWORD = "a benchmark password"


def _sign_in(svc: EmbeddedService, email: str, *, v2: bool) -> tuple[int, list[str]]:
    svc.fxa.create_account(email, PASSWORD, v2=v2)
    svc.faults.clear_request_log()
    with FirefoxAccount(
        MemoryStore(), auth_server_url=svc.auth_server_url, transport=svc.transport()
    ) as account:
        result = account.sign_in(email, PASSWORD)
    log = [f"{r.method} {r.path} {r.status}" for r in svc.faults.request_log()]
    if result.outcome != "married" or result.requests != len(log):
        raise AssertionError(f"sign-in {result.outcome}: {result.requests} vs {len(log)} logged")
    return result.requests, log


def run(*, rounds: int = 5, quick: bool = False) -> dict[str, Any]:
    """Count the sign-in requests and time the v2 stretch against bare PBKDF2."""
    if quick:
        rounds = 1
    with EmbeddedService() as svc:
        v1_requests, v1_log = _sign_in(svc, "v1@example.com", v2=False)
        v2_requests, _ = _sign_in(svc, "v2@example.com", v2=True)
        with FirefoxAccount(
            MemoryStore(), auth_server_url=svc.auth_server_url, transport=svc.transport()
        ) as account:
            account.sign_in("v1@example.com", PASSWORD)
            fresh = account.resume()
            refreshed = account.resume(refresh=True)
    salt = make_client_salt()
    # The anchor is the fastest PBKDF2 on this machine: OpenSSL's through cryptography (the
    # one beacon calls); hashlib's runs the same rounds about 1.7x slower here, so against it
    # a stretch that does strictly more work looked cheaper than its baseline.
    times = pairwise_rounds(
        {
            "beacon": lambda: PasswordKeys.v2(PASSWORD, salt),
            "bare": lambda: PBKDF2HMAC(hashes.SHA256(), 32, salt.encode(), V2_ITERATIONS).derive(
                PASSWORD.encode()
            ),
            "hashlib": lambda: hashlib.pbkdf2_hmac(
                "sha256", PASSWORD.encode(), salt.encode(), V2_ITERATIONS, 32
            ),
        },
        rounds=rounds,
    )
    return {
        "params": {"rounds": rounds, "v2_iterations": V2_ITERATIONS},
        "figures": [
            figure(
                "requests per password sign-in (v1 account)",
                v1_requests,
                "requests",
                target=5,
                better="lower",
                note="; ".join(v1_log),
            ),
            figure(
                "requests per password sign-in (v2 account)",
                v2_requests,
                "requests",
                target=5,
                better="lower",
            ),
            figure(
                "requests per access-token refresh",
                refreshed.requests,
                "requests",
                target=1,
                better="lower",
            ),
            figure(
                "requests per credentials call, token fresh",
                fresh.requests,
                "requests",
                target=0,
                better="lower",
            ),
            figure(
                "onepw v2 stretch",
                statistics.median(times["beacon"]) * 1000,
                "ms",
                baseline=statistics.median(times["bare"]) * 1000,
                baseline_name="PBKDF2-HMAC-SHA256 alone (cryptography), same rounds",
                ratio=median_ratio(times["beacon"], times["bare"]),
                target=1.5,
                better="lower",
                note=f"median of {rounds} pairwise rounds; the stretch adds HKDF to the PBKDF2;"
                f" hashlib.pbkdf2_hmac: {statistics.median(times['hashlib']) * 1000:.0f} ms",
            ),
        ],
    }
