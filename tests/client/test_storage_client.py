"""The storage client (docs/protocol.md §3): status mapping, paging, batches, every endpoint.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from beacon._crypto import key_id
from beacon._errors import (
    AuthenticationError,
    BackoffError,
    ConflictError,
    ProtocolViolation,
    ServerError,
    ServiceEndOfLife,
    UsageError,
)
from beacon._models import Bso, InfoConfiguration
from beacon.client._batch import plan_batches
from beacon.client._storage import StorageClient
from beacon.client._tokenclient import Token, TokenClient
from beacon.client._transport import Transport
from beacon.server import EmbeddedService, Limits

NOW = 1_700_000_000.0
TOKEN = Token("hawk-id", "hawk-key", 7, "https://node.test/1.5/7", 3600, "h" * 32, NOW)
TS = {"X-Weave-Timestamp": "1700000000.00"}


class Script:
    """A MockTransport handler that answers from a list and records the requests."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)


def reply(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body)
    return httpx.Response(status, content=content, headers={**TS, **(headers or {})})


def storage(
    script: Script,
    sink: Callable[[float], None] | None = None,
    limits: InfoConfiguration | None = None,
) -> StorageClient:
    transport = Transport(transport=httpx.MockTransport(script), clock=lambda: NOW)
    return StorageClient(transport, TOKEN, on_backoff=sink, limits=limits)


# -- status mapping (§3.10) ---------------------------------------------------------------------


def test_requests_are_hawk_signed_against_the_endpoint() -> None:
    script = Script(reply(body={"tabs": 1.5}, headers={"X-Last-Modified": "1.50"}))
    result = storage(script).info_collections()
    assert result is not None
    assert result.collections == {"tabs": 1.5}
    assert result.last_modified == 1.5
    request = script.requests[0]
    assert str(request.url) == "https://node.test/1.5/7/info/collections"
    assert request.headers["Authorization"].startswith('Hawk id="hawk-id"')


def test_401_is_an_authentication_error_even_without_weave_headers() -> None:
    script = Script(httpx.Response(401, content=b"0"))
    with pytest.raises(AuthenticationError) as info:
        storage(script).get_record("meta", "global")
    assert info.value.status == 401
    assert "hawk-key" not in str(info.value)


@pytest.mark.parametrize("status", [409, 412])
def test_409_and_412_are_conflicts(status: int) -> None:
    with pytest.raises(ConflictError) as info:
        storage(Script(reply(status, 0))).put_record("meta", "global", "{}")
    assert info.value.status == status


@pytest.mark.parametrize("status", [503, 429])
def test_503_and_429_back_off_and_report_to_the_sink(status: int) -> None:
    seen: list[float] = []
    script = Script(httpx.Response(status, headers={"Retry-After": "120"}))
    with pytest.raises(BackoffError) as info:
        storage(script, seen.append).info_collections()
    assert info.value.until == NOW + 120
    assert seen == [NOW + 120]


def test_backoff_on_a_success_goes_to_the_sink() -> None:
    seen: list[float] = []
    script = Script(reply(body={}, headers={"X-Last-Modified": "0.00", "X-Weave-Backoff": "600"}))
    assert storage(script, seen.append).info_collections() is not None
    assert seen == [NOW + 600]


@pytest.mark.parametrize("status", [400, 403, 500])
def test_other_statuses_are_server_errors(status: int) -> None:
    with pytest.raises(ServerError) as info:
        storage(Script(reply(status, 8))).info_collections()
    assert type(info.value) is ServerError
    assert info.value.status == status
    assert info.value.body == "8"


def test_a_response_without_weave_timestamp_is_a_protocol_violation() -> None:
    script = Script(httpx.Response(200, json={}, headers={"X-Last-Modified": "1.00"}))
    with pytest.raises(ProtocolViolation, match="X-Weave-Timestamp"):
        storage(script).info_collections()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{bad", {"X-Last-Modified": "1.00"}),
        ({"tabs": "yesterday"}, {"X-Last-Modified": "1.00"}),
        ({"tabs": 1.0}, {}),
        ({"tabs": 1.0}, {"X-Last-Modified": "soon"}),
    ],
)
def test_bad_bodies_and_headers_are_protocol_violations(body: Any, headers: dict[str, str]) -> None:
    with pytest.raises(ProtocolViolation):
        storage(Script(reply(body=body, headers=headers))).info_collections()


