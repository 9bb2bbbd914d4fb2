"""Regression tests: six inputs that made the embedded service answer 500.

Each is answered with the 4xx the API document gives (docs/protocol.md §1.3, §3.1, §3.5, §3.6,
§3.10) and leaves nothing stored; two of them need no credentials at all.
"""

from __future__ import annotations

import httpx

from beacon.server import EmbeddedService
from tests.server.server_fixtures import User


def _stored(svc: EmbeddedService) -> tuple[int, int, int]:
    with svc._core.db.transaction() as conn:
        return (
            conn.execute("SELECT COUNT(*) FROM bsos").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM collections").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM users").fetchone()[0],
        )


def test_a_host_port_with_a_non_ascii_digit_is_a_400_without_credentials(user: User) -> None:
    # Latin-1 '²' passes str.isdigit() but int() refuses it.
    response = user.http.get(
        user.url("/info/collections"), headers=[(b"host", b"beacon.test:\xb2")]
    )
    assert (response.status_code, response.text) == (400, "0")
    assert "X-Weave-Timestamp" in response.headers


def test_a_uid_or_node_of_5000_digits_is_a_404_without_credentials(user: User) -> None:
    huge = "9" * 5000
    for url in (
        f"http://beacon.test/node/1/1.5/{huge}/info/collections",
        f"http://beacon.test/node/{huge}/1.5/1/info/collections",
        f"http://beacon.test/node/1/1.5/{huge}/storage/tabs/a",
    ):
        response = user.http.get(url)
        assert (response.status_code, response.text) == (404, "0"), url


def test_a_payload_with_a_lone_surrogate_is_refused_and_nothing_is_stored(
    svc: EmbeddedService, user: User
) -> None:
    before = _stored(svc)
    body = b'{"payload": "\\ud800"}'
    put = user.put("/storage/tabs/a", content=body, headers={"Content-Type": "application/json"})
    assert (put.status_code, put.text) == (400, "8")
    post = user.post(
        "/storage/tabs",
        content=b'[{"id": "a", "payload": "ok\\udfff"}, {"id": "b", "payload": "fine"}]',
        headers={"Content-Type": "application/json"},
    )
    assert post.status_code == 200
    assert post.json()["failed"] == {"a": "invalid bso: payload"}
    assert post.json()["success"] == ["b"]
    assert svc.faults.records(user.account.fxa_uid, "tabs").keys() == {"b"}
    batch = user.post(
        "/storage/tabs",
        params={"batch": "true"},
        content=b'[{"id": "c", "payload": "\\ud800"}]',
        headers={"Content-Type": "application/json"},
    )
    assert batch.status_code == 202
    assert batch.json()["failed"] == {"c": "invalid bso: payload"}
    assert _stored(svc)[0] == before[0] + 1


def test_a_keyset_offset_of_2_63_or_5000_digits_is_a_400(user: User) -> None:
    for modified in (str(2**63), "9" * 5000):
        response = user.get(
            "/storage/tabs", params={"offset": f"{modified}.YQ", "sort": "oldest", "limit": "1"}
        )
        assert (response.status_code, response.text) == (400, "0")


def test_size_headers_of_5000_digits_are_over_the_limit_and_store_nothing(
    svc: EmbeddedService, user: User
) -> None:
    for header in ("X-Weave-Records", "X-Weave-Bytes", "X-Weave-Total-Records"):
        response = user.post(
            "/storage/tabs", json=[{"id": "a", "payload": "x"}], headers={header: "9" * 5000}
        )
        assert (response.status_code, response.text) == (400, "17"), header
    response = user.post(
        "/storage/tabs",
        params={"batch": "true"},
        json=[{"id": "a", "payload": "x"}],
        headers={"X-Weave-Total-Bytes": "0" * 4000 + "9" * 5000},
    )
    assert (response.status_code, response.text) == (400, "17")
    # Leading zeros do not make a small value large.
    fine = user.post(
        "/storage/tabs", json=[{"id": "a", "payload": "x"}], headers={"X-Weave-Records": "0" * 5000}
    )
    assert fine.status_code == 200
    assert svc.faults.records(user.account.fxa_uid, "tabs").keys() == {"a"}


def test_a_content_length_of_5000_digits_is_a_413(user: User) -> None:
    request = user.http.build_request(
        "PUT", user.url("/storage/tabs/a"), content=b'{"payload": "x"}'
    )
    request.headers["Content-Length"] = "9" * 5000
    response = user.http.send(request, auth=user.auth())
    assert (response.status_code, response.text) == (413, "17")


def test_a_keys_changed_at_of_2_63_or_more_is_invalid_credentials(svc: EmbeddedService) -> None:
    account = svc.create_account()
    with httpx.Client(transport=svc.transport()) as http:
        for stamp in (str(2**63), str(2**64), "9" * 5000):
            response = http.get(
                svc.token_server_url,
                headers={
                    "Authorization": f"Bearer {account.access_token}",
                    "X-KeyID": f"{stamp}-qqo",
                },
            )
            assert response.status_code == 401, stamp
            assert response.json()["status"] == "invalid-credentials"
        # Nothing was stored by the refusals; the largest i64 is still a timestamp.
        assert svc.faults.user(account.fxa_uid) is None
        ok = http.get(
            svc.token_server_url,
            headers={
                "Authorization": f"Bearer {account.access_token}",
                "X-KeyID": f"{2**63 - 1}-qqo",
            },
        )
    assert ok.status_code == 200, ok.text
