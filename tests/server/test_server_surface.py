"""The rest of a storage node's surface: CORS, health checks, 304s, alerts and quota answers."""

from __future__ import annotations

import json

import httpx
import pytest

from beacon.server import EmbeddedService
from tests.server.server_fixtures import ADMIN_SECRET, Clock, User, counter_rng, make_user

ORIGIN = "https://sync-client.example"


def _preflight(http: httpx.Client, url: str, method: str, headers: str) -> httpx.Response:
    return http.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_every_route_answers_a_cors_preflight(svc: EmbeddedService, user: User) -> None:
    routes = [
        (svc.token_server_url, "GET", "authorization, x-keyid, x-client-state"),
        (user.url(""), "DELETE", "authorization"),
        (user.url("/info/collections"), "GET", "authorization, x-if-modified-since"),
        (user.url("/storage/tabs"), "POST", "authorization, content-type, x-weave-total-records"),
        (user.url("/storage/tabs/t1"), "PUT", "authorization, x-if-unmodified-since"),
    ]
    svc.faults.fail_next(1)  # a preflight must not consume a fault meant for the client
    for url, method, headers in routes:
        response = _preflight(user.http, url, method, headers)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Max-Age"] == "1728000"
        assert method in response.headers["Access-Control-Allow-Methods"]
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert all(h.strip() in allowed for h in headers.split(","))
    assert user.get("/info/collections").status_code == 503


def test_a_preflight_for_a_method_sync_never_uses_is_refused(user: User) -> None:
    response = _preflight(user.http, user.url("/storage/tabs"), "PATCH", "authorization")
    assert response.status_code == 400


def test_responses_to_an_origin_expose_the_weave_headers(svc: EmbeddedService, user: User) -> None:
    user.put("/storage/tabs/t1", json={"payload": "x"})
    response = user.get("/storage/tabs", params={"limit": "1"}, headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {
        "X-Weave-Timestamp",
        "X-Last-Modified",
        "X-Weave-Next-Offset",
        "X-Weave-Records",
        "X-Weave-Backoff",
        "X-Weave-Alert",
        "X-Weave-Quota-Remaining",
        "Retry-After",
    } <= exposed
    # Injected refusals carry CORS too, or a browser client could not read their Retry-After.
    svc.faults.fail_next(1)
    refused = user.get("/info/collections", headers={"Origin": ORIGIN})
    assert refused.status_code == 503
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    token = user.token_request(headers={"Origin": ORIGIN})
    assert token.headers["Access-Control-Allow-Origin"] == "*"


def test_an_options_request_that_is_no_preflight_is_405_with_a_bare_body(user: User) -> None:
    response = user.http.options(user.url("/info/collections"))
    assert (response.status_code, response.text) == (405, "0")


def test_heartbeats_answer_as_dockerflow_and_consume_no_fault(clock: Clock) -> None:
    svc = EmbeddedService(clock=clock, rng=counter_rng(), quota_bytes=4096)
    with httpx.Client(transport=svc.transport(), base_url="http://beacon.test") as http:
        svc.faults.fail_next(1)
        beat = http.get("/__heartbeat__")
        assert beat.status_code == 200
        body = beat.json()
        assert (body["status"], body["database"]) == ("Ok", "Ok")
        assert body["quota"] == {"enabled": True, "size": 4096}
        assert isinstance(body["version"], str)
        assert http.get("/__lbheartbeat__").json() == {}
        assert svc.faults.request_log() == []
        # The fault is still pending for the next client request.
        assert http.get(svc.token_server_url).status_code == 503
        svc.close()
        down = http.get("/__heartbeat__")
    assert down.status_code == 503
    assert (down.json()["status"], down.json()["database"]) == ("Err", "Unknown")


def test_a_304_has_no_representation_headers(user: User) -> None:
    put = user.put("/storage/tabs/t1", json={"payload": "x"})
    stamp = put.headers["X-Last-Modified"]
    for path in ("/info/collections", "/storage/tabs", "/storage/tabs/t1"):
        response = user.get(path, headers={"X-If-Modified-Since": stamp})
        assert response.status_code == 304, path
        assert response.content == b""
        assert "content-type" not in response.headers
        assert "content-length" not in response.headers
        assert response.headers["X-Last-Modified"] == stamp
        assert "X-Weave-Timestamp" in response.headers


def test_a_soft_eol_alert_rides_on_normal_answers(svc: EmbeddedService, user: User) -> None:
    svc.faults.alert_next(2, code="soft-eol", message="moving on", url="https://x.example/eol")
    first = user.get("/info/collections")
    assert first.status_code == 200
    assert json.loads(first.headers["X-Weave-Alert"]) == {
        "code": "soft-eol",
        "message": "moving on",
        "url": "https://x.example/eol",
    }
    assert "X-Weave-Alert" in user.get("/info/collections").headers
    assert "X-Weave-Alert" not in user.get("/info/collections").headers


def test_a_hard_eol_alert_is_a_513_that_changes_nothing(svc: EmbeddedService, user: User) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    set_up = user.http.post(
        "http://beacon.test/__admin__/faults/alert_next",
        json={"count": 2, "code": "hard-eol"},
        headers=admin,
    )
    assert set_up.json() == {"result": None}
    refused = user.put("/storage/tabs/t1", json={"payload": "x"})
    assert (refused.status_code, refused.text) == (513, "0")
    assert json.loads(refused.headers["X-Weave-Alert"])["code"] == "hard-eol"
    token = user.token_request()
    assert token.status_code == 513
    assert token.json()["status"] == "error"
    assert svc.faults.records(user.account.fxa_uid, "tabs") == {}
    assert user.put("/storage/tabs/t1", json={"payload": "x"}).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [{"code": "sort-of-eol"}, {"count": 0}, {"message": 5}, {"count": True}],
)
def test_alert_arguments_are_checked(svc: EmbeddedService, kwargs: dict[str, object]) -> None:
    from beacon import UsageError

    with pytest.raises(UsageError):
        svc.faults.alert_next(**kwargs)  # type: ignore[arg-type]


def test_quota_answers_heartbeat_configuration_and_refusals(clock: Clock) -> None:
    svc = EmbeddedService(clock=clock, rng=counter_rng(), quota_bytes=2048)
    user = make_user(svc, clock)
    try:
        assert user.get("/info/configuration").json()["max_quota_limit"] == 2048
        ok = user.put("/storage/tabs/t1", json={"payload": "x" * 1024})
        assert ok.headers["X-Weave-Quota-Remaining"] == "1.00"
        assert user.get("/info/quota").json() == [1.0, 2.0]
        over = user.post("/storage/tabs", json=[{"id": "t2", "payload": "y" * 1025}])
        assert (over.status_code, over.text) == (403, "14")
        assert set(svc.faults.records(user.account.fxa_uid, "tabs")) == {"t1"}
    finally:
        user.http.close()
        svc.close()
    unlimited = EmbeddedService(clock=clock, rng=counter_rng())
    other = make_user(unlimited, clock)
    assert "max_quota_limit" not in other.get("/info/configuration").json()
    assert other.get("/info/quota").json() == [0.0, None]
    other.http.close()
    unlimited.close()