def test_info_collections_304_is_none_and_sends_the_condition() -> None:
    script = Script(reply(304, headers={"X-Last-Modified": "12.30"}))
    assert storage(script).info_collections(if_modified_since=12.3) is None
    assert script.requests[0].headers["X-If-Modified-Since"] == "12.30"


def test_get_record_404_is_none_and_ids_are_quoted() -> None:
    script = Script(reply(404, 0))
    assert storage(script).get_record("bookmarks", "a/b c") is None
    assert script.requests[0].url.raw_path == b"/1.5/7/storage/bookmarks/a%2Fb%20c"


@pytest.mark.parametrize(
    "body",
    [
        {"id": "other", "payload": "x", "modified": 1.0},
        {"id": "keys", "payload": "x"},
        {"id": "keys", "payload": 5, "modified": 1.0},
    ],
)
def test_get_record_refuses_a_bad_record(body: dict[str, Any]) -> None:
    with pytest.raises(ProtocolViolation):
        storage(Script(reply(body=body, headers={"X-Last-Modified": "1.00"}))).get_record(
            "crypto", "keys"
        )


def test_put_record_sends_the_condition_and_returns_the_new_timestamp() -> None:
    script = Script(reply(body=5.5, headers={"X-Last-Modified": "5.50"}))
    modified = storage(script).put_record("meta", "global", "{}", ttl=60, if_unmodified_since=0.0)
    assert modified == 5.5
    request = script.requests[0]
    assert request.method == "PUT"
    assert request.headers["X-If-Unmodified-Since"] == "0.00"
    assert json.loads(request.content) == {"id": "global", "payload": "{}", "ttl": 60}


@pytest.mark.parametrize(
    ("collection", "bso_id"), [("no/slash", "x"), ("", "x"), ("tabs", ""), ("tabs", "é")]
)
def test_bad_names_are_usage_errors_before_any_request(collection: str, bso_id: str) -> None:
    script = Script()
    with pytest.raises(UsageError):
        storage(script).get_record(collection, bso_id)
    assert script.requests == []


def test_collection_query_parameters() -> None:
    script = Script(
        reply(
            body=["a", "b"],
            headers={"X-Last-Modified": "9.00", "X-Weave-Next-Offset": "10:4"},
        )
    )
    page = storage(script).get_collection(
        "history",
        ids=["a", "b"],
        newer=1.5,
        older=9.0,
        full=False,
        limit=2,
        offset="10:2",
        sort="index",
        if_unmodified_since=9.0,
    )
    assert page.ids == ("a", "b")
    assert page.records == ()
    assert page.next_offset == "10:4"
    assert page.last_modified == 9.0
    request = script.requests[0]
    assert dict(request.url.params) == {
        "ids": "a,b",
        "newer": "1.50",
        "older": "9.00",
        "limit": "2",
        "offset": "10:2",
        "sort": "index",
    }
    assert request.headers["X-If-Unmodified-Since"] == "9.00"


def test_too_many_ids_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        storage(Script()).get_collection("tabs", ids=[f"id{i}" for i in range(101)])


# -- batch planning (§3.6, §3.7) ----------------------------------------------------------------


def bsos(count: int, size: int = 10, prefix: str = "r") -> list[Bso]:
    return [Bso(id=f"{prefix}{i:04d}", payload="x" * size) for i in range(count)]


def test_plan_respects_post_and_total_limits() -> None:
    limits = InfoConfiguration(
        max_post_records=3, max_post_bytes=1000, max_total_records=7, max_total_bytes=10**6
    )
    plan = plan_batches(bsos(16), limits)
    shape = [[len(post.ids) for post in batch] for batch in plan.batches]
    assert shape == [[3, 3, 1], [3, 3, 1], [2]]
    assert not plan.rejected


def test_plan_respects_byte_limits() -> None:
    limits = InfoConfiguration(
        max_post_bytes=25, max_total_bytes=50, max_record_payload_bytes=20, max_request_bytes=4096
    )
    plan = plan_batches([*bsos(5, size=10), Bso(id="big", payload="y" * 21)], limits)
    assert plan.rejected == {"big": "too large"}
    for batch in plan.batches:
        assert sum(post.payload_bytes for post in batch) <= 50
        for post in batch:
            assert post.payload_bytes <= 25
    assert [len(p.ids) for b in plan.batches for p in b] == [2, 2, 1]


