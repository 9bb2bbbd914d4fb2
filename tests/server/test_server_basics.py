"""The service end to end in-process: account → token → storage read and write."""

from __future__ import annotations

from tests.server.server_fixtures import User


def test_a_new_user_reads_empty_info_collections(user: User) -> None:
    response = user.get("/info/collections")
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["X-Last-Modified"] == "0.00"
    assert response.headers["X-Weave-Timestamp"] == "1700000000.00"
    assert response.headers["X-Weave-Records"] == "0"


def test_a_written_record_reads_back_with_two_decimal_timestamps(user: User) -> None:
    put = user.put("/storage/meta/global", json={"payload": "hello", "sortindex": 3})
    assert put.status_code == 200
    assert put.text == "1700000000.00"
    got = user.get("/storage/meta/global")
    assert got.text == ('{"id":"global","modified":1700000000.00,"payload":"hello","sortindex":3}')
    assert got.headers["X-Last-Modified"] == "1700000000.00"
