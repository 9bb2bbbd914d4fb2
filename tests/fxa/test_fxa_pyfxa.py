"""Mozilla's PyFxA signs in against the embedded FxA stand-in over loopback HTTP, and the
credentials it obtains sync with beacon; beacon's own sign-in works over real HTTP too."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from beacon import RecordEngine, SyncClient
from beacon._scoped_keys import SYNC_SCOPE
from beacon.fxa import FirefoxAccount, MemoryStore
from beacon.server import EmbeddedService

fxa_core = pytest.importorskip("fxa.core")
fxa_oauth = pytest.importorskip("fxa.oauth")

EMAIL = "pyfxa@example.com"
PASSWORD = "l33tP@55W0rd"


@pytest.fixture
def served() -> Iterator[tuple[EmbeddedService, str]]:
    svc = EmbeddedService(rng=random.Random(3).randbytes)
    with svc.serve() as base:
        yield svc, base
    svc.close()


@pytest.fixture
def beacon_account(served: tuple[EmbeddedService, str]) -> Iterator[FirefoxAccount]:
    """beacon's own account over loopback HTTP, closed after the test."""
    with FirefoxAccount(MemoryStore(), auth_server_url=served[1] + "/fxa") as account:
        yield account


def _sync_once(svc: EmbeddedService, base: str, token: str, kb: bytes, path: Path) -> int:
    notes = RecordEngine("notes")
    client = SyncClient(
        base + "/1.0/sync/1.5",
        token,
        kb=kb,
        keys_changed_at=svc.fxa.accounts.keys_changed_at(svc.fxa.uid_of(EMAIL)),
        state_path=path,
        engines=[notes],
    )
    try:
        notes.put("from-pyfxa", {"text": "hello"})
        result = client.sync()
        assert result.outcome == "ok"
        return int(result.engines["notes"]["uploaded"])
    finally:
        client.close()


@pytest.mark.parametrize("version", [1, 2])
def test_pyfxa_signs_in_fetches_kb_and_an_oldsync_token_that_syncs(
    served: tuple[EmbeddedService, str], tmp_path: Path, version: int
) -> None:
    svc, base = served
    created = svc.fxa.create_account(EMAIL, PASSWORD, v2=version == 2)
    client = fxa_core.Client(base + "/fxa", key_stretch_version=version)
    session = client.login(EMAIL, PASSWORD, keys=True)
    assert session.verified
    _ka, kb = session.fetch_keys()
    assert kb == created.kb
    oauth = fxa_oauth.Client(client_id="5882386c6d801776", server_url=base + "/fxa/v1")
    token = oauth.authorize_token(session, SYNC_SCOPE)
    assert _sync_once(svc, base, token, kb, tmp_path / "device") == 1
    session.destroy_session()


def test_pyfxa_creates_an_account_that_beacon_signs_in_to(
    served: tuple[EmbeddedService, str], beacon_account: FirefoxAccount
) -> None:
    svc, base = served
    client = fxa_core.Client(base + "/fxa", key_stretch_version=2)
    session = client.create_account(EMAIL, PASSWORD, keys=True)
    assert not session.verified
    codes = svc.faults.fxa.codes(EMAIL)
    client.verify_email_code(session.uid, codes["email_code"])
    account = beacon_account
    result = account.sign_in(EMAIL, PASSWORD)
    assert result.outcome == "married", result.error
    _ka, kb = client.login(EMAIL, PASSWORD, keys=True).fetch_keys()
    assert account.credentials().kb == kb


def test_a_password_change_through_pyfxa_sends_beacon_to_the_doghouse_and_keeps_kb(
    served: tuple[EmbeddedService, str], beacon_account: FirefoxAccount
) -> None:
    svc, base = served
    created = svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    assert beacon_account.sign_in(EMAIL, PASSWORD).outcome == "married"
    client = fxa_core.Client(base + "/fxa", key_stretch_version=2)
    session = client.login(EMAIL, PASSWORD, keys=True)
    session.change_password(PASSWORD, "the new one")
    session.check_session_status()  # the replacement session works (raises if not)
    with pytest.raises(Exception, match="sign in again"):
        beacon_account.credentials(refresh=True)
    assert beacon_account.sign_in(EMAIL, "the new one").outcome == "married"
    assert beacon_account.credentials().kb == created.kb


def test_pyfxa_upgrades_a_v1_account_to_v2_and_beacon_then_stretches_v2(
    served: tuple[EmbeddedService, str], beacon_account: FirefoxAccount
) -> None:
    svc, base = served
    created = svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    session = fxa_core.Client(base + "/fxa", key_stretch_version=2).login(
        EMAIL, PASSWORD, keys=True
    )
    assert session.fetch_keys()[1] == created.kb
    assert svc.fxa.credentials_status(EMAIL)["currentVersion"] == "v2"
    assert beacon_account.sign_in(EMAIL, PASSWORD).outcome == "married"
    assert beacon_account.credentials().kb == created.kb