def test_plan_respects_the_request_size() -> None:
    limits = InfoConfiguration(max_request_bytes=120)
    plan = plan_batches(bsos(6, size=20), limits)
    for batch in plan.batches:
        for post in batch:
            assert len(post.body) <= 120
            assert [b["id"] for b in json.loads(post.body)] == list(post.ids)
    assert sum(len(p.ids) for b in plan.batches for p in b) == 6


def test_plan_keeps_the_last_of_duplicate_ids() -> None:
    plan = plan_batches([Bso(id="a", payload="1"), Bso(id="a", payload="2")], InfoConfiguration())
    (batch,) = plan.batches
    assert json.loads(batch[0].body) == [{"id": "a", "payload": "2"}]


def test_a_batch_is_started_appended_and_committed() -> None:
    limits = InfoConfiguration(max_post_records=2)
    script = Script(
        reply(202, {"batch": "B1", "success": ["r0000", "r0001"], "failed": {}}),
        reply(202, {"batch": "B1", "success": ["r0002"], "failed": {"r0003": "invalid"}}),
        reply(
            200,
            {"modified": 50.0, "success": ["r0004"], "failed": {}},
            {"X-Last-Modified": "50.00"},
        ),
    )
    result = storage(script, limits=limits).post_records("tabs", bsos(5), if_unmodified_since=40.0)
    assert [dict(r.url.params) for r in script.requests] == [
        {"batch": "true"},
        {"batch": "B1"},
        {"batch": "B1", "commit": "true"},
    ]
    assert all(r.headers["X-If-Unmodified-Since"] == "40.00" for r in script.requests)
    assert result.success == ("r0000", "r0001", "r0002", "r0004")
    assert result.failed == {"r0003": "invalid"}
    assert result.modified == 50.0
    assert result.posts == 3
    assert result.batches == 1


def test_a_server_without_batches_gets_plain_posts_on_its_new_timestamps() -> None:
    limits = InfoConfiguration(max_post_records=2)
    script = Script(
        reply(200, {"modified": 41.0, "success": ["r0000", "r0001"]}, {"X-Last-Modified": "41"}),
        reply(200, {"modified": 42.0, "success": ["r0002"]}, {"X-Last-Modified": "42.00"}),
    )
    result = storage(script, limits=limits).post_records("tabs", bsos(3), if_unmodified_since=40)
    assert [dict(r.url.params) for r in script.requests] == [{"batch": "true"}, {}]
    assert [r.headers["X-If-Unmodified-Since"] for r in script.requests] == ["40.00", "41.00"]
    assert result.success == ("r0000", "r0001", "r0002")
    assert result.modified == 42.0


def test_unacknowledged_records_are_failed() -> None:
    script = Script(reply(200, {"modified": 1.0, "success": ["r0000"]}, {"X-Last-Modified": "1"}))
    result = storage(script, limits=InfoConfiguration()).post_records("tabs", bsos(2))
    assert result.success == ("r0000",)
    assert result.failed == {"r0001": "not acknowledged"}


def test_a_412_on_upload_is_a_conflict() -> None:
    script = Script(reply(412, 0))
    with pytest.raises(ConflictError):
        storage(script, limits=InfoConfiguration()).post_records(
            "tabs", bsos(1), if_unmodified_since=1.0
        )


@pytest.mark.parametrize(
    "answer",
    [
        reply(200, ["not", "an", "object"], {"X-Last-Modified": "1"}),
        reply(200, {"success": "r0000"}, {"X-Last-Modified": "1"}),
        reply(202, {"success": ["r0000"]}),
        reply(200, {"success": ["r0000"]}),
    ],
)
def test_malformed_post_results_are_protocol_violations(answer: httpx.Response) -> None:
    with pytest.raises(ProtocolViolation):
        storage(Script(answer), limits=InfoConfiguration()).post_records("tabs", bsos(1))


def test_bad_upload_records_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        storage(Script(), limits=InfoConfiguration()).post_records("tabs", [{"payload": "x"}])


# -- against the embedded service ---------------------------------------------------------------


