"""Embedded service speed over loopback, against a bare Starlette app serving the same bytes.

Two child processes, one load generator in the parent:

* beacon's :class:`~beacon.server.EmbeddedService` (SQLite file, uvicorn, as ``beacon serve``
  runs it) in one child;
* a bare Starlette app in another child, on the same uvicorn setup
  (:func:`beacon._serving.serve_in_thread`), that answers each request with the status,
  headers (``X-Weave-Timestamp``, ``X-Last-Modified``, ``X-Weave-Records``, ...) and body
  beacon gave for it, captured first: no auth, no SQLite, no protocol logic;
* the parent drives each over one keep-alive httpx connection. Requests to beacon carry real
  Hawk headers, signed before each round's clock starts (every request its own nonce; a round
  lasts well under the server's 60 s skew window), so the figures are the service's, not the
  client's signing.

Figures (each ratio the median of per-round pairwise ratios, ``bench/_figures.py``):

* ``GET info/collections`` and ``GET storage/<c>?full=1&sort=oldest&limit=500`` (the page a
  beacon client asks for) of a 1,000-record collection of ~1 KB encrypted payloads: beacon's
  requests/s over the bare app's, target >= 0.7;
* ``POST`` of a 100-record batch (``batch=true&commit=true``), reported against the bare app
  reading the same body (target >= 0.3: beacon parses, validates and stores every record);
* batch linearity: the service's CPU time per record to build (100-record ``batch=`` POSTs)
  and commit a batch of 10,000 records over that for a batch of 100, each the marginal cost
  (a 1-record batch's cost removed per round), for the whole upload and for the commit alone.
  Target <= 1.5: a cost per record that grew with the batch would be quadratic. CPU, read
  from the child between requests, because a shared machine's wall clock swings by more.
* info/collections over the in-process transport (what the model-based tests see).

``run(profile=path)`` runs beacon's child under cProfile and writes its stats to ``path``.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import httpx

from beacon._crypto import KeyBundle, encrypt_record, key_id
from beacon._hawk import HawkAuth
from bench._batch_rounds import batch_rounds
from bench._figures import figure, median_ratio
from bench._server_children import Answer, ask, bare_child, beacon_child, child

COLLECTION = "bench"
RECORDS = 1000
PAGE = 500
GET_TARGET = 0.7
POST_TARGET = 0.3
LINEAR_TARGET = 1.5
# Headers the bare app repeats verbatim; uvicorn and Starlette add date, server, length.
_KEPT = (
    "content-type",
    "x-weave-timestamp",
    "x-last-modified",
    "x-weave-records",
    "x-weave-next-offset",
)


def _cleartext(n: int) -> dict[str, Any]:
    """About 700 bytes of JSON, different per record: ~1 KB once encrypted and encoded."""
    return {"id": f"r{n:05d}", "title": f"record {n}", "text": (f"{n:08d} " * 80)[:680]}


class _Signer:
    """Hawk headers made ahead of a round: one fresh nonce and the current time each."""

    def __init__(self, http: httpx.Client, auth: HawkAuth) -> None:
        self._http = http
        self._auth = auth

    def headers(self, method: str, url: str, count: int) -> list[dict[str, str]]:
        request = self._http.build_request(method, url)
        return [{"Authorization": self._auth.header_for(request)} for _ in range(count)]


def _answer(response: httpx.Response) -> Answer:
    if response.status_code not in (200, 202):
        raise AssertionError(f"the service answered {response.status_code} to {response.url}")
    kept = [(k, v) for k, v in response.headers.items() if k.lower() in _KEPT]
    return response.status_code, kept, response.content


@dataclass(frozen=True)
class _Target:
    """The three hot URLs of one server."""

    info: str
    page: str
    post: str

    def url(self, kind: str) -> str:
        return str(getattr(self, kind))


def _token(http: httpx.Client, base: str, access_token: str, kca: int) -> tuple[HawkAuth, str]:
    kb = os.urandom(32)
    answer = http.get(
        base + "/1.0/sync/1.5",
        headers={"Authorization": f"Bearer {access_token}", "X-KeyID": key_id(kb, kca)},
    )
    answer.raise_for_status()
    token = answer.json()
    return HawkAuth(token["id"], token["key"]), str(token["api_endpoint"])


def _targets(root: str) -> _Target:
    return _Target(
        info=f"{root}/info/collections",
        page=f"{root}/storage/{COLLECTION}?full=1&sort=oldest&limit={PAGE}",
        post=f"{root}/storage/posted?batch=true&commit=true",
    )


def _capture(
    http: httpx.Client, auth: HawkAuth, root: str, records: list[dict[str, Any]]
) -> dict[tuple[str, str], Answer]:
    """Upload the collection, then beacon's answers to the hot requests, keyed for the bare app."""
    for start in range(0, RECORDS, 100):
        http.post(
            f"{root}/storage/{COLLECTION}?batch=true&commit=true",
            json=records[start : start + 100],
            auth=auth,
        ).raise_for_status()
    urls = _targets(root)
    answers = {
        ("GET", httpx.URL(urls.info).path): _answer(http.get(urls.info, auth=auth)),
        ("GET", httpx.URL(urls.page).path): _answer(http.get(urls.page, auth=auth)),
        ("POST", httpx.URL(urls.post).path): _answer(
            http.post(urls.post, json=records[:100], auth=auth)
        ),
    }
    if answers[("GET", httpx.URL(urls.page).path)][2].count(b'"payload"') != PAGE:
        raise AssertionError("the 500-record page did not read back")
    return answers


