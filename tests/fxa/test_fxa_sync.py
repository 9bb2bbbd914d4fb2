"""Signed-in accounts sync: kB from the password route and kSync + kid from the code route
reach the same data; a stale access token is refreshed through the account once."""

from __future__ import annotations

from pathlib import Path

import pytest

from beacon import BeaconError, RecordEngine, SyncClient
from beacon.fxa import SignInRequired, sync_client
from tests.fxa.conftest import EMAIL, PASSWORD, FxAWorld
from tests.fxa.test_fxa_oauth_route import Browser


def _client(world: FxAWorld, state: Path, notes: RecordEngine, **key: object) -> SyncClient:
    return SyncClient(
        world.svc.token_server_url,
        key.pop("access_token"),  # type: ignore[arg-type]
        state_path=state,
        engines=[notes],
        transport=world.svc.transport(),
        clock=world.clock,
        **key,  # type: ignore[arg-type]
    )


def test_ksync_and_kid_from_the_code_route_sync_the_same_data_as_kb(
    fxa_world: FxAWorld, tmp_path: Path
) -> None:
    created = fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    password_route = fxa_world.account()
    assert password_route.sign_in(EMAIL, PASSWORD).outcome == "married"
    with_kb = password_route.credentials()
    assert with_kb.kb == created.kb
    laptop_notes = RecordEngine("notes")
    laptop = _client(
        fxa_world,
        tmp_path / "laptop",
        laptop_notes,
        access_token=with_kb.access_token,
        kb=with_kb.kb,
        keys_changed_at=with_kb.keys_changed_at,
    )
    laptop_notes.put("n1", {"text": "from the password route"})
    assert laptop.sync().outcome == "ok"

    code_route = fxa_world.account()
    assert code_route.sign_in_oauth(Browser(fxa_world)).outcome == "married"
    scoped = code_route.credentials()
    assert scoped.kb is None
    phone_notes = RecordEngine("notes")
    phone = _client(
        fxa_world,
        tmp_path / "phone",
        phone_notes,
        access_token=scoped.access_token,
        kb=None,
        keys_changed_at=None,
        ksync=scoped.ksync,
        kid=scoped.kid,
    )
    result = phone.sync()

    assert result.outcome == "ok"
    assert "fresh_start" not in result.states  # the same storage, the same keys
    assert phone_notes.get("n1") == {"id": "n1", "text": "from the password route"}
    laptop.close()
    phone.close()


def test_an_access_token_refused_mid_sync_is_refreshed_through_the_account_once(
    fxa_world: FxAWorld, tmp_path: Path
) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    account = fxa_world.account()
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    notes = RecordEngine("notes")
    client = sync_client(
        account,
        fxa_world.svc.token_server_url,
        tmp_path / "device",
        [notes],
        transport=fxa_world.svc.transport(),
        clock=fxa_world.clock,
    )
    assert client.sync().outcome == "ok"
    # The access token dies on the server while the account still thinks it valid, and the
    # storage token has expired: the token server refuses the access token once.
    fxa_world.svc.faults.fxa.expire_access_tokens(EMAIL)
    fxa_world.clock.advance(4000)
    notes.put("n1", {"text": "after the refresh"})

    result = client.sync()

    assert result.outcome == "ok"
    token_run = [s for s in result.states if s.startswith("token:")]
    assert token_run.count("token:refreshing_credentials") == 1
    assert result.engines["notes"]["uploaded"] == 1
    client.close()


def test_a_password_changed_elsewhere_ends_the_sync_in_one_clear_error_and_no_loop(
    fxa_world: FxAWorld, tmp_path: Path
) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    account = fxa_world.account()
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    client = sync_client(
        account,
        fxa_world.svc.token_server_url,
        tmp_path / "device",
        ["notes"],
        transport=fxa_world.svc.transport(),
        clock=fxa_world.clock,
    )
    assert client.sync().outcome == "ok"
    fxa_world.svc.faults.fxa.change_password(EMAIL, "another password")
    fxa_world.clock.advance(4000)

    with pytest.raises(SignInRequired) as ended:
        client.sync()
    assert str(ended.value).startswith("sign in again")
    status = account.status()
    assert status is not None
    assert status["status"] == "doghouse"
    fxa_requests = len([p for p in fxa_world.transport.paths if p.startswith("/fxa")])
    with pytest.raises(BeaconError):
        client.sync()  # no loop: the next run is refused without asking FxA again
    assert len([p for p in fxa_world.transport.paths if p.startswith("/fxa")]) == fxa_requests
    client.close()


def test_our_clients_record_names_the_fxa_device_it_belongs_to(
    fxa_world: FxAWorld, tmp_path: Path
) -> None:
    from beacon.client import ClientsEngine
    from beacon.fxa._devices import FxADevices

    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD)
    account = fxa_world.account()
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    devices = FxADevices(fxa_world.store, transport=fxa_world.svc.transport(), name="Laptop",
                         clock=fxa_world.clock)  # fmt: skip
    device_id = devices.register().id
    devices.close()
    client = sync_client(
        account, fxa_world.svc.token_server_url, tmp_path / "laptop", [RecordEngine("notes")],
        transport=fxa_world.svc.transport(), clock=fxa_world.clock,
    )  # fmt: skip
    assert client.sync().outcome == "ok"
    client.close()
    # Another device of the account, signed in on its own, with no FxA device of its own.
    from beacon.fxa import FirefoxAccount, MemoryStore

    phone_account = FirefoxAccount(
        MemoryStore(), auth_server_url=fxa_world.svc.auth_server_url,
        transport=fxa_world.transport, clock=fxa_world.clock,
    )  # fmt: skip
    assert phone_account.sign_in(EMAIL, PASSWORD).outcome == "married"
    other = ClientsEngine("phone")
    phone = sync_client(
        phone_account, fxa_world.svc.token_server_url, tmp_path / "phone", [other],
        transport=fxa_world.svc.transport(), clock=fxa_world.clock,
    )  # fmt: skip
    assert phone.sync().outcome == "ok"
    laptop_record = next(c for c in other.clients() if c.get("name") == "beacon")
    assert laptop_record["fxaDeviceId"] == device_id
    assert "fxaDeviceId" not in other.own_record()
    phone.close()
    phone_account.close()
