"""The campaign's oracles: properties of the wire and of the devices, checked after every step.

Contract: each check reads what the harness recorded (the :class:`~beacon.testing._recorder.
Exchange` list of one device, its local records, the server's records) and raises
:class:`InvariantViolation` naming the invariant and what was seen. Checks never mutate what
they read and never print secrets: tokens appear as digests, records as ids and values the
campaign itself chose.

The wire invariants of one sync run (:func:`check_run`):

* ``backoff``: no request to a server inside a backoff window that server announced
  (Retry-After on a 503, X-Weave-Backoff / Backoff on any answer), kept per server;
  after a Retry-After not even the rest of the same run may talk to that server;
* ``token_fetches``: at most two token-server requests per run, plus one more after each
  token request refused with a 401 (the token chart's one credentials refresh), four at most;
* ``fresh_starts``: at most one wipe of the user's storage per run;
* ``request_bound``: at most :func:`request_bound` requests per run;
* ``fresh_start_justified`` (a 401 never causes a fresh start): a wipe follows, on that same
  node, a 404 for meta/global or crypto/keys or a meta/global whose storageVersion is below 5,
  with no 401 in between;
* ``rejected_token``: a token a storage node refused with a 401 (an answer the device saw)
  is never presented again by the same process;
* ``upload_keys``: every record uploaded verifies (HMAC) under the crypto/keys on the server
  at the moment of the upload, and no record is uploaded while the server has no crypto/keys.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from beacon._crypto import CollectionKeys, decrypt_record
from beacon._errors import BeaconError, RecordIntegrityError
from beacon._protocol import STORAGE_VERSION
from beacon.charts import Structure, Trace, load_chart
from beacon.testing._recorder import Exchange

__all__ = [
    "BackoffWindows",
    "InvariantViolation",
    "check_convergence",
    "check_run",
    "check_trace",
    "configuration_problem",
    "request_bound",
]


class InvariantViolation(AssertionError):
    """An invariant of the campaign failed; ``invariant`` is its short name."""

    def __init__(self, invariant: str, message: str) -> None:
        super().__init__(f"[{invariant}] {message}")
        self.invariant = invariant
        self.message = message


def _where(ex: Exchange) -> str:
    what = "token" if ex.is_token_fetch else (ex.resource or "/")
    return f"device {ex.device} run {ex.run} t={ex.time:.2f} {ex.method} {what}"


@dataclass
class BackoffWindows:
    """Per device and per server, the time before which no request may be sent."""

    until: dict[tuple[int, str], float] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget every window (only used when the harness replaces the whole service)."""
        self.until.clear()

    def latest(self) -> float:
        """The end of the last window still known (0 when none)."""
        return max(self.until.values(), default=0.0)

    def check(self, run: Sequence[Exchange]) -> None:
        """Check one run's requests against the windows, then open the windows it announced."""
        in_run: dict[tuple[int, str], float] = {}
        announced: dict[tuple[int, str], float] = {}
        for ex in run:
            key = (ex.device, ex.node)
            limit = max(self.until.get(key, 0.0), in_run.get(key, 0.0))
            if ex.time < limit - 1e-6:
                raise InvariantViolation(
                    "backoff",
                    f"{_where(ex)} was sent inside a backoff window open until t={limit:.2f}",
                )
            if ex.fault is not None:  # the device never saw this answer
                continue
            ends = []
            if ex.status == 503 and ex.retry_after is not None:
                ends.append(ex.time + ex.retry_after)
                in_run[key] = max(in_run.get(key, 0.0), ex.time + ex.retry_after)
            if ex.backoff is not None:
                ends.append(ex.time + ex.backoff)
            for end in ends:
                announced[key] = max(announced.get(key, 0.0), end)
        for key, end in announced.items():
            self.until[key] = max(self.until.get(key, 0.0), end)


def request_bound(engines: int) -> int:
    """The most requests one sync run may send: two attempts (a 401 retry) of a full setup
    with one fresh start, plus per engine a download, a 412 re-download and batched uploads."""
    setup = 2 + 1 + 2 + 2 + 1 + 2  # token x2, i/c, meta + keys x2, wipe, uploads of both
    per_engine = 3 + 2 * 4  # pages, plus upload batches (begin, records, commit) with a retry
    return 2 * (setup + per_engine * (engines + 1))  # +1: the clients engine