def run(
    *,
    info_requests: int = 200,
    page_requests: int = 40,
    post_requests: int = 30,
    rounds: int = 9,
    linear_rounds: int = 5,
    large_batch: int = 10_000,
    quick: bool = False,
    profile: str | None = None,
) -> dict[str, Any]:
    """Figures for the hot requests and for commit linearity; see the module docstring."""
    if quick:
        info_requests, page_requests, post_requests = 10, 4, 4
        rounds, linear_rounds, large_batch = 2, 1, 300
    counts = {"info": info_requests, "page": page_requests, "post": post_requests}
    bundle = KeyBundle.generate()
    records: list[dict[str, Any]] = [
        {"id": f"r{n:05d}", "payload": encrypt_record(bundle, _cleartext(n)), "sortindex": n % 7}
        for n in range(RECORDS)
    ]
    with (
        tempfile.TemporaryDirectory(prefix="beacon-bench-server-") as data_dir,
        child(beacon_child, data_dir, profile) as (beacon, (base, access_token, kca)),
        httpx.Client(timeout=60) as http,
    ):
        auth, root = _token(http, base, access_token, kca)
        answers = _capture(http, auth, root, records)
        with child(bare_child, answers) as (_, bare_base):
            _same_bytes(http, _targets(bare_base + httpx.URL(root).path), answers)
            hot = _hot_rounds(
                http,
                _Signer(http, auth),
                beacon=_targets(root),
                bare=_targets(bare_base + httpx.URL(root).path),
                counts=counts,
                batch=records[:100],
                rounds=rounds,
            )
        linear = batch_rounds(
            http,
            auth,
            root,
            records,
            sizes=(1, 100, large_batch),
            rounds=linear_rounds,
            server_cpu=lambda: ask(beacon, "cpu"),
        )
    in_process = _in_process_rate(info_requests, rounds)
    page_bytes = len(answers[("GET", httpx.URL(_targets(root).page).path)][2])
    return _report(
        hot,
        linear,
        counts=counts,
        rounds=rounds,
        linear_rounds=linear_rounds,
        large_batch=large_batch,
        payload_bytes=sum(len(r["payload"]) for r in records) // len(records),
        page_bytes=page_bytes,
        in_process=in_process,
    )


def _same_bytes(http: httpx.Client, bare: _Target, answers: dict[tuple[str, str], Answer]) -> None:
    """The bare app's bodies are beacon's, byte for byte (else the ratio compares other work)."""
    for kind, method in (("info", "GET"), ("page", "GET"), ("post", "POST")):
        url = bare.url(kind)
        got = http.request(method, url, content=b"[]").content
        if got != answers[(method, httpx.URL(url).path)][2]:
            raise AssertionError(f"the bare app's {kind} answer differs from beacon's")


def _in_process_rate(requests: int, rounds: int) -> float:
    """info/collections requests/s on the in-process transport (no socket), best round."""
    from beacon.server import EmbeddedService

    with EmbeddedService(clock=time.time) as svc, svc.client() as local:
        account = svc.create_account()
        auth, root = _token(local, "", account.access_token, account.keys_changed_at)
        url = root + "/info/collections"
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(requests):
                if local.get(url, auth=auth).status_code != 200:
                    raise AssertionError("an in-process request failed")
            best = min(best, time.perf_counter() - start)
    return requests / best


