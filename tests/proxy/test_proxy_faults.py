"""Each fault of beacon proxy, against a served embedded service, over loopback."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from beacon import RecordEngine, SyncClient, UsageError
from beacon._crypto import key_id
from beacon._hawk import HawkAuth
from beacon.proxy import FaultProxy
from tests.proxy.conftest import ADMIN_SECRET, Deployment
from tests.server.server_fixtures import kb_for

_nonces = itertools.count()


class Device:
    """An account's raw Sync client through the proxy: a token and Hawk-signed requests."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.account = deployment.svc.create_account()
        self.kb = kb_for(self.account.fxa_uid)
        self.http = httpx.Client()
        self.token: dict[str, Any] = {}

    def token_response(self) -> httpx.Response:
        return self.http.get(
            self.deployment.token_server_url,
            headers={
                "Authorization": f"Bearer {self.account.access_token}",
                "X-KeyID": key_id(self.kb, self.account.keys_changed_at),
            },
        )

    def fetch_token(self) -> dict[str, Any]:
        response = self.token_response()
        assert response.status_code == 200, response.text
        self.token = response.json()
        return self.token

    def auth(self, key: str | None = None) -> HawkAuth:
        return HawkAuth(
            self.token["id"],
            key or self.token["key"],
            clock=self.deployment.clock,
            nonce=lambda: f"p{next(_nonces)}",
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(
            method, self.token["api_endpoint"] + path, auth=self.auth(), **kwargs
        )


@pytest.fixture
def device(deployment: Deployment) -> Iterator[Device]:
    d = Device(deployment)
    d.fetch_token()
    yield d
    d.http.close()


def _admin(deployment: Deployment, name: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{deployment.url}/__admin__/faults/{name}",
        json=kwargs,
        headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
    )


def test_token_responses_point_storage_at_the_proxy(deployment: Deployment, device: Device) -> None:
    assert device.token["api_endpoint"] == f"{deployment.url}/n/1/1.5/{device.token['uid']}"
    put = device.request("PUT", "/storage/tabs/t1", json={"payload": "through the proxy"})
    assert put.status_code == 200
    stored = deployment.svc.faults.records(device.account.fxa_uid, "tabs")
    assert stored["t1"]["payload"] == "through the proxy"
    assert device.request("GET", "/storage/tabs/t1").json()["payload"] == "through the proxy"
    assert deployment.proxy.faults.users() == [
        {
            "uid": device.token["uid"],
            "fxa_uid": device.account.fxa_uid,
            "node": 1,
            "node_url": deployment.upstream + "/node/1",
            "moved": False,
        }
    ]


def test_a_forged_mac_is_relayed_as_it_came_and_refused_upstream(
    deployment: Deployment, device: Device
) -> None:
    forged = device.http.get(
        device.token["api_endpoint"] + "/info/collections", auth=device.auth("B" * 43 + "=")
    )
    assert (forged.status_code, forged.text) == (401, "0")
    log = deployment.svc.faults.request_log()
    assert log[-1].status == 401
    assert not log[-1].injected


def test_fail_next_answers_503_or_401_without_reaching_the_upstream(
    deployment: Deployment, device: Device
) -> None:
    before = len(deployment.svc.faults.request_log())
    deployment.proxy.faults.fail_next(1, path_contains="/storage/", retry_after=30)
    busy = device.request("PUT", "/storage/tabs/t1", json={"payload": "x"})
    assert (busy.status_code, busy.text, busy.headers["Retry-After"]) == (503, "0", "30")
    assert "X-Weave-Timestamp" in busy.headers
    deployment.proxy.faults.fail_next(1, status=401, retry_after=None)
    refused = device.token_response()
    assert refused.status_code == 401
    assert refused.json()["status"] == "error"
    assert len(deployment.svc.faults.request_log()) == before
    assert deployment.svc.faults.records(device.account.fxa_uid, "tabs") == {}
    assert device.request("PUT", "/storage/tabs/t1", json={"payload": "x"}).status_code == 200


def test_backoff_and_soft_alerts_ride_on_relayed_answers(
    deployment: Deployment, device: Device
) -> None:
    deployment.proxy.faults.backoff_next(1, seconds=120)
    deployment.proxy.faults.alert_next(1, code="soft-eol")
    answer = device.request("GET", "/info/collections")
    assert answer.status_code == 200
    assert answer.headers["X-Weave-Backoff"] == "120"
    assert json.loads(answer.headers["X-Weave-Alert"])["code"] == "soft-eol"
    deployment.proxy.faults.alert_next(1, code="hard-eol")
    gone = device.request("GET", "/info/collections")
    assert (gone.status_code, gone.text) == (513, "0")


def test_revoked_tokens_are_refused_and_new_ones_work(
    deployment: Deployment, device: Device
) -> None:
    faults = deployment.proxy.faults
    faults.revoke_tokens(device.account.fxa_uid)
    refused = device.request("GET", "/info/collections")
    assert (refused.status_code, refused.text) == (401, "0")
    assert refused.headers["WWW-Authenticate"] == "Hawk"
    device.fetch_token()
    assert device.request("GET", "/info/collections").status_code == 200
    with pytest.raises(UsageError):
        faults.revoke_tokens("someone-the-proxy-never-saw")


def test_expired_tokens_still_read_info_collections(deployment: Deployment, device: Device) -> None:
    deployment.proxy.faults.expire_tokens(uid=device.token["uid"])
    assert device.request("GET", "/info/collections").status_code == 200
    assert device.request("GET", "/storage/tabs").status_code == 401


def test_a_move_rewrites_the_endpoint_to_the_second_node(
    deployment: Deployment, device: Device
) -> None:
    old = device.token["api_endpoint"]
    device.request("PUT", "/storage/tabs/t1", json={"payload": "on node 1"})
    assert _admin(deployment, "move_user", fxa_uid=device.account.fxa_uid).json() == {"result": 2}
    assert device.request("GET", "/info/collections").status_code == 401
    moved = device.fetch_token()
    assert moved["api_endpoint"] != old
    assert moved["api_endpoint"].startswith(deployment.url + "/n/2/")
    assert device.request("GET", "/info/collections").json() == {}
    device.request("PUT", "/storage/tabs/t2", json={"payload": "on node 2"})
    with deployment.svc._core.db.transaction() as conn:
        nodes = conn.execute("SELECT node, id FROM bsos ORDER BY node").fetchall()
    assert nodes == [(1, "t1"), (2, "t2")]
    # Moving again goes back to the token server's own choice.
    assert deployment.proxy.faults.move_user(device.account.fxa_uid) == 1
    assert device.fetch_token()["api_endpoint"] == old


def test_a_move_needs_somewhere_to_go(deployment: Deployment) -> None:
    lonely = FaultProxy(deployment.upstream)
    with lonely.serve() as url:
        device = Device(deployment)
        device.deployment = Deployment(
            deployment.svc, deployment.upstream, lonely, url, deployment.clock
        )
        device.fetch_token()
        with pytest.raises(UsageError):
            lonely.faults.move_user(device.account.fxa_uid)
        device.http.close()


def test_a_race_is_a_412_for_a_conditional_write_only(
    deployment: Deployment, device: Device
) -> None:
    put = device.request("PUT", "/storage/tabs/t1", json={"payload": "first"})
    stamp = put.headers["X-Last-Modified"]
    deployment.proxy.faults.race_next(1)
    assert device.request("GET", "/storage/tabs").status_code == 200  # reads pass
    raced = device.request(
        "PUT",
        "/storage/tabs/t1",
        json={"payload": "second"},
        headers={"X-If-Unmodified-Since": stamp},
    )
    assert (raced.status_code, raced.text) == (412, "0")
    assert float(raced.headers["X-Last-Modified"]) > float(stamp)
    stored = deployment.svc.faults.records(device.account.fxa_uid, "tabs")
    assert stored["t1"]["payload"] == "first"
    again = device.request(
        "PUT",
        "/storage/tabs/t1",
        json={"payload": "second"},
        headers={"X-If-Unmodified-Since": stamp},
    )
    assert again.status_code == 200


def test_a_dropped_answer_took_effect_but_never_arrives(
    deployment: Deployment, device: Device
) -> None:
    deployment.proxy.faults.drop_next(1, path_contains="/storage/tabs")
    with pytest.raises(httpx.TransportError):
        device.request("PUT", "/storage/tabs/t1", json={"payload": "sent"})
    assert deployment.svc.faults.records(device.account.fxa_uid, "tabs")["t1"]["payload"] == "sent"
    assert device.request("GET", "/storage/tabs/t1").status_code == 200
    log = deployment.proxy.faults.request_log()
    assert [(e.method, e.injected) for e in log[-2:]] == [("PUT", True), ("GET", False)]


def test_a_skewed_clock_is_refused_upstream_and_visible_in_timestamps(
    deployment: Deployment, device: Device
) -> None:
    faults = deployment.proxy.faults
    faults.skew_clock(600)  # beacon's nodes allow 60 s
    skewed = device.request("GET", "/info/collections")
    assert skewed.status_code == 401
    assert float(skewed.headers["X-Weave-Timestamp"]) == pytest.approx(
        deployment.clock() - 600, abs=1
    )
    token = device.token_response()
    assert int(token.headers["X-Timestamp"]) == pytest.approx(deployment.clock() - 600, abs=1)
    faults.skew_clock(0)
    assert device.request("GET", "/info/collections").status_code == 200


def test_the_admin_api_has_the_embedded_services_shape(deployment: Deployment) -> None:
    url = f"{deployment.url}/__admin__/faults/fail_next"
    assert httpx.post(url, json={}).status_code == 401
    wrong = httpx.post(url, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert _admin(deployment, "no_such_fault").status_code == 404
    assert _admin(deployment, "fail_next", count=0).status_code == 400
    assert _admin(deployment, "fail_next", bogus=1).status_code == 400
    assert _admin(deployment, "fail_next", count=1).json() == {"result": None}
    assert httpx.get(deployment.url + "/__lbheartbeat__").status_code == 503
    log = httpx.get(
        deployment.url + "/__admin__/requests", headers={"Authorization": f"Bearer {ADMIN_SECRET}"}
    ).json()
    assert log[-1]["status"] == 503
    assert log[-1]["injected"] is True
    closed = FaultProxy(deployment.upstream)
    with closed.serve() as other:
        assert httpx.post(other + "/__admin__/faults/clear").status_code == 404


def test_sign_up_through_the_proxy_names_the_proxy(deployment: Deployment) -> None:
    created = httpx.post(deployment.url + "/accounts")
    assert created.status_code == 201
    assert created.json()["token_server_url"] == deployment.token_server_url


def test_an_unreachable_upstream_is_a_502(deployment: Deployment) -> None:
    nowhere = FaultProxy("http://127.0.0.1:9")
    with nowhere.serve() as url:
        response = httpx.get(url + "/1.0/sync/1.5")
    assert response.status_code == 502
    assert response.json()["status"] == "error"


def test_a_sync_client_recovers_from_a_proxy_move(deployment: Deployment) -> None:
    account = deployment.svc.create_account()
    home = tempfile.TemporaryDirectory()
    notes = RecordEngine("notes")
    client = SyncClient(
        deployment.token_server_url,
        account.access_token,
        kb=kb_for("sync"),
        keys_changed_at=account.keys_changed_at,
        state_path=Path(home.name, "device"),
        engines=[notes],
        clock=deployment.clock,  # the service's clock: a token server years off is refused
    )
    try:
        notes.put("n1", {"text": "before the move"})
        assert client.sync().outcome == "ok"
        deployment.proxy.faults.move_user(account.fxa_uid)
        notes.put("n2", {"text": "after the move"})
        result = client.sync()
        assert result.outcome == "ok"
        assert "fresh_start" in result.states  # the new node is empty: storage set up afresh
        with deployment.svc._core.db.transaction() as conn:
            on_node_2 = conn.execute(
                "SELECT COUNT(*) FROM bsos WHERE node = 2 AND collection = 'notes'"
            ).fetchone()[0]
        assert on_node_2 == 2
    finally:
        client.close()
        home.cleanup()


def test_the_proxy_shows_no_secret(deployment: Deployment, device: Device) -> None:
    shown = repr(deployment.proxy) + repr(deployment.proxy.faults) + repr(deployment.proxy._state)
    shown += json.dumps(deployment.proxy.faults.users())
    shown += repr(deployment.proxy.faults.request_log())
    for secret in (device.token["id"], device.token["key"], ADMIN_SECRET):
        assert secret not in shown