def _meta_too_old(ex: Exchange) -> bool:
    if ex.status != 200 or ex.response_body is None:
        return False
    try:
        bso = json.loads(ex.response_body)
        payload = json.loads(bso["payload"])
        return int(payload.get("storageVersion", STORAGE_VERSION)) < STORAGE_VERSION
    except (ValueError, KeyError, TypeError):
        return False


def _check_fresh_start_justified(run: Sequence[Exchange]) -> None:
    justified: dict[str, bool] = {}
    for ex in run:
        if ex.fault is not None and not ex.is_wipe:  # an answer the device never saw
            continue
        if ex.status == 401:
            justified[ex.node] = False
        elif ex.method == "GET" and ex.resource in ("storage/meta/global", "storage/crypto/keys"):
            justified[ex.node] = ex.status == 404 or _meta_too_old(ex)
        elif ex.is_wipe and ex.status is not None and not justified.get(ex.node, False):
            raise InvariantViolation(
                "fresh_start_justified",
                f"{_where(ex)}: storage wiped without a missing meta/global or crypto/keys "
                "(or an outdated storage version) seen first on that node",
            )


def _uploaded_records(ex: Exchange) -> list[tuple[str, str]]:
    """(id, payload) of every BSO in an upload body; undecodable bodies yield nothing."""
    if ex.body is None:
        return []
    try:
        data = json.loads(ex.body)
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    out = []
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("payload"), str):
            rid = item.get("id") or ex.resource.rsplit("/", 1)[-1]
            out.append((str(rid), item["payload"]))
    return out


def _check_upload_keys(run: Sequence[Exchange]) -> None:
    for ex in run:
        if not ex.is_record_upload or ex.status is None:
            continue
        records = _uploaded_records(ex)
        if not records:
            continue
        if not isinstance(ex.keys, CollectionKeys):
            raise InvariantViolation(
                "upload_keys", f"{_where(ex)}: records uploaded while the server has no keys"
            )
        bundle = ex.keys.bundle_for(ex.collection or "")
        for rid, payload in records:
            try:
                decrypt_record(bundle, payload)
            except RecordIntegrityError:
                raise InvariantViolation(
                    "upload_keys",
                    f"{_where(ex)}: record {rid!r} is not encrypted under the current "
                    f"crypto/keys of collection {ex.collection!r}",
                ) from None


def check_run(
    run: Sequence[Exchange],
    *,
    windows: BackoffWindows,
    rejected: set[str],
    engines: int,
) -> None:
    """Every wire invariant of one sync run (see the module docstring).

    ``rejected`` is the device's set of refused token digests, carried across runs.
    """
    windows.check(run)
    fetches = [ex for ex in run if ex.is_token_fetch]
    refused = sum(ex.status == 401 and ex.fault is None for ex in fetches)
    if len(fetches) > min(2 + refused, 4):
        raise InvariantViolation(
            "token_fetches", f"{_where(fetches[-1])}: {len(fetches)} token fetches in one run"
        )
    wipes = [ex for ex in run if ex.is_wipe]
    if len(wipes) > 1:
        raise InvariantViolation(
            "fresh_starts", f"{_where(wipes[-1])}: {len(wipes)} storage wipes in one run"
        )
    bound = request_bound(engines)
    if len(run) > bound:
        raise InvariantViolation(
            "request_bound", f"{_where(run[-1])}: {len(run)} requests in one run (> {bound})"
        )
    _check_fresh_start_justified(run)
    for ex in run:
        if ex.token is not None and ex.token in rejected and not ex.is_token_fetch:
            raise InvariantViolation(
                "rejected_token", f"{_where(ex)}: a token refused with 401 was presented again"
            )
        seen = ex.fault is None
        if seen and ex.status == 401 and ex.token is not None and not ex.is_token_fetch:
            rejected.add(ex.token)
    _check_upload_keys(run)


RecordSet = Mapping[str, Any]