def _hot_rounds(
    http: httpx.Client,
    signer: _Signer,
    *,
    beacon: _Target,
    bare: _Target,
    counts: dict[str, int],
    batch: list[dict[str, Any]],
    rounds: int,
) -> dict[str, list[float]]:
    """Per-round wall times of each request type, beacon's (``kind``) and the bare app's
    (``kind_bare``), in the shape of :func:`bench._figures.pairwise_rounds`.

    Within a round the two sides alternate request by request (ABBA: neither always goes
    first, after the other's request has run through the caches), so both meet the same load
    to the millisecond (a shared machine's load swings a 1 ms request by as much again from
    one 50 ms stretch to the next); beacon's headers are signed before the round starts.
    """
    body = json.dumps(batch).encode()
    json_type = {"Content-Type": "application/json"}
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for kind in ("info", "page", "post"):
            method = "POST" if kind == "post" else "GET"
            content, extra = (body, json_type) if method == "POST" else (None, {})
            signed = signer.headers(method, beacon.url(kind), counts[kind])
            gc.collect()
            spent = {kind: 0.0, kind + "_bare": 0.0}
            for index, headers in enumerate(signed):
                pair = [
                    (kind, beacon.url(kind), {**headers, **extra}),
                    (kind + "_bare", bare.url(kind), extra),
                ]
                for name, url, sent in pair if index % 2 else pair[::-1]:  # ABBA: no side first
                    start = time.perf_counter()
                    response = http.request(method, url, content=content, headers=sent)
                    spent[name] += time.perf_counter() - start
                    if response.status_code != 200:
                        raise AssertionError(f"{name} answered {response.status_code}")
            for name, seconds in spent.items():
                times.setdefault(name, []).append(seconds)
    return times


def _report(
    hot: dict[str, list[float]],
    linear: dict[str, dict[int, list[float]]],
    *,
    counts: dict[str, int],
    rounds: int,
    linear_rounds: int,
    large_batch: int,
    payload_bytes: int,
    page_bytes: int,
    in_process: float,
) -> dict[str, Any]:
    import statistics

    def rate(kind: str) -> float:
        return counts[kind.removesuffix("_bare")] / statistics.median(hot[kind])

    def ratio(kind: str) -> float:  # beacon's rate / bare rate = bare time / beacon time
        return median_ratio(hot[kind + "_bare"], hot[kind])

    # Marginal cost per record: (t(N) - t(1)) / (N - 1), per round.
    def per_record(part: str, size: int) -> list[float]:
        pairs = zip(linear[part][size], linear[part][1], strict=True)
        return [(t - one) / (size - 1) for t, one in pairs]

    names = {
        "info": "GET info/collections (loopback)",
        "page": f"GET {PAGE} records full, 1 KB payloads (loopback)",
        "post": "POST batch of 100 records (loopback)",
    }
    targets = {"info": GET_TARGET, "page": GET_TARGET, "post": POST_TARGET}
    figures = [
        figure(
            names[kind],
            rate(kind),
            "requests/s",
            baseline=rate(kind + "_bare"),
            baseline_name="bare Starlette, other process",
            ratio=ratio(kind),
            target=targets[kind],
            note="ratio: median of per-round pairwise ratios",
        )
        for kind in ("info", "page", "post")
    ]
    for part, what in (
        ("upload", "batch upload (appends + commit)"),
        ("commit", "batch commit"),
    ):
        small, large = per_record(part, 100), per_record(part, large_batch)
        figures.append(
            figure(
                f"{what} per record, {large_batch:,} vs 100 records",
                statistics.median(large) * 1e6,
                "µs CPU/record",
                baseline=statistics.median(small) * 1e6,
                baseline_name="batch of 100",
                ratio=median_ratio(large, small) if min(small) > 0 else None,
                target=LINEAR_TARGET,
                better="lower",
                note="service CPU, marginal: a 1-record batch's removed per round",
            )
        )
    figures.append(
        figure(
            "GET info/collections (in-process transport)",
            in_process,
            "requests/s",
            note="what the model-based tests see; no socket",
        )
    )
    return {
        "params": {
            "requests": counts,
            "rounds": rounds,
            "linear_rounds": linear_rounds,
            "records": RECORDS,
            "page": PAGE,
            "payload_bytes": payload_bytes,
            "page_bytes": page_bytes,
            "signing": "pre-signed per round, one nonce per request",
        },
        "rounds": hot,
        "batch_seconds": {
            part: {str(size): seconds for size, seconds in by_size.items()}
            for part, by_size in linear.items()
        },
        "figures": figures,
    }
