"""The same service over real loopback HTTP (uvicorn), restarts, and the command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from beacon._crypto import key_id
from beacon._hawk import HawkAuth
from beacon.cli import main
from beacon.server import EmbeddedService
from tests.server.server_fixtures import ADMIN_SECRET, Clock, counter_rng, kb_for


def _token(http: httpx.Client, url: str, access_token: str, kb: bytes, kca: int) -> dict:  # type: ignore[type-arg]
    response = http.get(
        url, headers={"Authorization": f"Bearer {access_token}", "X-KeyID": key_id(kb, kca)}
    )
    assert response.status_code == 200, response.text
    token: dict = response.json()  # type: ignore[type-arg]
    return token


@pytest.fixture
def served(clock: Clock) -> Iterator[tuple[EmbeddedService, str]]:
    svc = EmbeddedService(clock=clock, admin_secret=ADMIN_SECRET, rng=counter_rng())
    with svc.serve() as base:
        yield svc, base
    svc.close()


def test_a_full_exchange_over_loopback(served: tuple[EmbeddedService, str], clock: Clock) -> None:
    svc, base = served
    assert base.startswith("http://127.0.0.1:")
    account = svc.create_account()
    kb = kb_for("loop")
    with httpx.Client() as http:
        token = _token(
            http, base + "/1.0/sync/1.5", account.access_token, kb, account.keys_changed_at
        )
        assert token["api_endpoint"].startswith(base + "/node/1/1.5/")
        auth = HawkAuth(token["id"], token["key"], clock=clock)
        root = token["api_endpoint"]
        put = http.put(root + "/storage/meta/global", json={"payload": "m"}, auth=auth)
        assert put.status_code == 200
        assert put.headers["X-Last-Modified"] == "1700000000.00"
        posted = http.post(
            root + "/storage/history?batch=true&commit=true",
            json=[{"id": f"r{i}", "payload": "x"} for i in range(3)],
            auth=auth,
        )
        assert posted.json()["success"] == ["r0", "r1", "r2"]
        listing = http.get(root + "/storage/history?full=1&limit=2", auth=auth)
        assert [r["id"] for r in listing.json()] == ["r0", "r1"]
        offset = listing.headers["X-Weave-Next-Offset"]
        rest = http.get(
            root + "/storage/history",
            params={"full": "1", "limit": "2", "offset": offset},
            auth=auth,
        )
        assert [r["id"] for r in rest.json()] == ["r2"]
        assert "X-Weave-Next-Offset" not in rest.headers
        assert http.get(root + "/info/collections", auth=auth).json() == {
            "history": 1700000000.01,
            "meta": 1700000000.0,
        }
        assert http.get(root + "/nope", auth=auth).status_code == 404
        svc.faults.fail_next(1)
        assert http.get(root + "/info/collections", auth=auth).status_code == 503
        # A token minted in-process is valid over loopback too (same node, same uid).
        with svc.client() as local:
            inproc = _token(
                local, svc.token_server_url, account.access_token, kb, account.keys_changed_at
            )
        assert inproc["uid"] == token["uid"]


def test_node_reassignment_over_loopback(served: tuple[EmbeddedService, str], clock: Clock) -> None:
    svc, base = served
    account = svc.create_account()
    kb = kb_for("mover")
    with httpx.Client() as http:
        token = _token(
            http, base + "/1.0/sync/1.5", account.access_token, kb, account.keys_changed_at
        )
        auth = HawkAuth(token["id"], token["key"], clock=clock)
        svc.faults.move_user(account.fxa_uid, 2)
        assert http.get(token["api_endpoint"] + "/info/collections", auth=auth).status_code == 401
        moved = _token(
            http, base + "/1.0/sync/1.5", account.access_token, kb, account.keys_changed_at
        )
        assert "/node/2/" in moved["api_endpoint"]


def test_the_admin_api_over_loopback(served: tuple[EmbeddedService, str]) -> None:
    _, base = served
    headers = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    created = httpx.post(base + "/__admin__/accounts", headers=headers)
    assert created.status_code == 201
    assert created.json()["token_server_url"] == base + "/1.0/sync/1.5"


def test_data_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    first = EmbeddedService(data_dir=tmp_path, clock=clock)
    account = first.create_account()
    kb = kb_for("persist")
    with first.client() as http:
        token = _token(
            http, first.token_server_url, account.access_token, kb, account.keys_changed_at
        )
        auth = HawkAuth(token["id"], token["key"], clock=clock, nonce=lambda: "first")
        http.put(
            token["api_endpoint"] + "/storage/meta/global", json={"payload": "kept"}, auth=auth
        )
    first.close()
    second = EmbeddedService(data_dir=tmp_path, clock=clock)
    with second.client() as http:
        # The old token and the old access token still verify: the secrets were kept.
        auth = HawkAuth(token["id"], token["key"], clock=clock, nonce=lambda: "second")
        got = http.get(token["api_endpoint"] + "/storage/meta/global", auth=auth)
        again = _token(
            http, second.token_server_url, account.access_token, kb, account.keys_changed_at
        )
    second.close()
    assert got.json()["payload"] == "kept"
    assert again["uid"] == token["uid"]
    assert (tmp_path / "beacon-server.sqlite3").stat().st_mode & 0o777 == 0o600


def test_account_create_cli_against_a_served_instance(
    served: tuple[EmbeddedService, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _svc, base = served
    assert main(["account", "create", "--server", base, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["token_server_url"] == base + "/1.0/sync/1.5"
    assert len(bytes.fromhex(out["kb"])) == 32
    # What it printed is enough to get a token.
    with httpx.Client() as http:
        token = _token(
            http,
            out["token_server_url"],
            out["access_token"],
            bytes.fromhex(out["kb"]),
            out["keys_changed_at"],
        )
    assert token["uid"] >= 1


def test_account_cli_reset_password_and_errors(
    served: tuple[EmbeddedService, str], capsys: pytest.CaptureFixture[str]
) -> None:
    svc, base = served
    account = svc.create_account()
    status = main(
        [
            "account",
            "reset-password",
            "--server",
            base,
            "--fxa-uid",
            account.fxa_uid,
            "--admin-secret",
            ADMIN_SECRET,
        ]
    )
    assert status == 0
    assert "keys_changed_at:" in capsys.readouterr().out
    assert (
        main(["account", "reset-password", "--server", base, "--fxa-uid", "x"]) == 2
    )  # usage: no admin secret
    assert main(["account", "create", "--server", "http://127.0.0.1:9"]) == 5  # network
    err = capsys.readouterr().err
    assert "beacon: error:" in err


def test_beacon_serve_starts_from_a_shell(tmp_path: Path) -> None:
    env = {**os.environ, "BEACON_ADMIN_SECRET": ADMIN_SECRET}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "beacon",
            "serve",
            "--port",
            "0",
            "--data",
            str(tmp_path),
            "--nodes",
            "3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    first = ""
    try:
        first = process.stderr.readline().decode()
        match = re.search(r"service at (http://127\.0\.0\.1:\d+)", first)
        assert match, first + process.stderr.read().decode()[-2000:]
        base = match.group(1)
        deadline = time.monotonic() + 20
        while True:
            try:
                created = httpx.post(base + "/accounts")
                break
            except httpx.TransportError:
                assert process.poll() is None, "beacon serve exited"
                assert time.monotonic() < deadline, "beacon serve did not come up"
                time.sleep(0.05)
        assert created.status_code == 201
        account = created.json()
        kb = kb_for("shell")
        with httpx.Client() as http:
            token = _token(
                http,
                account["token_server_url"],
                account["access_token"],
                kb,
                account["keys_changed_at"],
            )
            assert "/node/" in token["api_endpoint"]
            auth = HawkAuth(token["id"], token["key"])
            root = token["api_endpoint"]
            assert (
                http.put(root + "/storage/tabs/t1", json={"payload": "p"}, auth=auth).status_code
                == 200
            )
            assert http.get(root + "/storage/tabs/t1", auth=auth).json()["payload"] == "p"
        admin = httpx.get(
            base + "/__admin__/requests", headers={"Authorization": f"Bearer {ADMIN_SECRET}"}
        )
        assert admin.status_code == 200
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=20)
    err = first.encode() + rest
    assert ADMIN_SECRET.encode() not in err
    assert b"Sync 1.5 service at" in err


def test_the_server_benchmark_runs_in_quick_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both child processes start, the bare app answers beacon's bytes (the run checks it)
    and every figure has its baseline and ratio; nothing here judges a speed."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    from bench.server import run

    result = run(quick=True)
    names = [f["name"] for f in result["figures"]]
    assert names == [
        "GET info/collections (loopback)",
        "GET 500 records full, 1 KB payloads (loopback)",
        "POST batch of 100 records (loopback)",
        "batch upload (appends + commit) per record, 300 vs 100 records",
        "batch commit per record, 300 vs 100 records",
        "GET info/collections (in-process transport)",
    ]
    assert all(f["value"] > 0 for f in result["figures"])
    assert all(f["baseline"] > 0 and f["ratio"] > 0 for f in result["figures"][:3])
    assert result["params"]["page_bytes"] > 500 * 1000  # a real page of ~1 KB records


def test_a_request_is_in_the_log_before_its_response_reaches_the_client(
    served: tuple[EmbeddedService, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log is written before the answer is sent: a slow logger (a loaded machine) must
    not let a client see a response the log does not hold yet (the demo's checks read it)."""
    from beacon.server import _app

    svc, base = served
    logged = _app.ServiceMiddleware._log

    def slow_log(self: _app.ServiceMiddleware, *args: object, **kwargs: object) -> None:
        time.sleep(0.05)
        logged(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_app.ServiceMiddleware, "_log", slow_log)
    svc.faults.clear_request_log()
    with httpx.Client() as http:
        for n in range(1, 4):
            http.get(f"{base}/1.0/sync/1.5")
            assert len(svc.faults.request_log()) == n
        svc.faults.fail_next(status=503)
        assert http.get(f"{base}/1.0/sync/1.5").status_code == 503
        assert [r.status for r in svc.faults.request_log()][-1] == 503
