"""Password sign-in against the embedded FxA stand-in: every path of the account chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from beacon import RecordEngine, SyncClient
from beacon._scoped_keys import oldsync_key
from beacon.fxa import (
    FxABackoffError,
    IncorrectPassword,
    SignInRequired,
    UnverifiedSession,
)
from tests.fxa.conftest import EMAIL, PASSWORD, FxAWorld


def test_password_sign_in_marries_and_its_credentials_sync(
    fxa_world: FxAWorld, tmp_path: Path
) -> None:
    created = fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    result = account.sign_in(EMAIL, PASSWORD)
    assert result.outcome == "married"
    assert result.states == (
        "recalling",
        "separated",
        "engaged_after_verified",
        "cohabiting",
        "minting",
        "married",
    )
    creds = account.credentials()
    assert creds.kb is not None
    assert creds.kb == created.kb
    key = oldsync_key(creds.kb, creds.keys_changed_at)
    assert (creds.ksync, creds.kid) == (key.k, key.kid)
    notes = RecordEngine("notes")
    client = SyncClient(
        fxa_world.svc.token_server_url,
        creds.access_token,
        kb=creds.kb,
        keys_changed_at=creds.keys_changed_at,
        state_path=tmp_path / "device",
        engines=[notes],
        transport=fxa_world.svc.transport(),
        clock=fxa_world.clock,
    )
    notes.put("n1", {"text": "signed in"})
    synced = client.sync()
    assert synced.outcome == "ok"
    assert synced.engines["notes"]["uploaded"] == 1
    client.close()


def test_a_v2_account_signs_in_with_v2_stretching(fxa_world: FxAWorld) -> None:
    created = fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    account = fxa_world.account()
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    assert account.credentials().kb == created.kb
    assert "/fxa/v1/account/credentials/status" in fxa_world.transport.paths


def test_credentials_reuse_a_fresh_access_token_without_a_request(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    before = len(fxa_world.transport.paths)
    first, second = account.credentials(), account.credentials()
    assert first.access_token == second.access_token
    assert len(fxa_world.transport.paths) == before


def test_an_expired_access_token_is_refreshed_with_the_refresh_token(
    fxa_world: FxAWorld,
) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    old = account.credentials()
    fxa_world.clock.advance(7 * 3600)
    fresh = account.credentials()
    assert fresh.access_token != old.access_token
    assert fresh.expires_at > fxa_world.clock.now
    assert fxa_world.transport.paths[-1] == "/fxa/v1/oauth/token"
    # The token server accepts the refreshed token and refuses the expired one.
    from beacon.client._tokenclient import TokenClient
    from beacon.client._transport import Transport

    with Transport(transport=fxa_world.svc.transport(), clock=fxa_world.clock) as http:
        tokens = TokenClient(http, fxa_world.svc.token_server_url)
        assert tokens.fetch(fresh.access_token, key_id=fresh.kid).uid >= 0
        with pytest.raises(Exception, match="invalid-credentials"):
            tokens.fetch(old.access_token, key_id=old.kid)


def test_totp_accounts_verify_with_the_authenticator_code(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.require_totp(EMAIL)
    asked: list[str] = []

    def codes(kind: str) -> str | None:
        asked.append(kind)
        return str(fxa_world.svc.faults.fxa.codes(EMAIL)["totp_code"])

    result = fxa_world.account().sign_in(EMAIL, PASSWORD, codes=codes)
    assert result.outcome == "married"
    assert "engaged_before_verified" in result.states
    assert asked == ["totp"]


def test_without_a_code_the_run_stops_and_a_later_run_carries_on(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.unverified_next_login(EMAIL)
    account = fxa_world.account()
    stopped = account.sign_in(EMAIL, PASSWORD)
    assert stopped.outcome == "verification_required"
    assert stopped.verification_method == "email-otp"
    assert isinstance(stopped.error, UnverifiedSession)
    with pytest.raises(UnverifiedSession):
        account.credentials()
    code = fxa_world.svc.faults.fxa.codes(EMAIL)["sign_in_code"]
    resumed = account.continue_sign_in(lambda kind: code if kind == "email" else None)
    assert resumed.outcome == "married"
    assert resumed.states[:2] == ("recalling", "engaged_before_verified")


def test_a_wrong_code_is_asked_again_twice_then_the_run_stops(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.unverified_next_login(EMAIL)
    answers = iter(["000000", "111111", "222222", "333333"])
    result = fxa_world.account().sign_in(EMAIL, PASSWORD, codes=lambda kind: next(answers))
    assert result.outcome == "verification_required"
    assert result.states.count("retrying_code") == 2
    assert next(answers) == "333333"  # asked three times, not a fourth


def test_a_code_right_on_the_second_try_marries(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.unverified_next_login(EMAIL)
    right = fxa_world.svc.faults.fxa.codes(EMAIL)
    answers = iter(["999999"])

    def codes(kind: str) -> str | None:
        return next(answers, None) or fxa_world.svc.faults.fxa.codes(EMAIL)["sign_in_code"]

    assert right["sign_in_code"] is None  # the code exists once the login asked for it
    result = fxa_world.account().sign_in(EMAIL, PASSWORD, codes=codes)
    assert result.outcome == "married"
    assert result.states.count("retrying_code") == 1


def test_wrong_email_case_retries_once_with_the_stored_email(fxa_world: FxAWorld) -> None:
    created = fxa_world.svc.fxa.create_account("Alice@Example.com", PASSWORD, v2=False)
    account = fxa_world.account()
    result = account.sign_in(EMAIL, PASSWORD)
    assert result.outcome == "married"
    assert "correcting_email_case" in result.states
    assert account.credentials().kb == created.kb
    status = account.status()
    assert status is not None
    assert status["email"] == "Alice@Example.com"


def test_wrong_email_case_fault_from_the_admin_side(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.email_case(EMAIL, "ALICE@example.com", PASSWORD)
    result = fxa_world.account().sign_in(EMAIL, PASSWORD)
    assert result.outcome == "married"
    assert result.states.count("correcting_email_case") == 1


def test_an_incorrect_password_ends_the_run_with_one_clear_error(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    result = fxa_world.account().sign_in(EMAIL, "wrong password")
    assert result.outcome == "incorrect_password"
    assert isinstance(result.error, IncorrectPassword)
    assert "wrong password" not in str(result.error)


def test_password_changed_elsewhere_lands_in_the_doghouse_once_and_stays(
    fxa_world: FxAWorld,
) -> None:
    created = fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    fxa_world.svc.faults.fxa.change_password(EMAIL, "a new password")
    fxa_world.clock.advance(7 * 3600)  # the access token expires: a refresh is needed
    with pytest.raises(SignInRequired) as caught:
        account.credentials()
    assert caught.value.reason == "refresh_token_revoked"
    status = account.status()
    assert status is not None
    assert status["status"] == "doghouse"
    assert not status["has_refresh_token"]
    before = len(fxa_world.transport.paths)
    with pytest.raises(SignInRequired):
        account.credentials()  # no loop: the doghouse sends nothing
    assert len(fxa_world.transport.paths) == before
    again = account.sign_in(EMAIL, "a new password")
    assert again.outcome == "married"
    assert account.credentials().kb == created.kb  # a password change keeps kB


def test_a_session_revoked_during_verification_goes_to_the_doghouse(
    fxa_world: FxAWorld,
) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.unverified_next_login(EMAIL)
    account = fxa_world.account()
    assert account.sign_in(EMAIL, PASSWORD).outcome == "verification_required"
    fxa_world.svc.faults.fxa.revoke_sessions(EMAIL)
    result = account.continue_sign_in(lambda kind: "123456")
    assert result.outcome == "doghouse"
    assert result.states[-2:] == ("dropping_credentials", "doghouse")
    assert isinstance(result.error, SignInRequired)


def test_throttling_is_honoured_and_persisted_across_runs(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.throttle(1, retry_after=120, path_contains="/account/login")
    account = fxa_world.account()
    first = account.sign_in(EMAIL, PASSWORD)
    assert first.outcome == "backoff"
    assert isinstance(first.error, FxABackoffError)
    assert first.error.errno == 114
    assert first.error.until == pytest.approx(fxa_world.clock.now + 120)
    before = len(fxa_world.transport.paths)
    second = account.sign_in(EMAIL, PASSWORD)
    assert second.outcome == "backoff"
    assert second.requests == 0
    assert len(fxa_world.transport.paths) == before
    fxa_world.clock.advance(121)
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"


def test_a_blocked_sign_in_finishes_with_the_emailed_unblock_code(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.block_next_login(EMAIL)

    def codes(kind: str) -> str | None:
        assert kind == "unblock"
        return str(fxa_world.svc.faults.fxa.codes(EMAIL)["unblock_code"])

    result = fxa_world.account().sign_in(EMAIL, PASSWORD, codes=codes)
    assert result.outcome == "married"
    assert "unblocking" in result.states


def test_an_old_server_that_knows_only_hawk_gets_hawk(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.hawk_only()
    account = fxa_world.account()
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    status = account.status()
    assert status is not None
    assert status["wire_form"] == "hawk"
    # Only the first token request tried Bearer; later ones go straight to Hawk.
    assert fxa_world.transport.paths.count("/fxa/v1/account/keys") == 2
    assert fxa_world.transport.paths.count("/fxa/v1/account/scoped-key-data") == 1


def test_a_current_server_keeps_the_bearer_form(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    status = account.status()
    assert status is not None
    assert status["wire_form"] == "bearer"


def test_sign_out_destroys_the_tokens_on_the_server_and_forgets(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    creds = account.credentials()
    saved = fxa_world.store.load()
    assert saved is not None
    result = account.sign_out()
    assert result.outcome == "signed_out"
    assert account.status() is None
    from beacon.client._transport import Transport
    from beacon.fxa import FxAClient, InvalidFxAToken

    with Transport(transport=fxa_world.svc.transport(), clock=fxa_world.clock) as http:
        client = FxAClient(http, fxa_world.svc.auth_server_url)
        assert saved.refresh_token is not None
        assert saved.session_token is not None
        with pytest.raises(InvalidFxAToken):
            client.refresh(saved.refresh_token)
        with pytest.raises(InvalidFxAToken):
            client.session_status(saved.session_token)
        from beacon.client._tokenclient import TokenClient

        with pytest.raises(Exception, match="invalid-credentials"):
            TokenClient(http, fxa_world.svc.token_server_url).fetch(
                creds.access_token, key_id=creds.kid
            )
    with pytest.raises(SignInRequired):
        account.credentials()


def test_keys_reported_changed_send_a_married_account_to_the_doghouse(
    fxa_world: FxAWorld,
) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    account.report_keys_changed()
    with pytest.raises(SignInRequired) as caught:
        account.credentials()
    assert caught.value.reason == "keys_changed"


def test_a_token_refused_early_is_replaced_when_sync_asks_for_a_refresh(
    fxa_world: FxAWorld,
) -> None:
    from beacon.client._tokenclient import TokenAuthenticationError, TokenClient
    from beacon.client._transport import Transport

    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    stale = account.credentials()
    fxa_world.svc.faults.fxa.expire_access_tokens(EMAIL)
    with Transport(transport=fxa_world.svc.transport(), clock=fxa_world.clock) as http:
        tokens = TokenClient(http, fxa_world.svc.token_server_url)
        with pytest.raises(TokenAuthenticationError):
            tokens.fetch(stale.access_token, key_id=stale.kid)
        assert account.credentials().access_token == stale.access_token  # still looks fresh
        fresh = account.credentials(refresh=True)
        assert fresh.access_token != stale.access_token
        assert tokens.fetch(fresh.access_token, key_id=fresh.kid).uid > 0


def test_an_unknown_account_fails_with_its_own_error(fxa_world: FxAWorld) -> None:
    from beacon.fxa import UnknownAccount

    result = fxa_world.account().sign_in("nobody@example.com", PASSWORD)
    assert result.outcome == "failed"
    assert isinstance(result.error, UnknownAccount)


def test_credentials_refresh_where_the_account_signed_in(fxa_world: FxAWorld) -> None:
    from beacon.fxa import FirefoxAccount

    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.account().sign_in(EMAIL, PASSWORD)
    fxa_world.clock.advance(7 * 3600)
    # Default server (Mozilla's production one), but the stored account's server is used.
    with FirefoxAccount(
        fxa_world.store, transport=fxa_world.transport, clock=fxa_world.clock
    ) as later:
        assert later.credentials().expires_at > fxa_world.clock.now
    assert fxa_world.transport.paths[-1] == "/fxa/v1/oauth/token"


def test_after_a_password_change_the_new_sign_in_syncs_the_same_records(
    fxa_world: FxAWorld, tmp_path: Path
) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)

    def sync(token: str, kb: bytes, keys_changed_at: int, name: str) -> object:
        notes = RecordEngine("notes")
        client = SyncClient(
            fxa_world.svc.token_server_url,
            token,
            kb=kb,
            keys_changed_at=keys_changed_at,
            state_path=tmp_path / name,
            engines=[notes],
            transport=fxa_world.svc.transport(),
            clock=fxa_world.clock,
        )
        if name == "before":
            notes.put("n1", {"text": "kept across the password change"})
        assert client.sync().outcome == "ok"
        record = notes.get("n1")
        client.close()
        return record

    first = account.credentials()
    assert first.kb is not None
    sync(first.access_token, first.kb, first.keys_changed_at, "before")
    fxa_world.svc.faults.fxa.change_password(EMAIL, "changed elsewhere")
    # Signing in again with a password always logs in afresh, replacing the stored account.
    again = account.sign_in(EMAIL, "changed elsewhere")
    assert again.outcome == "married"
    assert "separated" in again.states
    second = account.credentials()
    assert second.kb == first.kb
    assert second.access_token != first.access_token
    record = sync(second.access_token, second.kb, second.keys_changed_at, "after")
    assert record == {"id": "n1", "text": "kept across the password change"}


def test_signing_in_again_destroys_the_replaced_session_and_refresh_token(
    fxa_world: FxAWorld,
) -> None:
    from beacon.client._transport import Transport
    from beacon.fxa import FxAClient, InvalidFxAToken

    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    old = fxa_world.store.load()
    assert old is not None
    assert old.refresh_token is not None
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    with Transport(transport=fxa_world.svc.transport(), clock=fxa_world.clock) as http:
        client = FxAClient(http, fxa_world.svc.auth_server_url)
        with pytest.raises(InvalidFxAToken):
            client.refresh(old.refresh_token)
    assert account.credentials().access_token != old.access_token


def test_one_account_object_runs_many_times_over_the_service_transport(
    fxa_world: FxAWorld,
) -> None:
    from beacon.fxa import FirefoxAccount, MemoryStore

    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    with FirefoxAccount(
        MemoryStore(),
        auth_server_url=fxa_world.svc.auth_server_url,
        transport=fxa_world.svc.transport(),
        clock=fxa_world.clock,
    ) as account:
        assert account.sign_in(EMAIL, PASSWORD).requests == 5
        fxa_world.clock.advance(7 * 3600)
        refreshed = account.resume()
        assert (refreshed.outcome, refreshed.requests) == ("married", 1)
        assert account.sign_out().outcome == "signed_out"


def test_a_reset_elsewhere_means_new_keys_after_signing_in_again(fxa_world: FxAWorld) -> None:
    created = fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    before = account.credentials()
    fxa_world.clock.advance(60)
    fxa_world.svc.faults.fxa.reset_account(EMAIL, "reset password")
    with pytest.raises(SignInRequired):
        account.credentials(refresh=True)
    assert account.sign_in(EMAIL, "reset password").outcome == "married"
    after = account.credentials()
    assert after.kb != created.kb
    assert after.keys_changed_at > before.keys_changed_at
    assert after.kid != before.kid


def test_a_backoff_says_until_when(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.throttle(1, retry_after=90)
    account = fxa_world.account()
    assert "90 s" in str(account.sign_in(EMAIL, PASSWORD).error)
    waiting = account.sign_in(EMAIL, PASSWORD)
    assert "no request before 2027-01-15 08:01:30 UTC" in str(waiting.error)
