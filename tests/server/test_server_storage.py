"""Storage node API (docs/protocol.md §3): endpoints, query parameters, headers and bodies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.server.server_fixtures import Clock, User


def _post(user: User, collection: str, items: list[dict[str, object]]) -> dict[str, Any]:
    response = user.post(f"/storage/{collection}", json=items)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _seed(user: User, clock: Clock, n: int = 5) -> None:
    """Records r0..r{n-1}, one write each 1 s apart, sortindex = i."""
    for i in range(n):
        _post(user, "history", [{"id": f"r{i}", "payload": f"p{i}", "sortindex": i}])
        clock.advance(1)


# -- info/* -----------------------------------------------------------------------------------


def test_info_collections_lists_each_collection_with_its_timestamp(
    user: User, clock: Clock
) -> None:
    user.put("/storage/meta/global", json={"payload": "m"})
    clock.advance(1.234)
    user.put("/storage/crypto/keys", json={"payload": "k"})
    response = user.get("/info/collections")
    assert response.text == '{"crypto":1700000001.23,"meta":1700000000.00}'
    assert response.headers["X-Last-Modified"] == "1700000001.23"
    assert response.headers["X-Weave-Records"] == "2"


def test_info_counts_usage_and_quota(user: User) -> None:
    _post(user, "tabs", [{"id": "a", "payload": "x" * 1024}, {"id": "b", "payload": ""}])
    assert user.get("/info/collection_counts").json() == {"tabs": 2}
    assert user.get("/info/collection_usage").json() == {"tabs": 1.0}
    assert user.get("/info/quota").json() == [1.0, None]


def test_info_configuration_lists_the_limits(user: User) -> None:
    response = user.get("/info/configuration")
    assert response.json() == {
        "max_request_bytes": 2625536,
        "max_post_records": 100,
        "max_post_bytes": 2621440,
        "max_total_records": 10000,
        "max_total_bytes": 262144000,
        "max_record_payload_bytes": 2621440,
    }
    assert response.headers["X-Last-Modified"] == "0.00"


@pytest.mark.parametrize(
    "path",
    ["/info/collections", "/info/quota", "/info/collection_usage", "/info/collection_counts"],
)
def test_info_views_answer_304_when_nothing_changed(user: User, path: str) -> None:
    user.put("/storage/meta/global", json={"payload": "m"})
    same = user.get(path, headers={"X-If-Modified-Since": "1700000000.00"})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["X-Last-Modified"] == "1700000000.00"
    older = user.get(path, headers={"X-If-Modified-Since": "1699999999.99"})
    assert older.status_code == 200


def test_put_on_an_info_view_is_405_with_a_json_body(user: User) -> None:
    response = user.put("/info/quota", json={})
    assert response.status_code == 405
    assert response.text == "0"
    assert "X-Weave-Timestamp" in response.headers


# -- GET storage/<collection> -------------------------------------------------------------------


def test_a_missing_collection_reads_as_an_empty_list(user: User) -> None:
    response = user.get("/storage/nothing")
    assert response.json() == []
    assert response.headers["X-Last-Modified"] == "0.00"
    assert response.headers["X-Weave-Records"] == "0"


def test_collection_reads_ids_by_default_and_bsos_with_full(user: User, clock: Clock) -> None:
    _seed(user, clock, 2)
    assert user.get("/storage/history").json() == ["r0", "r1"]
    full = user.get("/storage/history?full=1").json()
    assert full[1] == {"id": "r1", "modified": 1700000001.0, "payload": "p1", "sortindex": 1}


def test_newer_and_older_filter_strictly(user: User, clock: Clock) -> None:
    _seed(user, clock, 5)
    assert user.get("/storage/history?newer=1700000002").json() == ["r3", "r4"]
    assert user.get("/storage/history?older=1700000002").json() == ["r0", "r1"]
    assert user.get("/storage/history?newer=1700000000&older=1700000003").json() == [
        "r1",
        "r2",
    ]


def test_ids_selects_records(user: User, clock: Clock) -> None:
    _seed(user, clock, 5)
    assert user.get("/storage/history?ids=r4,%20r1,,zz").json() == ["r1", "r4"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["r4", "r3", "r2", "r1", "r0"]),
        ("oldest", ["r0", "r1", "r2", "r3", "r4"]),
        ("index", ["r4", "r3", "r2", "r1", "r0"]),
    ],
)
def test_sort_orders(user: User, clock: Clock, sort: str, expected: list[str]) -> None:
    _seed(user, clock, 5)
    assert user.get(f"/storage/history?sort={sort}").json() == expected


@pytest.mark.parametrize("sort", ["newest", "oldest", "index", None])
def test_pagination_walks_every_record_once(user: User, clock: Clock, sort: str | None) -> None:
    _seed(user, clock, 5)
    seen: list[str] = []
    offset: str | None = None
    pages = 0
    while True:
        query = (
            "limit=2" + (f"&sort={sort}" if sort else "") + (f"&offset={offset}" if offset else "")
        )
        response = user.get(f"/storage/history?{query}&newer=1700000000")
        seen += response.json()
        pages += 1
        offset = response.headers.get("X-Weave-Next-Offset")
        if offset is None:
            break
    assert sorted(seen) == ["r1", "r2", "r3", "r4"]
    assert len(seen) == 4
    assert pages == 2


def _walk(user: User, query: str) -> tuple[list[str], list[str]]:
    """Every id of a paged listing, and the offset tokens it was handed."""
    seen: list[str] = []
    tokens: list[str] = []
    while True:
        offset = f"&offset={quote(tokens[-1], safe='')}" if tokens else ""
        response = user.get(f"/storage/history?{query}{offset}")
        assert response.status_code == 200
        seen += response.json()
        token = response.headers.get("X-Weave-Next-Offset")
        if token is None:
            return seen, tokens
        tokens.append(token)


@pytest.mark.parametrize(
    ("sort", "order"),
    [("oldest", ["a", "b", "c", "d", "e"]), ("newest", ["e", "d", "c", "b", "a"])],
)
def test_pages_split_records_sharing_one_timestamp_without_loss(
    user: User, sort: str, order: list[str]
) -> None:
    # One POST gives all five the same modified time: the keyset must order by id within it.
    _post(user, "history", [{"id": i, "payload": i} for i in "ecabd"])
    seen, tokens = _walk(user, f"limit=2&sort={sort}")
    assert seen == order
    assert len(tokens) == 2


@pytest.mark.parametrize("sort", ["newest", "oldest", "index", None])
def test_a_plain_position_is_an_offset_for_every_order(
    user: User, clock: Clock, sort: str | None
) -> None:
    _seed(user, clock, 5)
    sort_query = f"&sort={sort}" if sort else ""
    everything = user.get(f"/storage/history?full=1{sort_query}").json()
    assert len(everything) == 5
    assert user.get(f"/storage/history?full=1&offset=3{sort_query}").json() == everything[3:]


@pytest.mark.parametrize(
    "query",
    [
        "sort=index&offset=1700000000000.cjA",  # a row key means nothing in sortindex order
        "sort=oldest&offset=1700000000000.%2A%2A",  # the id part is not base64url
        "sort=oldest&offset=.cjA",
        "sort=oldest&offset=-5",
    ],
)
def test_an_offset_token_that_is_not_ours_is_400(user: User, query: str) -> None:
    response = user.get(f"/storage/history?{query}")
    assert response.status_code == 400
    assert response.text == "0"


def test_newlines_output_format(user: User, clock: Clock) -> None:
    _seed(user, clock, 2)
    response = user.get("/storage/history", headers={"Accept": "application/newlines"})
    assert response.headers["Content-Type"] == "application/newlines"
    assert response.text == '"r0"\n"r1"\n'


def test_an_unsupported_accept_is_406(user: User) -> None:
    response = user.get("/storage/history", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.text == "0"


@pytest.mark.parametrize(
    "query",
    [
        "newer=abc",
        "older=-1",
        "limit=-2",
        "limit=0",
        "limit=1.5",
        "offset=xyz",
        "sort=random",
        "ids=" + ",".join(f"i{n}" for n in range(101)),
        "ids=%7F",
    ],
)
def test_bad_query_values_are_400(user: User, query: str) -> None:
    response = user.get(f"/storage/history?{query}")
    assert response.status_code == 400
    assert response.text == "0"


def test_unknown_query_parameters_are_ignored(user: User) -> None:
    assert user.get("/storage/history?whatever=1").status_code == 200


def test_an_invalid_collection_name_is_400(user: User) -> None:
    response = user.get("/storage/" + "x" * 33)
    assert response.status_code == 400
    assert response.text == "13"


# -- items --------------------------------------------------------------------------------------


def test_a_missing_item_is_404_with_body_0(user: User) -> None:
    response = user.get("/storage/history/nope")
    assert response.status_code == 404
    assert response.text == "0"


def test_put_is_a_partial_update(user: User, clock: Clock) -> None:
    user.put("/storage/history/a", json={"payload": "one", "sortindex": 5})
    clock.advance(1)
    user.put("/storage/history/a", json={"payload": "two"})
    assert user.get("/storage/history/a").json() == {
        "id": "a",
        "modified": 1700000001.0,
        "payload": "two",
        "sortindex": 5,
    }
    clock.advance(1)
    user.put("/storage/history/a", json={"sortindex": None})
    assert "sortindex" not in user.get("/storage/history/a").json()


def test_updating_only_ttl_keeps_modified(user: User, clock: Clock) -> None:
    user.put("/storage/history/a", json={"payload": "one"})
    clock.advance(1)
    user.put("/storage/history/a", json={"ttl": 100})
    assert user.get("/storage/history/a").json()["modified"] == 1700000000.0


def test_expired_records_are_invisible_and_can_be_overwritten(user: User, clock: Clock) -> None:
    user.put("/storage/history/a", json={"payload": "one", "ttl": 10, "sortindex": 7})
    clock.advance(9)
    assert user.get("/storage/history/a").status_code == 200
    clock.advance(1)
    assert user.get("/storage/history/a").status_code == 404
    assert user.get("/storage/history").json() == []
    assert user.get("/info/collection_counts").json() == {}
    user.put("/storage/history/a", json={"payload": "fresh"})
    assert user.get("/storage/history/a").json() == {
        "id": "a",
        "modified": 1700000010.0,
        "payload": "fresh",
    }


def test_a_ttl_of_zero_expires_at_once(user: User) -> None:
    user.put("/storage/history/a", json={"payload": "x", "ttl": 0})
    assert user.get("/storage/history/a").status_code == 404


def test_internal_fields_are_never_echoed(user: User) -> None:
    user.put("/storage/history/a", json={"payload": "x", "ttl": 100, "modified": 5})
    assert set(user.get("/storage/history/a").json()) == {"id", "modified", "payload"}


@pytest.mark.parametrize(
    "body",
    [
        {"payload": 5},
        {"sortindex": "2.6"},
        {"sortindex": 1_000_000_000},
        {"ttl": -1},
        {"ttl": "eh?"},
        {"unknown": 1},
        {"id": "different"},
        [],
    ],
)
def test_invalid_put_bodies_are_400_code_8(user: User, body: object) -> None:
    response = user.put("/storage/history/a", json=body)
    assert (response.status_code, response.text) == (400, "8")
    assert user.get("/storage/history/a").status_code == 404


def test_malformed_json_is_400_code_6(user: User) -> None:
    response = user.put(
        "/storage/history/a", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.text) == (400, "6")


def test_an_unsupported_content_type_is_415(user: User) -> None:
    response = user.put(
        "/storage/history/a", content=b"{}", headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 415


@pytest.mark.parametrize("content_type", ["text/plain", "application/newlines"])
def test_put_accepts_the_other_input_formats(user: User, content_type: str) -> None:
    response = user.put(
        "/storage/history/a",
        content=json.dumps({"payload": "x"}).encode() + b"\n",
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200


def test_the_known_bad_crypto_payload_is_refused(user: User) -> None:
    bad = json.dumps({"ciphertext": "x", "IV": "AAAAAAAAAAAAAAAAAAAAAA==", "hmac": "y"})
    assert user.put("/storage/crypto/keys", json={"payload": bad}).status_code == 400
    assert user.put("/storage/history/keys", json={"payload": bad}).status_code == 200


def test_delete_item(user: User, clock: Clock) -> None:
    user.put("/storage/history/a", json={"payload": "x"})
    clock.advance(1)
    response = user.delete("/storage/history/a")
    assert response.text == '{"modified":1700000001.00}'
    assert user.get("/storage/history/a").status_code == 404
    assert user.get("/info/collections").json() == {"history": 1700000001.0}
    assert user.delete("/storage/history/a").status_code == 404


# -- preconditions ------------------------------------------------------------------------------


def test_x_if_unmodified_since_guards_writes(user: User, clock: Clock) -> None:
    user.put("/storage/meta/global", json={"payload": "v1"})
    clock.advance(1)
    stale = user.put(
        "/storage/meta/global",
        json={"payload": "v2"},
        headers={"X-If-Unmodified-Since": "1699999999.00"},
    )
    assert stale.status_code == 412
    assert stale.headers["X-Last-Modified"] == "1700000000.00"
    assert user.get("/storage/meta/global").json()["payload"] == "v1"
    ok = user.put(
        "/storage/meta/global",
        json={"payload": "v2"},
        headers={"X-If-Unmodified-Since": "1700000000.00"},
    )
    assert ok.status_code == 200


def test_x_if_unmodified_since_zero_means_create_only(user: User) -> None:
    headers = {"X-If-Unmodified-Since": "0"}
    assert (
        user.put("/storage/meta/global", json={"payload": "a"}, headers=headers).status_code == 200
    )
    assert (
        user.put("/storage/meta/global", json={"payload": "b"}, headers=headers).status_code == 412
    )


def test_x_if_unmodified_since_applies_to_collection_posts_and_deletes(user: User) -> None:
    _post(user, "history", [{"id": "a"}])
    headers = {"X-If-Unmodified-Since": "1.00"}
    assert user.post("/storage/history", json=[{"id": "b"}], headers=headers).status_code == 412
    assert user.delete("/storage/history", headers=headers).status_code == 412
    assert user.delete("/storage", headers=headers).status_code == 412
    assert user.get("/storage/history").json() == ["a"]


def test_x_if_modified_since_on_items_and_collections(user: User) -> None:
    user.put("/storage/history/a", json={"payload": "x"})
    headers = {"X-If-Modified-Since": "1700000000.00"}
    assert user.get("/storage/history/a", headers=headers).status_code == 304
    assert user.get("/storage/history", headers=headers).status_code == 304


@pytest.mark.parametrize(
    "headers",
    [
        {"X-If-Modified-Since": "1", "X-If-Unmodified-Since": "1"},
        {"X-If-Modified-Since": "-1"},
        {"X-If-Unmodified-Since": "yesterday"},
    ],
)
def test_bad_precondition_headers_are_400(user: User, headers: dict[str, str]) -> None:
    assert user.get("/storage/history", headers=headers).status_code == 400


# -- deletes ---------------------------------------------------------------------------------------


def test_deleting_a_collection_removes_it_from_info_collections(user: User, clock: Clock) -> None:
    _post(user, "history", [{"id": "a"}])
    clock.advance(1)
    response = user.delete("/storage/history")
    assert response.text == "1700000001.00"
    assert response.headers["X-Last-Modified"] == "1700000001.00"
    assert user.get("/info/collections").json() == {}
    assert user.get("/info/collections").headers["X-Last-Modified"] == "1700000001.00"


def test_deleting_ids_keeps_the_collection_with_a_new_timestamp(user: User, clock: Clock) -> None:
    _post(user, "history", [{"id": "a"}, {"id": "b"}])
    clock.advance(1)
    user.delete("/storage/history?ids=a,b")
    assert user.get("/storage/history").json() == []
    assert user.get("/info/collections").json() == {"history": 1700000001.0}


def test_deleting_a_missing_collection_is_200(user: User) -> None:
    assert user.delete("/storage/nothing").status_code == 200


def test_deleting_more_than_100_ids_is_400(user: User) -> None:
    ids = ",".join(f"i{n}" for n in range(101))
    assert user.delete(f"/storage/history?ids={ids}").status_code == 400


@pytest.mark.parametrize("path", ["/storage", ""])
def test_deleting_storage_or_the_user_root_removes_everything(user: User, path: str) -> None:
    _post(user, "history", [{"id": "a"}])
    user.put("/storage/meta/global", json={"payload": "m"})
    response = user.delete(path)
    assert response.status_code == 200
    assert response.text == "null"
    assert user.get("/info/collections").json() == {}
    assert user.get("/storage/meta/global").status_code == 404


def test_timestamps_only_move_forward_even_with_a_stopped_clock(user: User) -> None:
    stamps = [
        float(user.put(f"/storage/history/{i}", json={"payload": "x"}).text) for i in range(3)
    ]
    user.delete("/storage")
    stamps.append(float(user.put("/storage/history/z", json={"payload": "x"}).text))
    assert stamps == sorted(set(stamps))
    assert stamps[-1] == pytest.approx(1700000000.04)


def test_unknown_routes_are_404_with_body_0(user: User) -> None:
    response = user.get("/nonexistent/url")
    assert (response.status_code, response.text) == (404, "0")
    assert "X-Weave-Timestamp" in response.headers


def test_patch_on_a_collection_is_405(user: User) -> None:
    assert user.request("PATCH", "/storage/history", json=[]).status_code == 405
