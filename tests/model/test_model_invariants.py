"""The campaign's oracles on hand-made wire logs: each invariant catches its violation."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from beacon._crypto import CollectionKeys, encrypt_record
from beacon.charts import load_chart
from beacon.charts._trace import Step as TraceStep
from beacon.charts._trace import Trace
from beacon.testing._invariants import (
    BackoffWindows,
    InvariantViolation,
    check_convergence,
    check_run,
    check_trace,
    configuration_problem,
    request_bound,
)
from beacon.testing._recorder import Exchange

NODE1 = "http://beacon.invalid/node1/1.5/42"
NODE2 = "http://beacon.invalid/node2/1.5/77"
TOKEN = "http://beacon.invalid/1.0/sync/1.5"


def ex(
    url: str,
    *,
    method: str = "GET",
    status: int | None = 200,
    time: float = 0.0,
    run: int = 1,
    token: str | None = "t1",
    retry_after: float | None = None,
    backoff: float | None = None,
    body: bytes | None = None,
    keys: object = None,
    response_body: bytes | None = None,
) -> Exchange:
    return Exchange(
        device=0,
        run=run,
        time=time,
        method=method,
        url=url,
        status=status,
        token=token,
        retry_after=retry_after,
        backoff=backoff,
        body=body,
        keys=keys,
        response_body=response_body,
    )


def check(run: Sequence[Exchange], windows: BackoffWindows | None = None) -> None:
    check_run(run, windows=windows or BackoffWindows(), rejected=set(), engines=2)


def invariant_of(run: Sequence[Exchange], windows: BackoffWindows | None = None) -> str:
    with pytest.raises(InvariantViolation) as info:
        check(run, windows)
    return info.value.invariant


def test_exchange_classifies_urls() -> None:
    fetch = ex(TOKEN)
    assert fetch.is_token_fetch
    assert fetch.node.endswith("/token")
    upload = ex(NODE1 + "/storage/bookmarks", method="POST")
    assert upload.resource == "storage/bookmarks"
    assert upload.collection == "bookmarks"
    assert upload.is_record_upload
    assert not ex(NODE1 + "/storage/meta/global", method="PUT").is_record_upload
    assert ex(NODE1 + "/storage", method="DELETE").is_wipe
    assert ex(NODE1, method="DELETE").is_wipe
    assert not ex(NODE1 + "/storage/bookmarks", method="DELETE").is_wipe
    assert ex(NODE1 + "/info/collections").node != ex(NODE2 + "/info/collections").node


def test_a_clean_run_passes() -> None:
    check(
        [
            ex(TOKEN, token=None),
            ex(NODE1 + "/info/collections"),
            ex(NODE1 + "/storage/meta/global"),
            ex(NODE1 + "/storage/crypto/keys"),
        ]
    )


def test_retry_after_closes_the_server_for_the_rest_of_the_run_and_later_runs() -> None:
    windows = BackoffWindows()
    first = [ex(NODE1 + "/info/collections", status=503, retry_after=60, time=10)]
    check(first, windows)
    assert invariant_of([ex(NODE1 + "/info/collections", time=40, run=2)], windows) == "backoff"
    check([ex(NODE2 + "/info/collections", time=40, run=2)], windows)  # another node
    check([ex(NODE1 + "/info/collections", time=71, run=3)], windows)
    same_run = [
        ex(NODE1 + "/storage/meta/global", status=503, retry_after=5, time=100),
        ex(NODE1 + "/storage/crypto/keys", time=101),
    ]
    assert invariant_of(same_run) == "backoff"


def test_backoff_headers_allow_the_run_to_finish_but_not_the_next() -> None:
    windows = BackoffWindows()
    check(
        [
            ex(NODE1 + "/info/collections", backoff=120, time=0),
            ex(NODE1 + "/storage/bookmarks", time=1),
        ],
        windows,
    )
    assert invariant_of([ex(NODE1 + "/info/collections", time=60, run=2)], windows) == "backoff"
    assert windows.latest() == 120


def test_at_most_two_token_fetches_and_one_wipe_per_run() -> None:
    assert invariant_of([ex(TOKEN, token=None) for _ in range(3)]) == "token_fetches"
    meta_404 = ex(NODE1 + "/storage/meta/global", status=404)
    wipe = ex(NODE1 + "/storage", method="DELETE")
    assert invariant_of([meta_404, wipe, meta_404, wipe]) == "fresh_starts"


def test_request_count_is_bounded() -> None:
    bound = request_bound(2)
    check([ex(NODE1 + "/info/collections") for _ in range(bound)])
    assert invariant_of([ex(NODE1 + "/info/collections")] * (bound + 1)) == "request_bound"


def test_a_wipe_needs_a_missing_record_or_an_old_version_without_a_401_since() -> None:
    wipe = ex(NODE1 + "/storage", method="DELETE")
    assert invariant_of([ex(NODE1 + "/info/collections", status=401), wipe]) == (
        "fresh_start_justified"
    )
    check([ex(NODE1 + "/storage/crypto/keys", status=404), wipe])
    old = json.dumps({"id": "global", "payload": json.dumps({"storageVersion": 4})}).encode()
    check([ex(NODE1 + "/storage/meta/global", response_body=old), wipe])
    late_401 = [
        ex(NODE1 + "/storage/meta/global", status=404),
        ex(NODE1 + "/storage/crypto/keys", status=401),
        wipe,
    ]
    assert invariant_of(late_401) == "fresh_start_justified"
    other_node = [ex(NODE2 + "/storage/meta/global", status=404), wipe]
    assert invariant_of(other_node) == "fresh_start_justified"


def test_a_token_refused_with_401_is_never_presented_again() -> None:
    rejected: set[str] = set()
    run = [ex(NODE1 + "/storage/meta/global", status=401, token="old")]
    check_run(run, windows=BackoffWindows(), rejected=rejected, engines=2)
    assert rejected == {"old"}
    with pytest.raises(InvariantViolation, match="presented again"):
        check_run(
            [ex(NODE1 + "/info/collections", token="old", run=2)],
            windows=BackoffWindows(),
            rejected=rejected,
            engines=2,
        )
    check_run(
        [ex(NODE1 + "/info/collections", token="new", run=2)],
        windows=BackoffWindows(),
        rejected=rejected,
        engines=2,
    )


def _upload(keys: CollectionKeys, *, under: CollectionKeys | None) -> Exchange:
    payload = encrypt_record(keys.bundle_for("bookmarks"), {"id": "r0", "value": "v"})
    body = json.dumps([{"id": "r0", "payload": payload}]).encode()
    return ex(NODE1 + "/storage/bookmarks", method="POST", body=body, keys=under)


def test_uploads_must_verify_under_the_servers_current_keys() -> None:
    current = CollectionKeys.generate()
    stale = CollectionKeys.generate()
    check([_upload(current, under=current)])
    assert invariant_of([_upload(stale, under=current)]) == "upload_keys"
    assert invariant_of([_upload(current, under=None)]) == "upload_keys"
    per_engine = CollectionKeys(current.default, {"bookmarks": stale.default})
    assert invariant_of([_upload(current, under=per_engine)]) == "upload_keys"


def test_configuration_legality() -> None:
    session = load_chart("session").structure
    assert configuration_problem(session, ["assigned", "initial_assigned"]) is None
    assert configuration_problem(session, ["married"]) is None
    assert "parent" in (configuration_problem(session, ["initial_assigned"]) or "")
    assert "children" in (
        configuration_problem(session, ["assigned", "initial_assigned", "ready"]) or ""
    )
    assert "top-level" in (configuration_problem(session, ["married", "synced"]) or "")
    assert "unknown" in (configuration_problem(session, ["nowhere"]) or "")
    assert configuration_problem(session, []) == "no state is active"


def test_traces_must_stay_legal_and_complete_runs_must_end_final() -> None:
    good = Trace(
        chart="token",
        steps=[
            TraceStep(n=0, time=0.0, event=None, entered=["no_token"], configuration=["no_token"]),
            TraceStep(
                n=1, time=0.0, event="fresh", transitions=["no_token#0"], configuration=["ok"]
            ),
        ],
        status="final",
        final_state="ok",
    )
    check_trace(good, complete=True)
    unfinished = Trace(chart="token", steps=good.steps[:1], status="error")
    check_trace(unfinished, complete=False)
    with pytest.raises(InvariantViolation, match="final state"):
        check_trace(unfinished, complete=True)
    forged = Trace(
        chart="token",
        steps=[
            TraceStep(n=0, time=0.0, event="x", transitions=["nowhere#9"], configuration=["ok"])
        ],
    )
    with pytest.raises(InvariantViolation, match="undeclared"):
        check_trace(forged, complete=False)


def test_convergence_oracle() -> None:
    def allowed(rid: str, value: object) -> bool:
        return value in {"a", "b"}

    server = {"r0": "a", "r1": "b"}
    check_convergence(
        "e",
        server,
        [dict(server), dict(server)],
        expected={"r0": "a"},
        uncertain=(),
        allowed=allowed,
    )
    with pytest.raises(InvariantViolation, match="missing \\['r1'\\]") as info:
        check_convergence("e", server, [{"r0": "a"}], expected={}, uncertain=(), allowed=allowed)
    assert info.value.invariant == "convergence"
    with pytest.raises(InvariantViolation) as info:
        check_convergence(
            "e", server, [server], expected={"r2": "c"}, uncertain=(), allowed=allowed
        )
    assert info.value.invariant == "no_lost_edit"
    with pytest.raises(InvariantViolation) as info:
        check_convergence(
            "e", server, [server], expected={"r0": None}, uncertain=(), allowed=allowed
        )
    assert info.value.invariant == "no_resurrection"
    check_convergence(
        "e", server, [server], expected={"r0": None}, uncertain=("r0",), allowed=allowed
    )
    with pytest.raises(InvariantViolation) as info:
        check_convergence(
            "e", {"r0": "z"}, [{"r0": "z"}], expected={}, uncertain=("r0",), allowed=allowed
        )
    assert info.value.invariant == "no_invented_value"


def test_answers_the_device_never_saw_do_not_count() -> None:
    lost_401 = ex(NODE1 + "/info/collections", status=401, token="old")
    lost_401.fault = "lost_response"
    rejected: set[str] = set()
    check_run([lost_401], windows=BackoffWindows(), rejected=rejected, engines=2)
    assert rejected == set()
    lost_backoff = ex(NODE1 + "/info/collections", backoff=300, time=0)
    lost_backoff.fault = "lost_response"
    windows = BackoffWindows()
    check([lost_backoff], windows)
    check([ex(NODE1 + "/info/collections", time=10, run=2)], windows)
    lost_404 = ex(NODE1 + "/storage/meta/global", status=404)
    lost_404.fault = "read"
    assert invariant_of([lost_404, ex(NODE1 + "/storage", method="DELETE")]) == (
        "fresh_start_justified"
    )