class World:
    def __init__(self, svc: EmbeddedService) -> None:
        self.svc = svc
        self.account = svc.create_account()
        self.http = Transport(transport=svc.transport())
        self.backoffs: list[float] = []
        token = TokenClient(self.http, svc.token_server_url).fetch(
            self.account.access_token, key_id=key_id(bytes(32), self.account.keys_changed_at)
        )
        self.storage = StorageClient(self.http, token, on_backoff=self.backoffs.append)


@pytest.fixture
def world() -> Iterator[World]:
    limits = Limits(max_post_records=50, max_total_records=120)
    with EmbeddedService(limits=limits) as svc:
        yield World(svc)


def test_records_round_trip_on_the_embedded_service(world: World) -> None:
    s = world.storage
    assert s.info_collections() == ({}, 0.0)
    modified = s.put_record("meta", "global", '{"a":1}', if_unmodified_since=0)
    with pytest.raises(ConflictError):
        s.put_record("meta", "global", "{}", if_unmodified_since=0)
    record = s.get_record("meta", "global")
    assert record is not None
    assert record.payload == '{"a":1}'
    assert record.modified == modified
    info = s.info_collections()
    assert info is not None
    assert info.collections == {"meta": modified}
    assert s.info_collections(if_modified_since=info.last_modified) is None
    assert s.collection_counts() == {"meta": 1}
    assert set(s.collection_usage()) == {"meta"}
    used, _quota = s.info_quota()
    assert used > 0
    assert s.delete_record("meta", "global") is not None
    assert s.delete_record("meta", "global") is None
    assert s.get_record("meta", "global") is None


def test_batched_upload_within_the_server_limits(world: World) -> None:
    s = world.storage
    limits = s.info_configuration()
    assert limits.max_post_records == 50
    assert limits.max_total_records == 120
    before = world.http.request_count
    result = s.post_records("tabs", bsos(300, size=100), if_unmodified_since=0.0)
    assert len(result.success) == 300
    assert not result.failed
    # 120 per batch (50 + 50 + 20), then 60 (50 + 10): 8 POSTs, 3 commits.
    assert result.posts == 8
    assert result.batches == 3
    assert world.http.request_count - before == 8
    assert len(world.svc.faults.records(world.account.fxa_uid, "tabs")) == 300
    info = s.info_collections()
    assert info is not None
    assert info.collections["tabs"] == result.modified
    with pytest.raises(ConflictError):  # an old condition is refused (§3.8)
        s.post_records("tabs", bsos(1), if_unmodified_since=result.modified - 1)


def test_streamed_download_is_lazy_and_page_bounded(world: World) -> None:
    s = world.storage
    total = 3000
    s.post_records("history", bsos(total, size=20), if_unmodified_since=0.0)
    stream = s.stream_collection("history", page_size=250)
    assert stream.pages_fetched == 0
    assert stream.last_modified is None
    before = world.http.request_count
    records = iter(stream)
    assert world.http.request_count == before  # nothing sent until iterated
    ids = [next(records).id]
    assert stream.pages_fetched == 1
    assert world.http.request_count == before + 1
    ids.extend(next(records).id for _ in range(249))
    assert stream.pages_fetched == 1  # a page is fully consumed before the next is fetched
    ids.append(next(records).id)
    assert stream.pages_fetched == 2
    ids.extend(r.id for r in records)
    assert stream.pages_fetched == total // 250
    assert sorted(ids) == [f"r{i:04d}" for i in range(total)]
    assert world.http.request_count == before + total // 250


def test_a_write_between_pages_breaks_the_snapshot(world: World) -> None:
    s = world.storage
    s.post_records("history", bsos(30), if_unmodified_since=0.0)
    pages = s.stream_collection("history", page_size=10).pages()
    next(pages)
    world.svc.faults.put_record(world.account.fxa_uid, "history", "intruder", "x")
    with pytest.raises(ConflictError):
        next(pages)


def test_newer_and_sort_select_records(world: World) -> None:
    s = world.storage
    first = s.post_records("forms", bsos(3, prefix="a"), if_unmodified_since=0.0)
    s.post_records("forms", bsos(2, prefix="b"))
    page = s.get_collection("forms", newer=first.modified, sort="newest")
    assert sorted(r.id for r in page.records) == ["b0000", "b0001"]
    assert page.next_offset is None
    ids = s.get_collection("forms", full=False, sort="oldest").ids
    assert sorted(ids) == ["a0000", "a0001", "a0002", "b0000", "b0001"]


