"""The FxA stand-in on the wire: what a real FxA client meets (errnos, tokens, the admin side)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest

from beacon._onepw import PasswordKeys, bearer_header, token_credentials, unbundle_keys, unwrap_kb
from beacon.fxa._auth import FxATokenAuth
from beacon.server import EmbeddedService

EMAIL = "wire@example.com"
PASSWORD = "wire password"
ADMIN = "admin-secret"


@pytest.fixture
def svc() -> Iterator[EmbeddedService]:
    service = EmbeddedService(admin_secret=ADMIN, rng=random.Random(11).randbytes)
    yield service
    service.close()


def _login(http: httpx.Client, email: str = EMAIL, password: str = PASSWORD) -> httpx.Response:
    keys = PasswordKeys.v1(password, email)
    return http.post(
        "/fxa/v1/account/login?keys=true", json={"email": email, "authPW": keys.auth_pw_hex}
    )


def test_login_answers_a_session_and_a_key_fetch_token_that_unwraps_kb(
    svc: EmbeddedService,
) -> None:
    created = svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    with svc.client() as http:
        answer = _login(http).json()
        assert answer["verified"] is True
        assert "keyFetchTokenVersion2" not in answer
        kft = answer["keyFetchToken"]
        keys = http.get(
            "/fxa/v1/account/keys", headers={"Authorization": bearer_header(kft, "keyFetchToken")}
        )
        assert keys.status_code == 200
        _ka, wrapped = unbundle_keys(
            token_credentials(kft, "keyFetchToken").bundle_key, bytes.fromhex(keys.json()["bundle"])
        )
        assert unwrap_kb(wrapped, PasswordKeys.v1(PASSWORD, EMAIL).unwrap_b_key) == created.kb
        again = http.get(
            "/fxa/v1/account/keys", headers={"Authorization": bearer_header(kft, "keyFetchToken")}
        )
        assert (again.status_code, again.json()["errno"]) == (401, 110)  # single use


def test_errors_are_fxa_error_bodies(svc: EmbeddedService) -> None:
    svc.fxa.create_account("Wire@Example.com", PASSWORD, v2=False)
    with svc.client() as http:
        wrong = _login(http, "Wire@Example.com", "not it").json()
        assert (wrong["code"], wrong["errno"]) == (400, 103)
        case = _login(http, EMAIL).json()
        assert (case["errno"], case["email"]) == (120, "Wire@Example.com")
        unknown = _login(http, "nobody@example.com").json()
        assert unknown["errno"] == 102
        bad = http.post("/fxa/v1/account/login", content=b"not json").json()
        assert bad["errno"] == 106


def test_a_token_of_another_kind_or_a_forged_hawk_mac_is_refused(svc: EmbeddedService) -> None:
    svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    with svc.client() as http:
        session = _login(http).json()["sessionToken"]
        as_key_fetch = bearer_header(session, "keyFetchToken")
        refused = http.get("/fxa/v1/session/status", headers={"Authorization": as_key_fetch})
        assert refused.json()["errno"] == 110
        hawk = FxATokenAuth(session, "sessionToken", scheme="hawk", clock=svc.fxa.clock)
        assert http.get("/fxa/v1/session/status", auth=hawk).json()["state"] == "verified"
        request = http.build_request("GET", "/fxa/v1/session/status")
        forged = hawk.header_for(request).replace('mac="', 'mac="A')
        bad = http.get("/fxa/v1/session/status", headers={"Authorization": forged})
        assert bad.json()["errno"] == 110


def test_keys_wait_for_verification_and_the_token_survives(svc: EmbeddedService) -> None:
    svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    svc.faults.fxa.unverified_next_login(EMAIL)
    with svc.client() as http:
        answer = _login(http).json()
        assert (answer["verified"], answer["verificationMethod"]) == (False, "email-otp")
        kft = {"Authorization": bearer_header(answer["keyFetchToken"], "keyFetchToken")}
        session = {"Authorization": bearer_header(answer["sessionToken"], "sessionToken")}
        assert http.get("/fxa/v1/account/keys", headers=kft).json()["errno"] == 104
        token = http.post(
            "/fxa/v1/oauth/token",
            json={"grant_type": "fxa-credentials", "client_id": "c", "scope": "s"},
            headers=session,
        )
        assert token.json()["errno"] == 138
        wrong = http.post("/fxa/v1/session/verify_code", json={"code": "000000"}, headers=session)
        assert wrong.json()["errno"] == 183
        code = svc.faults.fxa.codes(EMAIL)["sign_in_code"]
        assert (
            http.post(
                "/fxa/v1/session/verify_code", json={"code": code}, headers=session
            ).status_code
            == 200
        )
        assert http.get("/fxa/v1/account/keys", headers=kft).status_code == 200


def test_the_admin_api_reads_codes_and_applies_fxa_faults(svc: EmbeddedService) -> None:
    with svc.client() as http:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        assert (
            http.post(
                "/__admin__/fxa/faults/create_account", json={"email": EMAIL, "password": PASSWORD}
            ).status_code
            == 401
        )
        made = http.post(
            "/__admin__/fxa/faults/create_account",
            json={"email": EMAIL, "password": PASSWORD, "v2": False},
            headers=auth,
        )
        assert made.status_code == 200
        assert "kb" not in made.json()["result"]
        assert (
            http.post(
                "/__admin__/fxa/faults/require_totp", json={"email": EMAIL}, headers=auth
            ).status_code
            == 200
        )
        codes = http.get("/__admin__/fxa/codes", params={"email": EMAIL}, headers=auth).json()
        assert codes["totp_code"] is not None
        assert _login(http).json()["verificationMethod"] == "totp-2fa"
        throttle = http.post(
            "/__admin__/fxa/faults/throttle", json={"retry_after": 7}, headers=auth
        )
        assert throttle.status_code == 200
        limited = _login(http)
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
        assert limited.json()["errno"] == 114
        unknown = http.post("/__admin__/fxa/faults/nope", headers=auth)
        assert unknown.status_code == 404
        bad = http.post("/__admin__/fxa/faults/throttle", json={"what": 1}, headers=auth)
        assert bad.status_code == 400


def test_a_refresh_grant_may_narrow_its_scope_but_not_widen_it(svc: EmbeddedService) -> None:
    svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    scope = "https://identity.mozilla.com/apps/oldsync"
    with svc.client() as http:
        session = {
            "Authorization": bearer_header(_login(http).json()["sessionToken"], "sessionToken")
        }
        grant = http.post(
            "/fxa/v1/oauth/token",
            json={
                "grant_type": "fxa-credentials",
                "client_id": "c",
                "scope": scope,
                "access_type": "offline",
            },
            headers=session,
        ).json()
        refresh = {
            "grant_type": "refresh_token",
            "client_id": "c",
            "refresh_token": grant["refresh_token"],
        }
        assert http.post("/fxa/v1/oauth/token", json={**refresh, "scope": scope}).status_code == 200
        wider = http.post("/fxa/v1/oauth/token", json={**refresh, "scope": scope + " profile"})
        assert (wider.status_code, wider.json()["errno"]) == (400, 107)
        other_client = http.post("/fxa/v1/oauth/token", json={**refresh, "client_id": "d"})
        assert other_client.json()["errno"] == 110
