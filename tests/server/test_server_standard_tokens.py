"""Storage nodes accept standard tokens: minted by Mozilla's ``tokenlib``, signed by ``hawkauthlib``
(PyPI packages).

Neither library was written here: ``tokenlib`` is how Mozilla's token servers mint (the claims
syncstorage-rs's token server issues), ``hawkauthlib`` how its Python clients sign. A token
for a uid beacon's token server never created gets storage on first use; revocation and node
moves keep working through the node's own records.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from beacon import UsageError
from beacon.server import EmbeddedService
from tests.server.server_fixtures import START, Clock, User, counter_rng, make_user

with warnings.catch_warnings():
    # webob (hawkauthlib's request model) imports the cgi module, deprecated in 3.11.
    warnings.simplefilter("ignore", DeprecationWarning)
    import hawkauthlib
    import tokenlib

SECRET = "a master secret shared with a standard token server"
#: The claims syncstorage-rs's token server writes (docs/protocol.md §1.7).
STANDARD_CLAIMS = {
    "uid",
    "node",
    "expires",
    "salt",
    "fxa_uid",
    "fxa_kid",
    "hashed_fxa_uid",
    "hashed_device_id",
    "tokenserver_origin",
}


def mint(
    uid: int, node: str, *, secret: str = SECRET, expires: float = START + 600
) -> dict[str, str]:
    """A token exactly as tokenlib mints it for a Sync token server."""
    token = tokenlib.make_token(
        {
            "uid": uid,
            "node": node,
            "expires": expires,
            "fxa_uid": "319b98f9961ff1dbdd07313cd6ba925a",
            "fxa_kid": "1700000000000-qqo",
            "hashed_fxa_uid": "0e8df5d41398a389913bd8402435649518af46493da1d4a437a46dc1784c501a",
            "hashed_device_id": "2bcb92f4d4698c3d7b083a3c698a16ccd78bc2a8d20a96e4bb128ddceaf4e0b6",
        },
        secret=secret,
    )
    return {"id": token, "key": tokenlib.get_derived_secret(token, secret=secret)}


class HawkAuthLib(httpx.Auth):
    """Signs each httpx request with hawkauthlib (on a raw HTTP/1.1 rendering of it)."""

    nonces = itertools.count()  # one sequence for every instance: a reused nonce is a replay

    def __init__(self, token: dict[str, str], clock: Callable[[], float]) -> None:
        self.token = token
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = request.url.raw_path.decode("ascii")
        raw = f"{request.method} {target} HTTP/1.1\r\nHost: {request.headers['host']}\r\n\r\n"
        params = {"ts": str(int(self.clock())), "nonce": f"hal{next(self.nonces)}"}
        request.headers["Authorization"] = hawkauthlib.sign_request(
            raw.encode("ascii"), self.token["id"], self.token["key"], params=params
        )
        yield request


@pytest.fixture
def rotated(clock: Clock) -> Iterator[EmbeddedService]:
    # Rotation: beacon mints with the first secret and still accepts the old one.
    service = EmbeddedService(
        clock=clock, rng=counter_rng(), master_secret=["the new secret", SECRET]
    )
    yield service
    service.close()


def _exercise(http: httpx.Client, root: str, auth: httpx.Auth) -> None:
    put = http.put(root + "/storage/tabs/t1", json={"payload": "from tokenlib"}, auth=auth)
    assert put.status_code == 200, put.text
    post = http.post(root + "/storage/tabs", json=[{"id": "t2", "payload": "two"}], auth=auth)
    assert post.json()["success"] == ["t2"]
    listing = http.get(root + "/storage/tabs", params={"full": "1", "sort": "oldest"}, auth=auth)
    assert [b["payload"] for b in listing.json()] == ["from tokenlib", "two"]
    info = http.get(root + "/info/collections", auth=auth)
    assert list(info.json()) == ["tabs"]


def test_a_tokenlib_token_for_an_unknown_uid_gets_storage_on_first_use(
    rotated: EmbeddedService, clock: Clock
) -> None:
    token = mint(4242, "http://beacon.test/node/1")
    with httpx.Client(transport=rotated.transport()) as http:
        root = "http://beacon.test/node/1/1.5/4242"
        assert http.get(root + "/info/collections", auth=HawkAuthLib(token, clock)).json() == {}
        _exercise(http, root, HawkAuthLib(token, clock))
        # The uid is the token's: another uid in the path is refused (§2.4 item 6).
        other = http.get(
            "http://beacon.test/node/1/1.5/4243/info/collections", auth=HawkAuthLib(token, clock)
        )
        assert (other.status_code, other.text) == (400, "0")


def test_a_tokenlib_token_works_over_loopback(rotated: EmbeddedService, clock: Clock) -> None:
    with rotated.serve() as base, httpx.Client() as http:
        token = mint(77, base + "/node/2")
        _exercise(http, base + "/node/2/1.5/77", HawkAuthLib(token, clock))


def test_a_token_under_an_unknown_secret_or_with_claims_missing_is_401(
    rotated: EmbeddedService, clock: Clock
) -> None:
    bad = [
        mint(5, "http://beacon.test/node/1", secret="some other secret"),
        mint(5, "http://beacon.test/node/1", expires=START - 1),
    ]
    for claims in ({"node": "http://beacon.test/node/1"}, {"uid": 5}, {"uid": "5", "node": "x"}):
        token = tokenlib.make_token({**claims, "expires": START + 60}, secret=SECRET)
        bad.append({"id": token, "key": tokenlib.get_derived_secret(token, secret=SECRET)})
    with httpx.Client(transport=rotated.transport()) as http:
        for token in bad:
            response = http.get(
                "http://beacon.test/node/1/1.5/5/storage/tabs", auth=HawkAuthLib(token, clock)
            )
            assert (response.status_code, response.text) == (401, "0")


def test_beacons_own_tokens_carry_only_standard_claims_tokenlib_reads(
    rotated: EmbeddedService, clock: Clock
) -> None:
    user = make_user(rotated, clock)
    claims: dict[str, Any] = tokenlib.parse_token(
        user.token["id"], secret="the new secret", now=clock()
    )
    assert set(claims) <= STANDARD_CLAIMS
    assert {"uid", "node", "expires", "salt", "fxa_uid", "fxa_kid"} <= set(claims)
    assert claims["uid"] == user.token["uid"]
    assert user.token["api_endpoint"] == f"{claims['node']}/1.5/{claims['uid']}"
    assert (
        tokenlib.get_derived_secret(user.token["id"], secret="the new secret")
        == (user.token["key"])
    )
    # And hawkauthlib's signature over beacon's token is accepted.
    with httpx.Client(transport=rotated.transport()) as http:
        _exercise(http, user.token["api_endpoint"], HawkAuthLib(user.token, clock))
    user.http.close()


def test_revocation_and_node_moves_refuse_tokenlib_tokens_too(
    svc: EmbeddedService, user: User, clock: Clock
) -> None:
    secret = svc._core.master_secrets[0]
    uid, root = user.token["uid"], user.token["api_endpoint"]
    node = root.rsplit("/1.5/", 1)[0]
    outside = mint(uid, node, secret=secret, expires=clock() + 3600)
    with httpx.Client(transport=svc.transport()) as http:
        assert http.get(root + "/info/collections", auth=HawkAuthLib(outside, clock)).json() == {}
        svc.faults.revoke_tokens(user.account.fxa_uid)
        for auth in (HawkAuthLib(outside, clock), user.auth()):
            assert http.get(root + "/storage/tabs", auth=auth).status_code == 401
        # A token minted after the revocation works, even at the same clock instant.
        fresh = user.fetch_token()
        assert fresh["uid"] == uid
        assert user.get("/storage/tabs").status_code == 200
        svc.faults.move_user(user.account.fxa_uid)
        for auth in (HawkAuthLib(outside, clock), user.auth()):
            assert http.get(root + "/info/collections", auth=auth).status_code == 401
        moved = user.fetch_token()
        assert moved["api_endpoint"] != root
        assert user.get("/info/collections").json() == {}


def test_expired_tokenlib_tokens_still_read_info_collections(
    svc: EmbeddedService, user: User, clock: Clock
) -> None:
    secret = svc._core.master_secrets[0]
    root = user.token["api_endpoint"]
    outside = mint(user.token["uid"], root.rsplit("/1.5/", 1)[0], secret=secret)
    svc.faults.expire_tokens(user.account.fxa_uid)
    with httpx.Client(transport=svc.transport()) as http:
        auth = HawkAuthLib(outside, clock)
        assert http.get(root + "/info/collections", auth=auth).status_code == 200
        assert http.get(root + "/storage/tabs", auth=auth).status_code == 401


def test_the_admin_voids_and_retires_uids_of_another_token_server(
    rotated: EmbeddedService, clock: Clock
) -> None:
    root = "http://beacon.test/node/2/1.5/4242"
    before = mint(4242, "http://beacon.test/node/2", expires=clock() + 3600)
    with httpx.Client(transport=rotated.transport()) as http:
        assert http.get(root + "/storage/tabs", auth=HawkAuthLib(before, clock)).status_code == 200
        rotated.faults.void_storage_tokens(2, 4242, expire_only=True)
        expired = HawkAuthLib(before, clock)
        assert http.get(root + "/info/collections", auth=expired).status_code == 200
        assert http.get(root + "/storage/tabs", auth=expired).status_code == 401
        rotated.faults.void_storage_tokens(2, 4242)
        assert http.get(root + "/info/collections", auth=expired).status_code == 401
        clock.advance(1)
        after = HawkAuthLib(mint(4242, "http://beacon.test/node/2", expires=clock() + 3601), clock)
        assert http.get(root + "/storage/tabs", auth=after).status_code == 200
        # The same uid on node 1 is another user: untouched.
        other = HawkAuthLib(mint(4242, "http://beacon.test/node/1"), clock)
        assert (
            http.get("http://beacon.test/node/1/1.5/4242/storage/tabs", auth=other).status_code
            == 200
        )
        rotated.faults.retire_storage_user(2, 4242)
        assert http.get(root + "/storage/tabs", auth=after).status_code == 401
    for bad in ((3, 1), (0, 1), (1, -1), (1, True)):
        with pytest.raises(UsageError):
            rotated.faults.void_storage_tokens(*bad)


def test_the_master_secret_must_be_non_empty() -> None:
    for bad in ("", [""], ["ok", ""]):
        with pytest.raises(UsageError):
            EmbeddedService(master_secret=bad)


def _options(*argv: str) -> Any:
    from beacon.cli import build_parser

    return build_parser().parse_args(["serve", *argv])


def test_serve_takes_master_secrets_from_options_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beacon.cli.serve import master_secrets

    monkeypatch.setenv("SYNC_MASTER_SECRET", "from the environment")
    assert master_secrets(_options()) == ["from the environment"]
    listed = tmp_path / "secrets"
    listed.write_text("# rotated 2026-11\nnewest\n\nolder\n", encoding="utf-8")
    # Options win over the environment; the options' order is the rotation order.
    assert master_secrets(
        _options(
            "--master-secret", "a", "--master-secret", "b", "--master-secret-file", str(listed)
        )
    ) == ["a", "b", "newest", "older"]
    monkeypatch.delenv("SYNC_MASTER_SECRET")
    assert master_secrets(_options()) == []
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n", encoding="utf-8")
    for argv in (
        ("--master-secret-file", str(empty)),
        ("--master-secret-file", str(tmp_path / "missing")),
        ("--master-secret", ""),
    ):
        with pytest.raises(UsageError):
            master_secrets(_options(*argv))


def test_beacon_serve_accepts_tokens_a_standard_minter_signs(tmp_path: Path) -> None:
    listed = tmp_path / "secrets"
    listed.write_text("current\n" + SECRET + "\n", encoding="utf-8")
    env = {**os.environ, "SYNC_MASTER_SECRET": "ignored when options are given"}
    argv = [sys.executable, "-m", "beacon", "serve", "--port", "0", "--master-secret-file"]
    process = subprocess.Popen(
        [*argv, str(listed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    assert process.stderr is not None
    try:
        # The banner: six lines, up to the admin API's (read here: communicate skips buffers).
        banner = "".join(process.stderr.readline().decode() for _ in range(6))
        match = re.search(r"service at (http://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        base = match.group(1)
        deadline = time.monotonic() + 20
        with httpx.Client() as http:
            while True:
                try:
                    http.get(base + "/__lbheartbeat__")
                    break
                except httpx.TransportError:
                    assert process.poll() is None
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            for secret, status in ((SECRET, 200), ("current", 200), ("ignored when", 401)):
                token = mint(31, base + "/node/1", secret=secret, expires=time.time() + 600)
                auth = HawkAuthLib(token, time.time)
                response = http.get(base + "/node/1/1.5/31/info/collections", auth=auth)
                assert response.status_code == status, secret
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=20)
    assert "master secret given (2)" in banner
    assert SECRET not in banner + rest.decode()