def test_deletes_and_wipes(world: World) -> None:
    s = world.storage
    s.post_records("prefs", bsos(3), if_unmodified_since=0.0)
    s.put_record("meta", "global", "{}")
    assert s.delete_collection("prefs", ids=["r0000"]) is not None
    assert sorted(s.get_collection("prefs", full=False).ids) == ["r0001", "r0002"]
    s.delete_collection("prefs")
    info = s.info_collections()
    assert info is not None
    assert set(info.collections) == {"meta"}
    s.delete_all()
    info = s.info_collections()
    assert info is not None
    assert info.collections == {}


def test_embedded_faults_map_to_errors(world: World) -> None:
    s, faults, uid = world.storage, world.svc.faults, world.account.fxa_uid
    faults.backoff_next(seconds=300)
    s.info_collections()
    assert len(world.backoffs) == 1
    faults.fail_next(status=503, retry_after=20)
    with pytest.raises(BackoffError):
        s.get_collection("tabs")
    assert len(world.backoffs) == 2
    faults.revoke_tokens(uid)
    with pytest.raises(AuthenticationError):
        s.info_collections()


def test_info_configuration_404_means_defaults_and_is_kept_for_uploads() -> None:
    script = Script(
        reply(404, 0),
        reply(200, {"modified": 2.0, "success": ["r0000"]}, {"X-Last-Modified": "2.00"}),
    )
    client = storage(script)
    assert client.info_configuration() == InfoConfiguration()
    client.post_records("tabs", bsos(1))
    assert [r.url.path for r in script.requests] == [
        "/1.5/7/info/configuration",
        "/1.5/7/storage/tabs",
    ]


def test_uploads_fetch_info_configuration_once() -> None:
    ok = {"modified": 2.0, "success": ["r0000"]}
    script = Script(
        reply(200, {"max_post_records": 5}, {"X-Last-Modified": "0.00"}),
        reply(200, ok, {"X-Last-Modified": "2.00"}),
        reply(200, ok, {"X-Last-Modified": "3.00"}),
    )
    client = storage(script)
    client.post_records("tabs", bsos(1))
    client.post_records("tabs", bsos(1))
    assert [r.url.path for r in script.requests].count("/1.5/7/info/configuration") == 1


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("info_quota", {"used": 1}),
        ("info_quota", [1, "lots"]),
        ("collection_usage", {"tabs": "big"}),
        ("collection_counts", {"tabs": 1.5}),
        ("collection_counts", [1]),
    ],
)
def test_malformed_info_bodies_are_protocol_violations(method: str, body: Any) -> None:
    with pytest.raises(ProtocolViolation):
        getattr(storage(Script(reply(body=body))), method)()


def test_deletes_return_the_new_timestamp() -> None:
    script = Script(
        reply(200, {"modified": 3.0}, {"X-Last-Modified": "3.00"}),
        reply(200, None),  # no X-Last-Modified: X-Weave-Timestamp stands in
        reply(404, 0),
    )
    client = storage(script)
    assert client.delete_record("tabs", "a", if_unmodified_since=2.5) == 3.0
    assert script.requests[0].headers["X-If-Unmodified-Since"] == "2.50"
    assert client.delete_collection("tabs") == 1_700_000_000.0
    assert client.delete_all() is None


def test_bad_download_arguments_are_usage_errors() -> None:
    client = storage(Script())
    with pytest.raises(UsageError):
        client.get_collection("tabs", limit=0)
    with pytest.raises(UsageError):
        client.get_collection("tabs", sort="random")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        client.stream_collection("tabs", page_size=0)


def test_a_stream_is_iterated_once() -> None:
    script = Script(reply(200, [], {"X-Last-Modified": "0.00"}))
    stream = storage(script).stream_collection("tabs")
    assert list(stream) == []
    with pytest.raises(UsageError):
        list(stream)
    assert len(script.requests) == 1


def test_a_513_is_the_services_end_of_life_for_this_client_with_its_alert() -> None:
    alert = '{"code": "hard-eol", "message": "Upgrade now.", "url": "https://example.test/"}'
    script = Script(reply(513, 0, headers={"X-Weave-Alert": alert}))
    with pytest.raises(ServiceEndOfLife) as info:
        storage(script).info_collections()
    assert info.value.status == 513
    assert info.value.alert == {
        "code": "hard-eol",
        "message": "Upgrade now.",
        "url": "https://example.test/",
    }
