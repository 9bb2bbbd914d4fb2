"""POST storage/<collection> and batch uploads (docs/protocol.md §3.6), with limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from beacon.server import EmbeddedService, Limits
from tests.server.server_fixtures import Clock, User, counter_rng, make_user


def test_post_reports_success_and_per_item_failures(user: User) -> None:
    response = user.post(
        "/storage/history",
        json=[
            {"id": "ok", "payload": "x"},
            {"id": "bad-sortindex", "sortindex": "2.6"},
            {"id": "bad-ttl", "ttl": "eh?"},
            {"id": "bad-payload", "payload": 5},
            {"id": "bad-field", "what": 1},
            {"id": "x" * 65},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] == ["ok"]
    assert body["modified"] == 1700000000.0
    assert body["failed"] == {
        "bad-sortindex": "invalid bso: sortindex",
        "bad-ttl": "invalid bso: ttl",
        "bad-payload": "invalid bso: payload",
        "bad-field": "unknown field what",
        "x" * 65: "invalid bso: id",
    }
    assert user.get("/storage/history").json() == ["ok"]
    assert response.headers["X-Last-Modified"] == "1700000000.00"


@pytest.mark.parametrize(
    "body",
    [b'{"id": "a"}', b"[1]", b'[{"payload": "no id"}]', b'[{"id": "a"}, {"id": "a"}]'],
)
def test_malformed_post_bodies_are_400_code_8_and_store_nothing(user: User, body: bytes) -> None:
    response = user.post(
        "/storage/history", content=body, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.text) == (400, "8")
    assert user.get("/info/collections").json() == {}


def test_post_accepts_newline_separated_records(user: User) -> None:
    response = user.post(
        "/storage/history",
        content=b'{"id": "a", "payload": "1"}\n{"id": "b"}\n',
        headers={"Content-Type": "application/newlines"},
    )
    assert response.json()["success"] == ["a", "b"]


def test_a_batch_is_invisible_until_commit_and_shares_one_timestamp(
    user: User, clock: Clock
) -> None:
    user.put("/storage/history/old", json={"payload": "o"})
    clock.advance(1)
    first = user.post("/storage/history?batch=true", json=[{"id": "a", "payload": "1"}])
    assert first.status_code == 202
    assert first.headers["X-Last-Modified"] == "1700000000.00"
    batch = first.json()["batch"]
    assert first.json()["success"] == ["a"]
    assert "modified" not in first.json()
    assert user.get("/storage/history").json() == ["old"]
    clock.advance(1)
    second = user.post(f"/storage/history?batch={batch}", json=[{"id": "b", "payload": "2"}])
    assert second.status_code == 202
    clock.advance(1)
    done = user.post(
        f"/storage/history?batch={batch}&commit=true", json=[{"id": "c", "payload": "3"}]
    )
    assert done.status_code == 200
    assert done.json()["modified"] == 1700000003.0
    assert "batch" not in done.json()
    records = user.get("/storage/history?full=1&sort=oldest").json()
    assert {r["id"]: r["modified"] for r in records} == {
        "old": 1700000000.0,
        "a": 1700000003.0,
        "b": 1700000003.0,
        "c": 1700000003.0,
    }
    # A committed batch cannot be resurrected.
    again = user.post(f"/storage/history?batch={batch}&commit=true", json=[])
    assert again.status_code == 400


def test_commit_items_override_earlier_batch_items_and_keep_other_fields(user: User) -> None:
    batch = user.post(
        "/storage/history?batch=true", json=[{"id": "a", "payload": "1", "sortindex": 9}]
    ).json()["batch"]
    user.post(f"/storage/history?batch={batch}&commit=true", json=[{"id": "a", "payload": "2"}])
    assert user.get("/storage/history/a").json() == {
        "id": "a",
        "modified": 1700000000.0,
        "payload": "2",
        "sortindex": 9,
    }


def test_batch_ttls_count_from_the_commit(user: User, clock: Clock) -> None:
    batch = user.post(
        "/storage/history?batch=true", json=[{"id": "a", "payload": "1", "ttl": 10}]
    ).json()["batch"]
    clock.advance(8)
    user.post(f"/storage/history?batch={batch}&commit=true", json=[])
    clock.advance(8)
    assert user.get("/storage/history/a").status_code == 200


def test_batch_true_with_commit_is_a_plain_post(user: User) -> None:
    response = user.post("/storage/history?batch=true&commit=true", json=[{"id": "a"}])
    assert response.status_code == 200
    assert "batch" not in response.json()
    assert user.get("/storage/history").json() == ["a"]


@pytest.mark.parametrize(
    "query", ["commit=true", "batch=12345", "batch=nonsense", "batch=true&commit=yes"]
)
def test_bad_batch_parameters_are_400(user: User, query: str) -> None:
    response = user.post(f"/storage/history?{query}", json=[{"id": "a"}])
    assert response.status_code == 400
    assert user.get("/storage/history").json() == []


def test_batch_ids_are_scoped_to_user_and_collection(
    user: User, svc: EmbeddedService, clock: Clock
) -> None:
    batch = user.post("/storage/history?batch=true", json=[{"id": "a"}]).json()["batch"]
    assert user.post(f"/storage/tabs?batch={batch}", json=[]).status_code == 400
    bob = make_user(svc, clock, "bob")
    assert bob.post(f"/storage/history?batch={batch}", json=[]).status_code == 400


def test_batches_expire_after_two_hours(user: User, clock: Clock) -> None:
    batch = user.post("/storage/history?batch=true", json=[{"id": "a"}]).json()["batch"]
    clock.advance(2 * 3600)
    user.fetch_token()
    assert user.post(f"/storage/history?batch={batch}&commit=true", json=[]).status_code == 400


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"[]", "application/json", 200),
        (b"{}", "application/json", 400),
        (b"", "application/json", 400),
        (b"", "application/newlines", 200),
        (b"\n", "application/newlines", 400),
        (b"{}", "application/newlines", 400),
        (b"[]", "application/newlines", 400),
    ],
)
def test_empty_commit_bodies(user: User, body: bytes, content_type: str, status: int) -> None:
    batch = user.post("/storage/history?batch=true", json=[{"id": "a"}]).json()["batch"]
    response = user.post(
        f"/storage/history?batch={batch}&commit=true",
        content=body,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == status


# -- limits -----------------------------------------------------------------------------------

SMALL = Limits(
    max_request_bytes=2000,
    max_post_records=3,
    max_post_bytes=100,
    max_total_records=5,
    max_total_bytes=150,
    max_record_payload_bytes=60,
)


@pytest.fixture
def small(clock: Clock) -> Iterator[User]:
    service = EmbeddedService(clock=clock, limits=SMALL, quota_bytes=400, rng=counter_rng())
    yield make_user(service, clock)
    service.close()


def test_info_configuration_reports_configured_limits(small: User) -> None:
    assert small.get("/info/configuration").json()["max_post_records"] == 3


def test_records_beyond_max_post_records_fail_with_retry_bso(small: User) -> None:
    body = small.post("/storage/h", json=[{"id": f"r{i}"} for i in range(5)]).json()
    assert body["success"] == ["r0", "r1", "r2"]
    assert body["failed"] == {"r3": "retry bso", "r4": "retry bso"}


def test_payloads_beyond_the_byte_limits_fail_with_retry_bytes(small: User) -> None:
    items = [
        {"id": "big", "payload": "x" * 61},
        {"id": "a", "payload": "x" * 50},
        {"id": "c", "payload": "x" * 51},
    ]
    body = small.post("/storage/h", json=items).json()
    assert body["success"] == ["a"]
    assert body["failed"] == {"big": "retry bytes", "c": "retry bytes"}


def test_batch_totals_are_enforced_across_requests(small: User) -> None:
    batch = small.post("/storage/h?batch=true", json=[{"id": f"r{i}"} for i in range(3)]).json()
    body = small.post(
        f"/storage/h?batch={batch['batch']}", json=[{"id": f"s{i}"} for i in range(3)]
    ).json()
    assert body["success"] == ["s0", "s1"]
    assert body["failed"] == {"s2": "retry bso"}


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        ("X-Weave-Records", "4", "17"),
        ("X-Weave-Bytes", "101", "17"),
        ("X-Weave-Total-Records", "6", "17"),
        ("X-Weave-Total-Bytes", "151", "17"),
        ("X-Weave-Total-Bytes", "lots", "1"),
    ],
)
def test_declared_sizes_over_the_limits_are_400(
    small: User, header: str, value: str, code: str
) -> None:
    response = small.post("/storage/h?batch=true", json=[{"id": "a"}], headers={header: value})
    assert (response.status_code, response.text) == (400, code)


def test_declared_sizes_at_the_limit_pass(small: User) -> None:
    response = small.post(
        "/storage/h?batch=true", json=[{"id": "a"}], headers={"X-Weave-Total-Bytes": "150"}
    )
    assert response.status_code == 202


def test_a_body_over_max_request_bytes_is_413(small: User) -> None:
    response = small.post("/storage/h", json=[{"id": "a", "payload": "x" * 3000}])
    assert response.status_code == 413
    assert small.get("/info/collections").json() == {}


def test_an_oversize_single_put_payload_is_400_code_8(small: User) -> None:
    response = small.put("/storage/h/a", json={"payload": "x" * 61})
    assert (response.status_code, response.text) == (400, "8")


def test_quota_is_reported_and_enforced(small: User) -> None:
    for i in range(7):
        response = small.put(f"/storage/h/r{i}", json={"payload": "x" * 50})
        assert response.status_code == 200
    assert response.headers["X-Weave-Quota-Remaining"] == "0.05"
    assert small.get("/info/quota").json() == [350 / 1024, 400 / 1024]
    over = small.put("/storage/h/r9", json={"payload": "x" * 51})
    assert (over.status_code, over.text) == (403, "14")


def test_a_conflicting_concurrent_write_is_503_with_retry_after(
    user: User, svc: EmbeddedService
) -> None:
    core = svc._core
    with core.write_locks.try_hold(user.token["uid"]) as held:
        assert held
        response = user.put("/storage/history/a", json={"payload": "x"})
        reads = user.get("/storage/history")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert reads.status_code == 200
    assert user.put("/storage/history/a", json={"payload": "x"}).status_code == 200