def check_convergence(
    engine: str,
    server: RecordSet,
    devices: Sequence[RecordSet],
    *,
    expected: Mapping[str, Any],
    uncertain: Iterable[str],
    allowed: Callable[[str, Any], bool],
) -> None:
    """After a quiet period: each device's records equal the decrypted server records, and
    the server holds what the edits since the last quiet period imply.

    ``expected`` maps a record id to the value its only writer left (``None``: deleted);
    ids in ``uncertain`` (several writers, or a wipe in between) may hold any value for which
    ``allowed(id, value)`` is true, or be absent.
    """
    for index, local in enumerate(devices):
        if dict(local) != dict(server):
            missing = sorted(set(server) - set(local))
            extra = sorted(set(local) - set(server))
            differ = sorted(k for k in set(local) & set(server) if local[k] != server[k])
            raise InvariantViolation(
                "convergence",
                f"engine {engine!r}: device {index} differs from the server after a quiet "
                f"period (missing {missing}, extra {extra}, different {differ})",
            )
    unsure = set(uncertain)
    for rid, value in sorted(expected.items()):
        if rid in unsure:
            continue
        got = server.get(rid)
        if value is None and got is not None:
            raise InvariantViolation(
                "no_resurrection", f"engine {engine!r}: record {rid!r} was deleted but is back"
            )
        if value is not None and got != value:
            raise InvariantViolation(
                "no_lost_edit",
                f"engine {engine!r}: record {rid!r} should be {value!r}, the server has {got!r}",
            )
    for rid in sorted(unsure):
        got = server.get(rid)
        if got is not None and not allowed(rid, got):
            raise InvariantViolation(
                "no_invented_value",
                f"engine {engine!r}: record {rid!r} holds {got!r}, which nobody wrote",
            )


@functools.cache
def _structure(chart: str) -> Structure | None:
    try:
        return load_chart(chart).structure
    except BeaconError:
        return None


def configuration_problem(structure: Structure, configuration: Sequence[str]) -> str | None:
    """Why ``configuration`` is not a legal configuration of the chart, or None when it is:
    known states only, every active state's parent active, exactly one active child in each
    active compound state (every child of an active parallel state) and one top-level state."""
    active = set(configuration)
    if not active:
        return "no state is active"
    unknown = sorted(active - set(structure.states))
    if unknown:
        return f"unknown states {unknown}"
    for sid in sorted(active):
        parent = structure.states[sid].parent
        if parent is not None and parent not in active:
            return f"{sid!r} is active but its parent {parent!r} is not"
    tops = [s for s in structure.top if s in active]
    if len(tops) != 1:
        return f"{len(tops)} top-level states active: {tops}"
    for sid in sorted(active):
        info = structure.states[sid]
        children = [c for c in info.children if structure.states[c].kind == "state"]
        if not children:
            continue
        on = [c for c in children if c in active]
        if info.parallel and len(on) != len(children):
            return f"parallel {sid!r} has only {on} of {children} active"
        if not info.parallel and len(on) != 1:
            return f"compound {sid!r} has {len(on)} active children {on}"
    return None


# (chart, configuration) -> configuration_problem(): the answer depends on those alone, and a
# campaign meets the same few configurations at almost every step. Bounded all the same.
_PROBLEMS: dict[tuple[str, tuple[str, ...]], str | None] = {}
_PROBLEMS_MAX = 10_000


def _problem(chart: str, structure: Structure, configuration: Sequence[str]) -> str | None:
    key = (chart, tuple(configuration))
    if key in _PROBLEMS:
        return _PROBLEMS[key]
    problem = configuration_problem(structure, configuration)
    if len(_PROBLEMS) < _PROBLEMS_MAX:
        _PROBLEMS[key] = problem
    return problem


def check_trace(trace: Trace, *, complete: bool) -> None:
    """``chart_configuration``: every configuration in the trace tree is legal, every fired
    transition is declared, and a run that returned ended in a final state of its chart."""
    for run in trace.walk():
        structure = _structure(run.chart)
        if structure is None:
            raise InvariantViolation("chart_configuration", f"trace of unknown chart {run.chart!r}")
        for step in run.steps:
            for tid in step.transitions:
                if tid not in structure.by_id:
                    raise InvariantViolation(
                        "chart_configuration", f"{run.chart}: undeclared transition {tid!r} fired"
                    )
            problem = _problem(run.chart, structure, step.configuration)
            if problem is not None:
                raise InvariantViolation(
                    "chart_configuration", f"{run.chart} after step {step.n}: {problem}"
                )
        if complete:
            final = run.final_state
            if run.status != "final" or final is None or not structure.states[final].final:
                raise InvariantViolation(
                    "chart_configuration",
                    f"{run.chart}: the run returned without reaching a final state "
                    f"(status {run.status}, state {final!r})",
                )
